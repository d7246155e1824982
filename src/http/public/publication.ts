/**
 * @module
 * What the plain-HTTP listener publishes from the depot folder: the issuing
 * CA's certificate (read once: it does not change while a depot is served)
 * and its CRL (read again whenever crl.pem changed, since any process may
 * rewrite it), with the CRL's number and dates for the metrics. In a
 * two-tier depot also the root (ca.crt) and the root's CRL for the
 * intermediate (root-crl.pem, rewritten by `depot root crl`).
 */
import { readFileSync, statSync } from "node:fs";
import { readCrlHeader } from "../../ca/crl.ts";
import { issuingCa, isTwoTier, tierLayout } from "../../ca/tiers.ts";
import type { DepotLayout } from "../../ca/layout.ts";

export interface CrlCopy {
  pem: string;
  der: Uint8Array;
  number: number;
  thisUpdate: Date;
  nextUpdate: Date | undefined;
}

/** The root's files, in a two-tier depot. */
export interface RootFiles {
  certificatePath: string;
  crlPath: string;
}

/** What a depot publishes: the issuing CA and its CRL, and in two tiers the root and its CRL. */
export function publicationOf(layout: DepotLayout): Publication {
  const root: RootFiles | undefined = isTwoTier(layout) ? { certificatePath: layout.caCertificate, crlPath: tierLayout(layout).rootCrl } : undefined;
  return new Publication(issuingCa(layout).caCertificate, layout.crl, root, layout.root);
}

export class Publication {
  /** The issuing CA: the leaves' issuer, what caIssuers points at. */
  readonly caPem: string;
  readonly caDer: Uint8Array;
  /** The CA clients trust: the root in two tiers, else the one CA. */
  readonly rootPem: string;
  readonly rootDer: Uint8Array;
  private readonly crl: CrlFile;
  private readonly rootCrl: CrlFile | undefined;

  constructor(caCertificatePath: string, crlPath: string, root?: RootFiles, readonly depotRoot?: string) {
    this.caPem = readFileSync(caCertificatePath, "utf8");
    this.caDer = derOf(this.caPem);
    this.rootPem = root ? readFileSync(root.certificatePath, "utf8") : this.caPem;
    this.rootDer = root ? derOf(this.rootPem) : this.caDer;
    this.crl = new CrlFile(crlPath);
    this.rootCrl = root ? new CrlFile(root.crlPath) : undefined;
  }

  /** crl.pem as it is now. */
  currentCrl(): CrlCopy {
    return this.crl.current();
  }

  /** The root's CRL (listing revoked intermediates) as it is now; none in a one-tier depot. */
  currentRootCrl(): CrlCopy | undefined {
    return this.rootCrl?.current();
  }

  private readonly sshFiles = new Map<string, ChangingFile>();

  /**
   * A file of the depot's SSH CAs as it is now (ssh/revoked.krl,
   * ssh/user_ca.pub, ssh/host_ca.pub); undefined while the depot has none
   * (`depot ssh init` may run while the server does).
   */
  currentSshFile(path: string): Uint8Array | undefined {
    let file = this.sshFiles.get(path);
    if (!file) this.sshFiles.set(path, (file = new ChangingFile(path)));
    return file.current();
  }
}

/** A small file re-read when its size, modification time or inode changed; undefined while it does not exist. */
class ChangingFile {
  private copy: { stamp: string; bytes: Uint8Array } | undefined;

  constructor(private readonly path: string) {}

  current(): Uint8Array | undefined {
    let stat;
    try {
      stat = statSync(this.path);
    } catch {
      return undefined;
    }
    const stamp = `${stat.mtimeMs}/${stat.size}/${stat.ino}`;
    if (this.copy?.stamp !== stamp) this.copy = { stamp, bytes: new Uint8Array(readFileSync(this.path)) };
    return this.copy.bytes;
  }
}

/** A CRL file, re-read when its size or modification time changed. */
class CrlFile {
  private crl: (CrlCopy & { stamp: string }) | undefined;

  constructor(private readonly crlPath: string) {}

  current(): CrlCopy {
    const stat = statSync(this.crlPath);
    const stamp = `${stat.mtimeMs}/${stat.size}/${stat.ino}`;
    if (this.crl?.stamp !== stamp) {
      const pem = readFileSync(this.crlPath, "utf8");
      const der = derOf(pem);
      const header = readCrlHeader(der);
      this.crl = { stamp, pem, der, number: header.crlNumber, thisUpdate: header.thisUpdate, nextUpdate: header.nextUpdate };
    }
    return this.crl;
  }
}

export function derOf(pem: string): Uint8Array {
  const base64 = pem.replace(/-----[A-Z0-9 ]+-----/g, "").replace(/\s+/g, "");
  return new Uint8Array(Buffer.from(base64, "base64"));
}
