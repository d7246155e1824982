/**
 * @module
 * The HTTPS listener's own certificate, issued by the depot itself (server
 * profile, recorded and audited like any other) and kept in the depot folder:
 * `https.crt` and `private/https.key` (0600). Reused while it has its names
 * and more than a third of its life left; otherwise replaced. Clients trust
 * `certificates/ca.crt`.
 */
import { existsSync, readFileSync } from "node:fs";
import type { Depot } from "../ca/depot.ts";
import { readCertificateDer } from "../ca/certificate-der.ts";
import { attribute } from "../ca/dn.ts";
import { writeFileAtomic } from "../ca/files.ts";
import { parseSubjectAltName } from "../ca/profiles.ts";
import { x509 } from "../ca/provider.ts";
import { httpsCertificatePaths } from "./https-files.ts";

export { defaultHttpsNames, httpsCertificatePaths } from "./https-files.ts";

export const HTTPS_CERTIFICATE_DAYS = 90;

export interface HttpsCertificate {
  certPath: string;
  keyPath: string;
  notAfter: Date;
  /** When it should be replaced (two thirds of its life). */
  renewAt: Date;
  /** Whether this call issued it. */
  issued: boolean;
}

/** The current certificate when still good for these names, else a new one. */
export async function ensureHttpsCertificate(depot: Depot, names: string[], now = new Date()): Promise<HttpsCertificate> {
  const { certPath, keyPath } = httpsCertificatePaths(depot.layout.root);
  const current = readCurrent(certPath, keyPath, depot);
  if (current && covers(current, names) && renewAtOf(current).getTime() > now.getTime()) {
    return { certPath, keyPath, notAfter: current.notAfter, renewAt: renewAtOf(current), issued: false };
  }
  const [first = "localhost", ...rest] = names.map((name) => parseSubjectAltName(name).value);
  const issued = await depot.issue({
    profile: "server",
    subject: [attribute("CN", first)],
    subjectAltNames: rest,
    keyType: "ec-p256",
    days: HTTPS_CERTIFICATE_DAYS,
    requester: { requester: "server" },
  });
  // The key first: a certificate without its key would be served by nobody.
  writeFileAtomic(keyPath, issued.privateKeyPem, 0o600);
  // With the intermediate in a two-tier depot: a client that trusts only the root (EST's explicit trust anchor) gets the whole path.
  writeFileAtomic(certPath, issued.certificatePem + depot.chainPem);
  return { certPath, keyPath, notAfter: issued.record.notAfter, renewAt: renewAtOf(issued.record), issued: true };
}

function readCurrent(certPath: string, keyPath: string, depot: Depot): x509.X509Certificate | undefined {
  if (!existsSync(certPath) || !existsSync(keyPath)) return undefined;
  try {
    const certificate = new x509.X509Certificate(readFileSync(certPath, "utf8"));
    // One the depot's CA did not sign (the CA was replaced) is replaced too.
    const issuer = readCertificateDer(new Uint8Array(certificate.rawData)).issuer;
    return Buffer.from(issuer).equals(depot.issuer.certificate.subject) ? certificate : undefined;
  } catch {
    return undefined;
  }
}

function covers(certificate: x509.X509Certificate, names: string[]): boolean {
  const extension = certificate.getExtension(x509.SubjectAlternativeNameExtension);
  const held = new Set((extension?.names.items ?? []).map((name) => `${name.type}:${name.value.toLowerCase()}`));
  return names.every((name) => {
    const wanted = parseSubjectAltName(name);
    return held.has(`${wanted.type}:${wanted.value.toLowerCase()}`);
  });
}

function renewAtOf(validity: { notBefore: Date; notAfter: Date }): Date {
  const life = validity.notAfter.getTime() - validity.notBefore.getTime();
  return new Date(validity.notBefore.getTime() + (life * 2) / 3);
}

/**
 * The upkeep process's duty for a depot-made HTTPS certificate: make it
 * before the workers start, and replace it once two thirds of its life are
 * gone (the supervisor then replaces the workers, which load it at start).
 */
export class HttpsCertificateKeeper {
  private renewAt: Date | undefined;

  constructor(
    private readonly depot: Depot,
    private readonly names: string[],
  ) {}

  async ensure(now = new Date()): Promise<HttpsCertificate> {
    const certificate = await ensureHttpsCertificate(this.depot, this.names, now);
    this.renewAt = certificate.renewAt;
    return certificate;
  }

  /** Replaces the certificate when due; says whether it did. */
  async renewIfDue(now = new Date()): Promise<HttpsCertificate | undefined> {
    if (!this.renewAt || now.getTime() < this.renewAt.getTime()) return undefined;
    const certificate = await this.ensure(now);
    return certificate.issued ? certificate : undefined;
  }
}
