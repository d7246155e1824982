import { createHash } from "node:crypto";
import { type DistinguishedName, toJsonName } from "./dn.ts";
import { KEY_SPECS } from "./key-types.ts";
import { type SigningKey, toPem } from "./keys.ts";
import { DepotError } from "../errors.ts";
import { LeafEncoder } from "./leaf-encoder.ts";
import { DerSigner } from "./signer.ts";
import { caExtensions } from "./profiles.ts";
import { webCrypto, x509 } from "./provider.ts";
import { toDerIntegerHex } from "./serial.ts";

/** Milliseconds in a day: validity periods are counted in whole days. */
export const DAY_MS = 86_400_000;

/** What a CA needs at hand to sign: its certificate, its key, its key identifier for leaves' AKI, and the leaf encoder. */
export interface Issuer {
  certificate: x509.X509Certificate;
  key: SigningKey;
  authorityKeyIdentifier: x509.AuthorityKeyIdentifierExtension;
  encoder: LeafEncoder;
}

/**
 * The CA's signing material. The certificate must hold the key's own public
 * key: a ca.crt from another CA (or of another key type) would make every
 * certificate and CRL fail verification while depot reported success.
 */
export async function makeIssuer(certificate: x509.X509Certificate, key: SigningKey, where = "the CA certificate"): Promise<Issuer> {
  if (!Buffer.from(certificate.publicKey.rawData).equals(key.publicKeyDer)) {
    throw new DepotError("E_NOT_A_DEPOT", `${where} does not match the CA key (private/ca.key): it holds another public key; put back the CA's own certificate`);
  }
  const ski = certificate.getExtension(x509.SubjectKeyIdentifierExtension);
  // A CA certificate without an SKI (some old ones) still gets an AKI on its
  // leaves, computed from its key the way an SKI would be.
  const authorityKeyIdentifier = ski
    ? new x509.AuthorityKeyIdentifierExtension(ski.keyId)
    : await x509.AuthorityKeyIdentifierExtension.create(key.publicKeyDer, false, webCrypto);
  const encoder = new LeafEncoder(new Uint8Array(certificate.rawData), new DerSigner(key.keyObject, key.type), new Uint8Array(authorityKeyIdentifier.rawData));
  return { certificate, key, authorityKeyIdentifier, encoder };
}

export interface Validity {
  notBefore: Date;
  notAfter: Date;
}

/**
 * Certificates start BACKDATE_MS before they are made, so a peer whose
 * clock runs a little behind does not see a brand-new certificate as "not
 * yet valid" (a common TLS support call). They last exactly `days` days
 * from then, to the second, as certificates hold time.
 */
export const BACKDATE_MS = 5 * 60_000;

export function validityFor(days: number, now = Date.now()): Validity {
  const notBefore = new Date(Math.floor((now - BACKDATE_MS) / 1000) * 1000);
  return { notBefore, notAfter: new Date(notBefore.getTime() + days * DAY_MS) };
}

export interface LeafRequest {
  serial: string;
  subject: DistinguishedName;
  publicKeyDer: Uint8Array<ArrayBuffer>;
  validity: Validity;
  /** The profile's extensions, DER; SKI and AKI are added by the encoder. */
  extensions: Uint8Array[];
}

/** A signed leaf certificate, DER. */
export function signLeaf(issuer: Issuer, request: LeafRequest): Promise<Uint8Array<ArrayBuffer>> {
  return issuer.encoder.encode({
    serialDerHex: toDerIntegerHex(request.serial),
    subject: request.subject,
    publicKeyDer: request.publicKeyDer,
    ...request.validity,
    extensions: request.extensions,
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
    extensions: [...caExtensions(), await x509.SubjectKeyIdentifierExtension.create(key.publicKeyDer, false, webCrypto)],
  }, webCrypto);
}

type CertificateData = x509.X509Certificate | Uint8Array;
const derOf = (certificate: CertificateData) => (certificate instanceof Uint8Array ? certificate : new Uint8Array(certificate.rawData));

export function fingerprintOf(certificate: CertificateData): string {
  return createHash("sha256").update(derOf(certificate)).digest("hex");
}

export function pemOf(certificate: CertificateData): string {
  return toPem("CERTIFICATE", derOf(certificate));
}

