import { createHash } from "node:crypto";
import type { CertificateFields } from "./certificate-der.ts";
import { oid, TAG, tlv } from "./der.ts";
import type { DistinguishedName } from "./dn.ts";
import { type SigningKey, toPem } from "./keys.ts";
import { DepotError } from "../errors.ts";
import { keyIdentifierOf, LeafEncoder } from "./leaf-encoder.ts";
import { DerSigner } from "./signer.ts";
import { toDerIntegerHex } from "./serial.ts";

/** Milliseconds in a day: validity periods are counted in whole days. */
export const DAY_MS = 86_400_000;

/** What a CA needs at hand to sign: its certificate, its key, the key identifier its leaves carry, and the leaf encoder. */
export interface Issuer {
  certificate: CertificateFields;
  /** The certificate as PEM. */
  certificatePem: string;
  key: SigningKey;
  /** The key identifier in every leaf's and CRL's authorityKeyIdentifier: the CA's SKI, or its key's SHA-1 (RFC 5280 method 1). */
  keyId: Uint8Array;
  encoder: LeafEncoder;
}

/**
 * The CA's signing material. The certificate must hold the key's own public
 * key: a ca.crt from another CA (or of another key type) would make every
 * certificate and CRL fail verification while depot reported success.
 */
export function makeIssuer(certificate: CertificateFields, key: SigningKey, where = "the CA certificate"): Issuer {
  if (!Buffer.from(certificate.spki).equals(key.publicKeyDer)) {
    throw new DepotError("E_NOT_A_DEPOT", `${where} does not match the CA key (private/ca.key): it holds another public key; put back the CA's own certificate`);
  }
  // A CA certificate without an SKI (some old ones) still gets an AKI on its
  // leaves, computed from its key the way an SKI would be.
  const keyId = certificate.subjectKeyId ?? keyIdentifierOf(key.publicKeyDer);
  const encoder = new LeafEncoder(certificate.der, new DerSigner(key.keyObject, key.type), authorityKeyIdentifierExtension(keyId));
  return { certificate, certificatePem: pemOf(certificate.der), key, keyId, encoder };
}

/** The authorityKeyIdentifier extension (not critical) naming `keyId`: SEQUENCE { [0] keyIdentifier }. */
function authorityKeyIdentifierExtension(keyId: Uint8Array): Uint8Array {
  return tlv(TAG.SEQUENCE, AKI_OID, tlv(TAG.OCTET_STRING, tlv(TAG.SEQUENCE, tlv(0x80, keyId))));
}
const AKI_OID = oid("2.5.29.35");

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


/** A certificate as bytes, or as any object that holds them (@peculiar/x509's X509Certificate). */
type CertificateData = Uint8Array | { rawData: ArrayBuffer };
const derOf = (certificate: CertificateData) => (certificate instanceof Uint8Array ? certificate : new Uint8Array(certificate.rawData));

export function fingerprintOf(certificate: CertificateData): string {
  return createHash("sha256").update(derOf(certificate)).digest("hex");
}

export function pemOf(certificate: CertificateData): string {
  return toPem("CERTIFICATE", derOf(certificate));
}

