/**
 * @module
 * The v2 CRL: revocation reasons, the DER encoder, and the check that a
 * crl.pem is one this CA signed before a server hands it out.
 */
import { DepotError } from "../errors.ts";
import { children, type Element, integerFromHex, oid, readElement, readTime, TAG, time, tlv } from "./der.ts";
import type { Issuer } from "./issuer.ts";
import { toDerIntegerHex } from "./serial.ts";

/** The reasons an operator may give (RFC 5280 5.3.1); `unspecified` is left out of the entry, as the RFC asks. */
export const REVOCATION_REASONS = ["unspecified", "keyCompromise", "affiliationChanged", "superseded", "cessationOfOperation"] as const;
export type RevocationReason = (typeof REVOCATION_REASONS)[number];
export const DEFAULT_CRL_DAYS = 7;

/**
 * CRLReason codes (RFC 5280 5.3.1), for every reason a CRL may carry (a
 * rebuilt ledger keeps what it read); OCSP's revokedInfo uses the same.
 */
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
    ...(revoked.length > 0 ? [tlv(TAG.SEQUENCE, encodeEntries(revoked))] : []),
    crlExtensions,
  );
  return pemOf(await encoder.signer.signed(tbs));
}

/** PEM `X509 CRL` (which OpenSSL 3 reads), lines cut by slicing: a regex over 6 MB of base64 took 0.1-0.2 s. */
function pemOf(der: Uint8Array): string {
  const base64 = Buffer.from(der).toString("base64");
  const lines: string[] = ["-----BEGIN X509 CRL-----"];
  for (let i = 0; i < base64.length; i += 64) lines.push(base64.slice(i, i + 64));
  lines.push("-----END X509 CRL-----", "");
  return lines.join("\n");
}

/**
 * The revokedCertificates entries, written straight into one buffer: a
 * TLV object per field cost about 10 µs an entry, a second at 100,000.
 * Each entry is SEQUENCE { INTEGER serial, Time revocationDate, [reason] },
 * under 128 bytes, so every length here is one byte.
 */
function encodeEntries(entries: CrlEntry[]): Uint8Array {
  const out = new Uint8Array(entries.length * 80);
  let o = 0;
  for (const entry of entries) {
    // The ledger keeps serials as minimal magnitude hex (serial.ts): DER wants a 00 before a high bit.
    let serialHex = entry.serial.length % 2 ? `0${entry.serial}` : entry.serial;
    if (HEX[serialHex.charCodeAt(0)]! >= 8) serialHex = `00${serialHex}`;
    const serialLength = serialHex.length / 2;
    const date = entry.revokedAt;
    const year = date.getUTCFullYear();
    const timeLength = year < 2050 ? 13 : 15; // UTCTime YYMMDDHHMMSSZ, or GeneralizedTime from 2050 (RFC 5280 4.1.2.5)
    const extension = reasonExtension(entry.reason);
    if (serialLength > 21) throw new Error(`serial ${entry.serial} is longer than 20 bytes`);
    out[o++] = TAG.SEQUENCE;
    out[o++] = 2 + serialLength + 2 + timeLength + (extension?.length ?? 0);
    out[o++] = TAG.INTEGER;
    out[o++] = serialLength;
    for (let i = 0; i < serialHex.length; i += 2) out[o++] = (HEX[serialHex.charCodeAt(i)]! << 4) | HEX[serialHex.charCodeAt(i + 1)]!;
    out[o++] = timeLength === 13 ? TAG.UTC_TIME : TAG.GENERALIZED_TIME;
    out[o++] = timeLength;
    if (timeLength === 15) o = digits(out, o, Math.floor(year / 100));
    o = digits(out, o, year % 100);
    o = digits(out, o, date.getUTCMonth() + 1);
    o = digits(out, o, date.getUTCDate());
    o = digits(out, o, date.getUTCHours());
    o = digits(out, o, date.getUTCMinutes());
    o = digits(out, o, date.getUTCSeconds());
    out[o++] = 0x5a; // Z
    if (extension) {
      out.set(extension, o);
      o += extension.length;
    }
  }
  return out.subarray(0, o);
}

/** Hex digit values by character code. */
const HEX = new Uint8Array(128);
for (let i = 0; i < 16; i++) {
  HEX["0123456789abcdef".charCodeAt(i)] = i;
  HEX["0123456789ABCDEF".charCodeAt(i)] = i;
}

function digits(out: Uint8Array, o: number, value: number): number {
  out[o] = 0x30 + Math.floor(value / 10);
  out[o + 1] = 0x30 + (value % 10);
  return o + 2;
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

/** Where a CRL's fields are: one walk over the TBSCertList's top-level elements, entries not decoded. */
function crlLayout(der: Uint8Array) {
  const crl = readElement(der);
  const [tbs] = children(der, crl);
  const fields = children(der, tbs!);
  let at = fields[0]!.tag === TAG.INTEGER ? 1 : 0; // version, present in v2
  at += 2; // signature, issuer
  const thisUpdate = fields[at++]!;
  const isTime = (element: Element | undefined) => element !== undefined && (element.tag === TAG.UTC_TIME || element.tag === TAG.GENERALIZED_TIME);
  const nextUpdate = isTime(fields[at]) ? fields[at++] : undefined;
  const revoked = fields[at]?.tag === TAG.SEQUENCE ? fields[at++] : undefined;
  const extensions = fields[at]?.tag === TAG.CONTEXT_0 ? fields[at] : undefined;
  return { thisUpdate, nextUpdate, revoked, extensions };
}

/**
 * A CRL's number and dates, without its entries: what the HTTP face and the
 * metrics show of crl.pem, read with the DER reader (fast at any size, and no
 * @peculiar/x509, which a worker otherwise need not load).
 */
export function readCrlHeader(der: Uint8Array): { crlNumber: number; thisUpdate: Date; nextUpdate?: Date } {
  const layout = crlLayout(der);
  let crlNumber = 0;
  if (layout.extensions) {
    const [list] = children(der, layout.extensions);
    for (const extension of children(der, list!)) {
      const [id, ...rest] = children(der, extension);
      if (!sameBytes(der, id!, OID.crlNumber)) continue;
      const integer = readElement(der, rest.at(-1)!.contentStart);
      crlNumber = Number(BigInt(`0x${Buffer.from(der.subarray(integer.contentStart, integer.end)).toString("hex") || "0"}`));
    }
  }
  return { crlNumber, thisUpdate: readTime(der, layout.thisUpdate), ...(layout.nextUpdate ? { nextUpdate: readTime(der, layout.nextUpdate) } : {}) };
}

/**
 * The number and entries of a CRL, read with the DER reader: @peculiar/x509
 * refuses a CRL of 100,000 entries ("Maximum ASN.1 node count exceeded").
 * For `depot ledger rebuild`, after `isSignedBy` has vouched for the bytes.
 */
export function readCrl(der: Uint8Array): { crlNumber: number; entries: CrlEntry[] } {
  const { revoked } = crlLayout(der);
  const entries: CrlEntry[] = [];
  for (const entry of revoked ? children(der, revoked) : []) {
    const [serial, date, extensions] = children(der, entry);
    let reason = "unspecified";
    for (const extension of extensions ? children(der, extensions) : []) {
      const [id, ...rest] = children(der, extension);
      if (!sameBytes(der, id!, OID.reasonCode)) continue;
      const value = rest.at(-1)!;
      const enumerated = readElement(der, value.contentStart);
      const code = der[enumerated.contentStart]!;
      reason = Object.entries(REASON_CODES).find(([, c]) => c === code)?.[0] ?? "unspecified";
    }
    entries.push({ serial: magnitudeOf(der.subarray(serial!.contentStart, serial!.end)), revokedAt: readTime(der, date!), reason });
  }
  return { crlNumber: readCrlHeader(der).crlNumber, entries };
}

function sameBytes(der: Uint8Array, element: Element, expected: Uint8Array): boolean {
  return Buffer.from(der.subarray(element.start, element.end)).equals(expected);
}

/** A DER INTEGER's content as the ledger keeps serials: magnitude hex, no leading zero bytes. */
function magnitudeOf(content: Uint8Array): string {
  let start = 0;
  while (start < content.length - 1 && content[start] === 0) start++;
  return Buffer.from(content.subarray(start)).toString("hex");
}

/** The DER inside a PEM `X509 CRL` block, or undefined if the text is not one. */
export function crlDerOf(pem: string): Uint8Array<ArrayBuffer> | undefined {
  const match = /^-----BEGIN X509 CRL-----\r?\n([A-Za-z0-9+/=\r\n]+)-----END X509 CRL-----\r?\n?$/.exec(pem);
  return match ? new Uint8Array(Buffer.from(match[1]!, "base64")) : undefined;
}
