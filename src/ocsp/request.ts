/**
 * @module
 * Reading an OCSP request (RFC 6960 4.1.1) as it arrives over HTTP: the DER
 * of a POST body, or the base64 path of a GET (appendix A.1), into the
 * certificates asked about and the nonce (RFC 9654).
 *
 * Read by hand with a bounds-checked DER walker: the request is on the hot
 * path of every answer not in the cache (every request with a nonce), and
 * @peculiar/asn1-ocsp's parser took 90 µs to 2 ms a request, twenty times
 * the signature. The tests read the same requests with that library and
 * compare (test/ocsp-codec.test.ts).
 */
import { childrenWithin, type Element, readElementWithin } from "../ca/der.ts";
import { magnitudeHex } from "../ca/serial.ts";

/** The request cannot be read: answered `malformedRequest`. */
export class MalformedOcspRequest extends Error {}

/** Hash algorithms a CertID may use, by the hex of their OID's content, with node:crypto's name. */
const CERT_ID_HASHES: Record<string, string> = {
  "2b0e03021a": "sha1", // 1.3.14.3.2.26
  "608648016503040201": "sha256", // 2.16.840.1.101.3.4.2.1
  "608648016503040202": "sha384",
  "608648016503040203": "sha512",
};
/** id-pkix-ocsp-nonce, 1.3.6.1.5.5.7.48.1.2. */
const NONCE_OID = "2b0601050507300102";

export interface CertificateQuery {
  /** The CertID exactly as the client sent it: the answer echoes these bytes. */
  certIdDer: Uint8Array;
  /** node:crypto's name of its hash, undefined for a hash we do not know. */
  hash: string | undefined;
  issuerNameHash: Uint8Array;
  issuerKeyHash: Uint8Array;
  /** The serial as the ledger keys it (serial.ts): lower-case hex magnitude. */
  serial: string;
}

export interface OcspQuery {
  certificates: CertificateQuery[];
  /** The nonce extension's value (the DER OCTET STRING), when the request carries one of 1 to 32 octets. */
  nonce?: Uint8Array;
}

/** RFC 9654 section 2.1: nonces longer than 32 octets need not be echoed (they are a denial-of-service vector). */
const MAX_NONCE_OCTETS = 32;
/** A request asks about a handful of certificates; more is not a client we serve. */
const MAX_CERTIFICATES = 16;

const SEQUENCE = 0x30;
const OCTET_STRING = 0x04;
const INTEGER = 0x02;
const OID = 0x06;

/** The DER reader's bounds-checked walk, its refusals as malformed requests. */
function element(der: Uint8Array, offset: number, limit: number): Element {
  return malformedOnError(() => readElementWithin(der, offset, limit));
}

function children(der: Uint8Array, parent: Element): Element[] {
  return malformedOnError(() => childrenWithin(der, parent));
}

function malformedOnError<T>(read: () => T): T {
  try {
    return read();
  } catch (error) {
    throw new MalformedOcspRequest((error as Error).message);
  }
}

function expect(el: Element | undefined, tag: number, what: string): Element {
  if (!el || el.tag !== tag) throw new MalformedOcspRequest(`expected ${what}`);
  return el;
}

const hex = (der: Uint8Array, el: Element) => Buffer.from(der.buffer, der.byteOffset + el.contentStart, el.end - el.contentStart).toString("hex");

export function parseOcspRequest(der: Uint8Array): OcspQuery {
  const request = expect(element(der, 0, der.length), SEQUENCE, "OCSPRequest");
  if (request.end !== der.length) throw new MalformedOcspRequest("bytes after the request");
  const tbs = expect(children(der, request)[0], SEQUENCE, "TBSRequest");
  let requestList: Element | undefined;
  let extensions: Element | undefined;
  for (const field of children(der, tbs)) {
    if (field.tag === SEQUENCE) requestList = field;
    else if (field.tag === 0xa2) extensions = field; // [2] requestExtensions; [0] version and [1] requestorName are ignored
  }
  if (!requestList) throw new MalformedOcspRequest("no requestList");
  const items = children(der, requestList);
  if (items.length === 0 || items.length > MAX_CERTIFICATES) throw new MalformedOcspRequest(`asks about ${items.length} certificates`);
  const query: OcspQuery = { certificates: items.map((item) => certificateQuery(der, expect(item, SEQUENCE, "Request"))) };
  const nonce = extensions ? nonceOf(der, extensions) : undefined;
  if (nonce) query.nonce = nonce;
  return query;
}

function certificateQuery(der: Uint8Array, item: Element): CertificateQuery {
  const certId = expect(children(der, item)[0], SEQUENCE, "CertID");
  const [algorithm, nameHash, keyHash, serial, extra] = children(der, certId);
  if (extra) throw new MalformedOcspRequest("CertID has extra fields");
  const oid = expect(children(der, expect(algorithm, SEQUENCE, "AlgorithmIdentifier"))[0], OID, "hash OID");
  expect(nameHash, OCTET_STRING, "issuerNameHash");
  expect(keyHash, OCTET_STRING, "issuerKeyHash");
  expect(serial, INTEGER, "serialNumber");
  const serialBytes = der.subarray(serial!.contentStart, serial!.end);
  if (serialBytes.length === 0 || (serialBytes[0]! & 0x80) !== 0) throw new MalformedOcspRequest("a serial number is not a positive integer");
  return {
    certIdDer: der.subarray(certId.start, certId.end),
    hash: CERT_ID_HASHES[hex(der, oid)],
    issuerNameHash: der.subarray(nameHash!.contentStart, nameHash!.end),
    issuerKeyHash: der.subarray(keyHash!.contentStart, keyHash!.end),
    serial: magnitudeHex(serialBytes),
  };
}

/** The nonce extension's value, if present and of a length RFC 9654 asks us to echo. */
function nonceOf(der: Uint8Array, explicit: Element): Uint8Array | undefined {
  const list = expect(children(der, explicit)[0], SEQUENCE, "Extensions");
  for (const extension of children(der, list)) {
    const fields = children(der, expect(extension, SEQUENCE, "Extension"));
    const oid = expect(fields[0], OID, "extnID");
    const value = expect(fields.at(-1), OCTET_STRING, "extnValue");
    if (hex(der, oid) !== NONCE_OID) continue;
    const bytes = der.subarray(value.contentStart, value.end);
    const octets = nonceOctets(bytes);
    return octets >= 1 && octets <= MAX_NONCE_OCTETS ? bytes : undefined;
  }
  return undefined;
}

/**
 * How many octets a nonce holds. RFC 9654 says the extension's value is an
 * OCTET STRING; some clients (older openssl) put the bare bytes in instead.
 * Either way the value is echoed as it came.
 */
function nonceOctets(value: Uint8Array): number {
  if (value[0] === 0x04 && value.length >= 2 && value[1]! < 0x80 && value[1] === value.length - 2) return value[1]!;
  return value.length;
}

/**
 * The DER of a GET request from the path after `/ocsp/`: base64 that may
 * hold `/` (so the path may have any number of segments) and `+`, either
 * percent-encoded or not. A `+` in a path is a plus, never a space.
 */
export function decodeGetPath(path: string): Uint8Array {
  let text: string;
  try {
    text = decodeURIComponent(path);
  } catch {
    throw new MalformedOcspRequest("the path is not valid percent-encoding");
  }
  // Tolerate the URL-safe alphabet and missing padding: both are unambiguous.
  text = text.replace(/-/g, "+").replace(/_/g, "/");
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text)) throw new MalformedOcspRequest("the path is not base64");
  return new Uint8Array(Buffer.from(text, "base64"));
}
