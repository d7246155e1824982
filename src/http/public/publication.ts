/**
 * @module
 * What the plain-HTTP listener publishes from the depot folder: the CA
 * certificate (read once: it does not change while a depot is served) and
 * the CRL (read again whenever crl.pem changed, since any process may
 * rewrite it), with the CRL's number and dates for the metrics.
 */
import { readFileSync, statSync } from "node:fs";
import { x509 } from "../../ca/provider.ts";

export interface CrlCopy {
  pem: string;
  der: Uint8Array;
  number: number;
  thisUpdate: Date;
  nextUpdate: Date | undefined;
}

export class Publication {
  readonly caPem: string;
  readonly caDer: Uint8Array;
  private crl: (CrlCopy & { stamp: string }) | undefined;

  constructor(
    caCertificatePath: string,
    private readonly crlPath: string,
  ) {
    this.caPem = readFileSync(caCertificatePath, "utf8");
    this.caDer = derOf(this.caPem);
  }

  /** crl.pem as it is now; re-read when its size or modification time changed. */
  currentCrl(): CrlCopy {
    const stat = statSync(this.crlPath);
    const stamp = `${stat.mtimeMs}/${stat.size}/${stat.ino}`;
    if (this.crl?.stamp !== stamp) {
      const pem = readFileSync(this.crlPath, "utf8");
      const parsed = new x509.X509Crl(pem);
      const number = parsed.getExtension("2.5.29.20");
      this.crl = {
        stamp,
        pem,
        der: new Uint8Array(parsed.rawData),
        number: number ? crlNumberOf(new Uint8Array(number.value)) : 0,
        thisUpdate: parsed.thisUpdate,
        nextUpdate: parsed.nextUpdate,
      };
    }
    return this.crl;
  }
}

/** The INTEGER inside the CRL number extension's value. */
function crlNumberOf(value: Uint8Array): number {
  let result = 0;
  for (let i = 2; i < 2 + value[1]!; i++) result = result * 256 + value[i]!;
  return result;
}

export function derOf(pem: string): Uint8Array {
  const base64 = pem.replace(/-----[A-Z0-9 ]+-----/g, "").replace(/\s+/g, "");
  return new Uint8Array(Buffer.from(base64, "base64"));
}
