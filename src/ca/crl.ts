/**
 * @module
 * The v2 CRL: revocation reasons, the DER encoder, and the check that a
 * crl.pem is one this CA signed before a server hands it out.
 */
import { DepotError } from "../errors.ts";
import { children, integerFromHex, oid, readElement, TAG, time, tlv } from "./der.ts";
import type { Issuer } from "./issuer.ts";
import { toPem } from "./keys.ts";
import { toDerIntegerHex } from "./serial.ts";

/** The reasons an operator may give (RFC 5280 5.3.1); `unspecified` is left out of the entry, as the RFC asks. */
export const REVOCATION_REASONS = ["unspecified", "keyCompromise", "affiliationChanged", "superseded", "cessationOfOperation"] as const;
export type RevocationReason = (typeof REVOCATION_REASONS)[number];
export const DEFAULT_CRL_DAYS = 7;

/** CRLReason codes (RFC 5280 5.3.1), for every reason a CRL may carry (a rebuilt ledger keeps what it read). */
export const REASON_CODES: Record<string, number> = {
  unspecified: 0,
  keyCompromise: 1,
  cACompromise: 2,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
  certificateHold: 6,
  removeFromCRL: 8,
  privilegeWithdrawn: 9,
  aACompromise: 10,
};

export function parseReason(text: string): RevocationReason {
  const reason = REVOCATION_REASONS.find((r) => r.toLowerCase() === text.trim().toLowerCase());
  if (!reason) throw new DepotError("E_BAD_ARGUMENT", `unknown reason '${text}' (known: ${REVOCATION_REASONS.join(", ")})`);
  return reason;
}

/** One entry of a CRL: what the ledger keeps of a revoked certificate. */
export interface CrlEntry {
  /** The serial's magnitude in lower-case hex (see serial.ts). */
  serial: string;
  revokedAt: Date;
  reason: string;
}

const OID = {
  reasonCode: oid("2.5.29.21"),
  crlNumber: oid("2.5.29.20"),
};
const V2 = integerFromHex("01");
const ENUMERATED = 0x0a;

/** Reason extensions by code, encoded once: at 100,000 entries every allocation shows. */
const reasonExtensions = new Map<number, Uint8Array>();
function reasonExtension(reason: string): Uint8Array | undefined {
  const code = REASON_CODES[reason] ?? 0;
  if (code === 0) return undefined; // unspecified: no extension (RFC 5280 5.3.1)
  let extension = reasonExtensions.get(code);
  if (!extension) {
    extension = tlv(TAG.SEQUENCE, tlv(TAG.SEQUENCE, OID.reasonCode, tlv(TAG.OCTET_STRING, tlv(ENUMERATED, new Uint8Array([code])))));
    reasonExtensions.set(code, extension);
  }
  return extension;
}

/**
 * A v2 CRL signed by the CA: thisUpdate, nextUpdate, the CRL number and the
 * authority key identifier, and one entry per revoked certificate with its
 * reason. Encoded with the DER writer rather than @peculiar/x509's object
 * model, which took seconds at 100,000 entries (bench/crl.ts has the
 * figures); openssl checks the result in the tests. PEM-labelled `X509 CRL`,
 * which OpenSSL 3 reads.
 */
export async function buildCrl(issuer: Issuer, crlNumber: number, revoked: CrlEntry[], thisUpdate: Date, nextUpdate: Date): Promise<string> {
  const { encoder } = issuer;
  const entries = revoked.map((entry) => {
    const extension = reasonExtension(entry.reason);
    const serial = integerFromHex(toDerIntegerHex(entry.serial));
    const date = time(entry.revokedAt);
    return extension ? tlv(TAG.SEQUENCE, serial, date, extension) : tlv(TAG.SEQUENCE, serial, date);
  });
  const crlExtensions = tlv(
    TAG.CONTEXT_0,
    tlv(TAG.SEQUENCE, encoder.authorityKeyIdentifier, tlv(TAG.SEQUENCE, OID.crlNumber, tlv(TAG.OCTET_STRING, integerFromHex(toDerIntegerHex(crlNumber.toString(16)))))),
  );
  const tbs = tlv(
    TAG.SEQUENCE,
    V2,
    encoder.signer.algorithm,
    encoder.issuerName,
    time(thisUpdate),
    time(nextUpdate),
    // RFC 5280 5.1.2.6: with no entries the list is left out, not empty.
    ...(entries.length > 0 ? [tlvOfMany(TAG.SEQUENCE, entries)] : []),
    crlExtensions,
  );
  return toPem("X509 CRL", await encoder.signer.signed(tbs));
}

/** `tlv` for a list too long to spread into arguments. */
function tlvOfMany(tag: number, parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  let length = 0;
  for (const part of parts) length += part.length;
  const joined = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    joined.set(part, offset);
    offset += part.length;
  }
  return tlv(tag, joined);
}

/**
 * Whether `der` is a CRL this issuer signed: its issuer name is the CA's
 * subject, byte for byte, and its signature verifies with the CA's key.
 * Only the outer structure is read, so a CRL of 100,000 entries costs one
 * signature check, not a parse.
 */
export function isSignedBy(issuer: Issuer, der: Uint8Array): boolean {
  try {
    const crl = readElement(der);
    if (crl.tag !== TAG.SEQUENCE || crl.end !== der.length) return false;
    const [tbs, algorithm, signature] = children(der, crl);
    if (!tbs || !algorithm || !signature || signature.tag !== TAG.BIT_STRING) return false;
    if (!Buffer.from(der.subarray(algorithm.start, algorithm.end)).equals(issuer.encoder.signer.algorithm)) return false;
    const fields = children(der, tbs);
    const issuerName = fields[2];
    if (!issuerName || !Buffer.from(der.subarray(issuerName.start, issuerName.end)).equals(issuer.encoder.issuerName)) return false;
    return issuer.encoder.signer.verifies(der.subarray(tbs.start, tbs.end), der.subarray(signature.contentStart + 1, signature.end));
  } catch {
    return false;
  }
}

/** The DER inside a PEM `X509 CRL` block, or undefined if the text is not one. */
export function crlDerOf(pem: string): Uint8Array<ArrayBuffer> | undefined {
  const match = /^-----BEGIN X509 CRL-----\r?\n([A-Za-z0-9+/=\r\n]+)-----END X509 CRL-----\r?\n?$/.exec(pem);
  return match ? new Uint8Array(Buffer.from(match[1]!, "base64")) : undefined;
}
