/**
 * @module
 * Reading an OCSP request (RFC 6960 4.1.1) as it arrives over HTTP: the DER
 * of a POST body, or the base64 path of a GET (appendix A.1), into the
 * certificates asked about and the nonce (RFC 9654).
 */
import { CertID, id_pkix_ocsp_nonce, OCSPRequest } from "@peculiar/asn1-ocsp";
import { AsnConvert, AsnParser } from "@peculiar/asn1-schema";
import { magnitudeHex } from "../ca/serial.ts";

/** The request cannot be read: answered `malformedRequest`. */
export class MalformedOcspRequest extends Error {}

/** Hash algorithms a CertID may use, by OID, with node:crypto's name. */
export const CERT_ID_HASHES: Record<string, string> = {
  "1.3.14.3.2.26": "sha1",
  "2.16.840.1.101.3.4.2.1": "sha256",
  "2.16.840.1.101.3.4.2.2": "sha384",
  "2.16.840.1.101.3.4.2.3": "sha512",
};

export interface CertificateQuery {
  /** The CertID as the library read it, echoed in the answer. */
  certId: CertID;
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

export function parseOcspRequest(der: Uint8Array): OcspQuery {
  let request: OCSPRequest;
  try {
    request = AsnParser.parse(der, OCSPRequest);
  } catch {
    throw new MalformedOcspRequest("not a DER OCSPRequest");
  }
  const list = request.tbsRequest.requestList;
  if (list.length === 0 || list.length > MAX_CERTIFICATES) throw new MalformedOcspRequest(`asks about ${list.length} certificates`);
  const certificates = list.map(({ reqCert }) => {
    const serialBytes = new Uint8Array(reqCert.serialNumber);
    if (serialBytes.length === 0 || (serialBytes[0]! & 0x80) !== 0) throw new MalformedOcspRequest("a serial number is not a positive integer");
    return {
      certId: reqCert,
      hash: CERT_ID_HASHES[reqCert.hashAlgorithm.algorithm],
      issuerNameHash: new Uint8Array(reqCert.issuerNameHash.buffer),
      issuerKeyHash: new Uint8Array(reqCert.issuerKeyHash.buffer),
      serial: magnitudeHex(serialBytes),
    };
  });
  const query: OcspQuery = { certificates };
  const nonce = request.tbsRequest.requestExtensions?.find((extension) => extension.extnID === id_pkix_ocsp_nonce);
  if (nonce) {
    const value = new Uint8Array(nonce.extnValue.buffer);
    const octets = nonceOctets(value);
    if (octets >= 1 && octets <= MAX_NONCE_OCTETS) query.nonce = value;
  }
  return query;
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

/** The CertID's DER, as a response must echo it. */
export function certIdDer(certId: CertID): Uint8Array {
  return new Uint8Array(AsnConvert.serialize(certId));
}
