/**
 * @module
 * The CertRep (RFC 8894 3.3.2): a CMS SignedData signed by the RA, whose
 * signed attributes answer the request (messageType 3, pkiStatus, failInfo
 * on failure, the request's transactionID, recipientNonce = its
 * senderNonce, a new senderNonce). On success the content is an
 * EnvelopedData for the requester holding a certs-only PKCS#7 with the
 * issued certificate; on failure the content is empty (present but of no
 * bytes, so OpenSSL-based clients, which refuse a detached signature, still
 * verify it). DER by hand: the signed attributes sorted as a SET OF must be.
 */
import { createHash, type KeyObject, randomBytes, sign } from "node:crypto";
import { oid, string, TAG, time, tlv } from "../../ca/der.ts";
import { issuerAndSerial } from "./asn1.ts";
import { DIGESTS, MESSAGE_TYPE, OID } from "./pki-message.ts";

/** RFC 8894 3.2.1.4: why a request failed. */
export const FAIL_INFO = { badAlg: "0", badMessageCheck: "1", badRequest: "2", badTime: "3", badCertId: "4" } as const;
export type FailInfo = keyof typeof FAIL_INFO;

export const PKI_STATUS = { success: "0", failure: "2" } as const;

export interface CertRepAnswer {
  transactionId: string;
  /** The request's senderNonce. */
  recipientNonce: Uint8Array;
  /** node:crypto's digest name: the request's when depot offers it, else SHA-256. */
  digest: string;
  /** Success: the pkcsPKIEnvelope (ContentInfo DER) for the requester. Failure: why. */
  outcome: { envelope: Uint8Array } | { failInfo: FailInfo };
}

const DIGEST_OIDS = Object.fromEntries(Object.entries(DIGESTS).map(([oidText, name]) => [name, oidText]));

/** The digests an answer may be signed with (GetCACaps: SHA-256, SHA-512; SHA-1 only when a client signed with it). */
export function answerDigest(requested: string | undefined): string {
  return requested && ["sha1", "sha256", "sha384", "sha512"].includes(requested) ? requested : "sha256";
}

/** The CertRep's DER, signed with the RA's key and naming the RA's certificate. */
export function certRep(answer: CertRepAnswer, ra: { privateKey: KeyObject; certificateDer: Uint8Array }): Uint8Array {
  const content = "envelope" in answer.outcome ? answer.outcome.envelope : new Uint8Array(0);
  const digestOid = DIGEST_OIDS[answer.digest]!;
  const attribute = (type: string, value: Uint8Array) => tlv(TAG.SEQUENCE, oid(type), tlv(TAG.SET, value));
  const attributes = [
    attribute(OID.contentType, oid(OID.data)),
    attribute(OID.signingTime, time(new Date())),
    attribute(OID.messageDigest, tlv(TAG.OCTET_STRING, createHash(answer.digest).update(content).digest())),
    attribute(OID.messageType, string(TAG.PRINTABLE_STRING, MESSAGE_TYPE.CertRep)),
    attribute(OID.pkiStatus, string(TAG.PRINTABLE_STRING, "envelope" in answer.outcome ? PKI_STATUS.success : PKI_STATUS.failure)),
    ...("failInfo" in answer.outcome ? [attribute(OID.failInfo, string(TAG.PRINTABLE_STRING, FAIL_INFO[answer.outcome.failInfo]))] : []),
    attribute(OID.transactionId, string(TAG.PRINTABLE_STRING, answer.transactionId)),
    attribute(OID.senderNonce, tlv(TAG.OCTET_STRING, randomBytes(16))),
    attribute(OID.recipientNonce, tlv(TAG.OCTET_STRING, answer.recipientNonce)),
  ].sort(compareBytes); // DER's SET OF order: verifiers re-encode the attributes before they check
  const signedAttributes = tlv(TAG.SET, ...attributes);
  const signature = sign(answer.digest, signedAttributes, ra.privateKey);
  const signerInfo = tlv(
    TAG.SEQUENCE,
    tlv(TAG.INTEGER, new Uint8Array([1])),
    issuerAndSerial(ra.certificateDer),
    tlv(TAG.SEQUENCE, oid(digestOid), tlv(0x05)),
    tlv(TAG.CONTEXT_0, ...attributes),
    tlv(TAG.SEQUENCE, oid("1.2.840.113549.1.1.1"), tlv(0x05)),
    tlv(TAG.OCTET_STRING, signature),
  );
  const signedData = tlv(
    TAG.SEQUENCE,
    tlv(TAG.INTEGER, new Uint8Array([1])),
    tlv(TAG.SET, tlv(TAG.SEQUENCE, oid(digestOid), tlv(0x05))),
    tlv(TAG.SEQUENCE, oid(OID.data), tlv(TAG.CONTEXT_0, tlv(TAG.OCTET_STRING, content))),
    tlv(TAG.CONTEXT_0, ra.certificateDer),
    tlv(TAG.SET, signerInfo),
  );
  return tlv(TAG.SEQUENCE, oid(OID.signedData), tlv(TAG.CONTEXT_0, signedData));
}

/**
 * A certs-only PKCS#7 (SignedData without signers) of these certificates,
 * DER by hand: what a successful CertRep's envelope holds, and GetCACert's
 * answer (the RA, then the CA certificates).
 */
export function degeneratePkcs7(certificateDers: Uint8Array[]): Uint8Array {
  const signedData = tlv(TAG.SEQUENCE, tlv(TAG.INTEGER, new Uint8Array([1])), tlv(TAG.SET), tlv(TAG.SEQUENCE, oid(OID.data)), tlv(TAG.CONTEXT_0, ...certificateDers), tlv(TAG.SET));
  return tlv(TAG.SEQUENCE, oid(OID.signedData), tlv(TAG.CONTEXT_0, signedData));
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(a, b);
}
