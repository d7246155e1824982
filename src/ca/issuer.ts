import { createHash } from "node:crypto";
import { type DistinguishedName, toJsonName } from "./dn.ts";
import { KEY_SPECS } from "./key-types.ts";
import type { SigningKey } from "./keys.ts";
import { caExtensions } from "./profiles.ts";
import { x509 } from "./provider.ts";
import { toDerIntegerHex } from "./serial.ts";

const DAY_MS = 86_400_000;

/** What a CA needs at hand to sign: its name, its key, and its key identifier for leaves' AKI. */
export interface Issuer {
  certificate: x509.X509Certificate;
  key: SigningKey;
  authorityKeyIdentifier: x509.AuthorityKeyIdentifierExtension;
}

export async function makeIssuer(certificate: x509.X509Certificate, key: SigningKey): Promise<Issuer> {
  const ski = certificate.getExtension(x509.SubjectKeyIdentifierExtension);
  // A CA certificate without an SKI (some old ones) still gets an AKI on its
  // leaves, computed from its key the way an SKI would be.
  const authorityKeyIdentifier = ski
    ? new x509.AuthorityKeyIdentifierExtension(ski.keyId)
    : await x509.AuthorityKeyIdentifierExtension.create(key.publicKeyDer);
  return { certificate, key, authorityKeyIdentifier };
}

export interface Validity {
  notBefore: Date;
  notAfter: Date;
}

/** From now (to the second, as certificates hold it) for `days` days. */
export function validityFor(days: number, now = Date.now()): Validity {
  const notBefore = new Date(Math.floor(now / 1000) * 1000);
  return { notBefore, notAfter: new Date(notBefore.getTime() + days * DAY_MS) };
}

export interface LeafRequest {
  serial: string;
  subject: DistinguishedName;
  publicKeyDer: Uint8Array<ArrayBuffer>;
  validity: Validity;
  extensions: x509.Extension[];
}

export async function signLeaf(issuer: Issuer, request: LeafRequest): Promise<x509.X509Certificate> {
  return x509.X509CertificateGenerator.create({
    serialNumber: toDerIntegerHex(request.serial),
    subject: toJsonName(request.subject),
    issuer: issuer.certificate.subjectName,
    ...request.validity,
    publicKey: request.publicKeyDer,
    signingKey: issuer.key.privateKey,
    signingAlgorithm: KEY_SPECS[issuer.key.type].signingAlgorithm,
    extensions: [
      ...request.extensions,
      await x509.SubjectKeyIdentifierExtension.create(request.publicKeyDer),
      issuer.authorityKeyIdentifier,
    ],
  });
}

export async function selfSignCa(
  key: SigningKey,
  subject: DistinguishedName,
  serial: string,
  validity: Validity,
): Promise<x509.X509Certificate> {
  const name = toJsonName(subject);
  return x509.X509CertificateGenerator.create({
    serialNumber: toDerIntegerHex(serial),
    subject: name,
    issuer: name,
    ...validity,
    publicKey: key.publicKeyDer,
    signingKey: key.privateKey,
    signingAlgorithm: KEY_SPECS[key.type].signingAlgorithm,
    extensions: [...caExtensions(), await x509.SubjectKeyIdentifierExtension.create(key.publicKeyDer)],
  });
}

export function fingerprintOf(certificate: x509.X509Certificate): string {
  return createHash("sha256").update(new Uint8Array(certificate.rawData)).digest("hex");
}

export function pemOf(certificate: x509.X509Certificate): string {
  return `${certificate.toString("pem").replace(/\r\n/g, "\n")}\n`;
}

