/**
 * @module
 * Encoding OCSP responses (RFC 6960 4.2.1). The ResponseData, which holds
 * the statuses and echoes each CertID and the nonce, is built with
 * @peculiar/asn1-ocsp; the signature wrapper around it (tbs, algorithm,
 * signature) is the CA's DerSigner's, as for certificates and CRLs.
 */
import {
  CertStatus,
  id_pkix_ocsp_basic,
  id_pkix_ocsp_nonce,
  OCSPResponseStatus,
  ResponderID,
  ResponseData,
  RevokedInfo,
  SingleResponse,
} from "@peculiar/asn1-ocsp";
import { AsnConvert, OctetString } from "@peculiar/asn1-schema";
import { CRLReason, CRLReasons, Extension } from "@peculiar/asn1-x509";
import { oid, TAG, tlv } from "../ca/der.ts";
import type { CertificateQuery } from "./request.ts";

export { OCSPResponseStatus };

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

/** An unsuccessful response: the status alone, unsigned (RFC 6960 4.2.1). */
export function errorResponse(status: OCSPResponseStatus): Uint8Array {
  return tlv(TAG.SEQUENCE, tlv(ENUMERATED, new Uint8Array([status])));
}

export async function signedResponse(signer: OcspSigner, parts: SignedResponseParts): Promise<Uint8Array> {
  const data = new ResponseData({
    responderID: new ResponderID({ byKey: new OctetString(signer.keyHash) }),
    producedAt: parts.thisUpdate,
    responses: parts.answers.map(
      ({ query, status }) =>
        new SingleResponse({ certID: query.certId, certStatus: certStatusOf(status), thisUpdate: parts.thisUpdate, nextUpdate: parts.nextUpdate }),
    ),
  });
  if (parts.nonce) data.responseExtensions = [new Extension({ extnID: id_pkix_ocsp_nonce, critical: false, extnValue: new OctetString(parts.nonce) })];
  const basic = await signer.signed(new Uint8Array(AsnConvert.serialize(data)));
  return tlv(
    TAG.SEQUENCE,
    tlv(ENUMERATED, new Uint8Array([OCSPResponseStatus.successful])),
    tlv(TAG.CONTEXT_0, tlv(TAG.SEQUENCE, BASIC_OID, tlv(TAG.OCTET_STRING, basic))),
  );
}
const BASIC_OID = oid(id_pkix_ocsp_basic);

function certStatusOf(status: CertificateStatus): CertStatus {
  if (status.kind === "good") return new CertStatus({ good: null });
  if (status.kind === "unknown") return new CertStatus({ unknown: null });
  const reason = status.reason ? CRLReasons[status.reason as keyof typeof CRLReasons] : undefined;
  // `unspecified` is left out, as in the CRL (RFC 5280 5.3.1).
  return new CertStatus({
    revoked: new RevokedInfo({ revocationTime: status.at, ...(reason ? { revocationReason: new CRLReason(reason) } : {}) }),
  });
}
