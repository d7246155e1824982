/**
 * @module
 * Encoding OCSP responses (RFC 6960 4.2.1), by hand with the DER writer the
 * certificates use: every answer not in the cache (every request with a
 * nonce) is encoded, and @peculiar/asn1-ocsp's serializer took longer than
 * the signature many times over. The structure is small and fixed; the
 * tests read every kind of answer back with that library and with the real
 * openssl (test/ocsp-codec.test.ts, test/ocsp.test.ts). The signature
 * wrapper (tbs, algorithm, signature) is the CA's DerSigner's, as for
 * certificates and CRLs.
 */
import { REASON_CODES } from "../ca/crl.ts";
import { oid, TAG, tlv } from "../ca/der.ts";
import type { CertificateQuery } from "./request.ts";

/** OCSPResponseStatus (RFC 6960 4.2.1). */
export const OCSP_RESPONSE_STATUS = {
  successful: 0,
  malformedRequest: 1,
  internalError: 2,
  tryLater: 3,
  sigRequired: 5,
  unauthorized: 6,
} as const;
export type ResponseStatusName = keyof typeof OCSP_RESPONSE_STATUS;

/** What the responder says about one certificate. */
export type CertificateStatus =
  | { kind: "good" }
  | { kind: "revoked"; at: Date; reason?: string }
  | { kind: "unknown" };

/** Who signs responses: the CA itself. */
export interface OcspSigner {
  /** SHA-1 of the signer's public key bits: the ResponderID byKey (smaller than byName). */
  keyHash: Uint8Array;
  /** SEQUENCE { tbs, signatureAlgorithm, BIT STRING signature }: a BasicOCSPResponse without certs. */
  signed(tbs: Uint8Array): Promise<Uint8Array>;
}

export interface SignedResponseParts {
  answers: { query: CertificateQuery; status: CertificateStatus }[];
  /** producedAt and thisUpdate. */
  thisUpdate: Date;
  nextUpdate: Date;
  /** The request's nonce extension value, echoed (RFC 9654). */
  nonce?: Uint8Array;
}

const ENUMERATED = 0x0a;
const GENERALIZED_TIME = 0x18;
const BASIC_OID = oid("1.3.6.1.5.5.7.48.1.1");
const NONCE_OID = oid("1.3.6.1.5.5.7.48.1.2");
const GOOD = new Uint8Array([0x80, 0x00]); // [0] IMPLICIT NULL
const UNKNOWN = new Uint8Array([0x82, 0x00]); // [2] IMPLICIT NULL

/** An unsuccessful response: the status alone, unsigned (RFC 6960 4.2.1). */
export function errorResponse(status: Exclude<ResponseStatusName, "successful">): Uint8Array {
  return tlv(TAG.SEQUENCE, tlv(ENUMERATED, new Uint8Array([OCSP_RESPONSE_STATUS[status]])));
}

export async function signedResponse(signer: OcspSigner, parts: SignedResponseParts): Promise<Uint8Array> {
  const thisUpdate = generalizedTime(parts.thisUpdate);
  const nextUpdate = tlv(TAG.CONTEXT_0, generalizedTime(parts.nextUpdate));
  const responses = parts.answers.map(({ query, status }) => tlv(TAG.SEQUENCE, query.certIdDer, certStatus(status), thisUpdate, nextUpdate));
  const extensions = parts.nonce ? [tlv(0xa1, tlv(TAG.SEQUENCE, tlv(TAG.SEQUENCE, NONCE_OID, tlv(TAG.OCTET_STRING, parts.nonce))))] : [];
  const tbs = tlv(
    TAG.SEQUENCE,
    tlv(0xa2, tlv(TAG.OCTET_STRING, signer.keyHash)), // responderID byKey [2] EXPLICIT (version v1 is the default: left out)
    thisUpdate, // producedAt
    tlv(TAG.SEQUENCE, ...responses),
    ...extensions,
  );
  const basic = await signer.signed(tbs);
  return tlv(
    TAG.SEQUENCE,
    tlv(ENUMERATED, new Uint8Array([OCSP_RESPONSE_STATUS.successful])),
    tlv(TAG.CONTEXT_0, tlv(TAG.SEQUENCE, BASIC_OID, tlv(TAG.OCTET_STRING, basic))),
  );
}

function certStatus(status: CertificateStatus): Uint8Array {
  if (status.kind === "good") return GOOD;
  if (status.kind === "unknown") return UNKNOWN;
  const reason = status.reason ? REASON_CODES[status.reason] : undefined;
  // [1] IMPLICIT RevokedInfo; `unspecified` is left out, as in the CRL (RFC 5280 5.3.1).
  return tlv(0xa1, generalizedTime(status.at), ...(reason ? [tlv(TAG.CONTEXT_0, tlv(ENUMERATED, new Uint8Array([reason])))] : []));
}

/** GeneralizedTime to the second, in UTC (RFC 6960 uses it for every time, unlike X.509's UTCTime before 2050). */
function generalizedTime(date: Date): Uint8Array {
  const digits = date.toISOString().slice(0, 19).replace(/[-T:]/g, "");
  return tlv(GENERALIZED_TIME, new TextEncoder().encode(`${digits}Z`));
}
