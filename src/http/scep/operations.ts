/**
 * @module
 * PKIOperation (RFC 8894 3.3): one client message to one CertRep.
 * - PKCSReq (19): the CSR's challengePassword must be a challenge made by
 *   `depot scep challenge create` (a one-time token marked `scep`); issued
 *   under its policy exactly as the API issues with a token (`issue.ts`):
 *   the profile is the challenge's `--type` (default client), the days
 *   capped by its `--max-days`. A PKCSReq without a challenge signed by a
 *   current depot certificate is a renewal (certmonger signs its re-key
 *   requests so).
 * - RenewalReq (17): signed by a current, unrevoked, unexpired depot
 *   certificate (byte for byte the ledger's); the request keeps its subject,
 *   the key may be new; audited as `renew:<old serial>`.
 * - CertPoll/GetCertInitial (20): depot never answers PENDING, so a poll
 *   gets the certificate its transactionID got, if the poll is signed by
 *   the same key, else FAILURE badCertId.
 * A refused request is a signed FAILURE with its failInfo, its reason in
 * the server log; a PKCSReq or RenewalReq sent again for a transaction that
 * got its certificate gets that certificate again (a lost answer), without
 * taking another use of the challenge. Each certificate's ledger row and
 * audit record (with the transactionID) are committed before the answer.
 */
import { createHash } from "node:crypto";
import type { RequestedCertificate } from "../../ca/csr.ts";
import { challengePasswordOf } from "../../ca/csr-der.ts";
import { formatDn, parseDn } from "../../ca/dn.ts";
import { certificateDerFromPem } from "../../ca/certificate-der.ts";
import { serialOfCertificate } from "../../ca/certificate-names.ts";
import type { ScepRa } from "../../ca/scep/ra.ts";
import { PolicyRefusal } from "../../ca/token-policy.ts";
import { hashToken, refusalOf } from "../../ca/tokens.ts";
import { DepotError, messageOf } from "../../errors.ts";
import { HttpProblem } from "../problem.ts";
import type { Call } from "../api/call.ts";
import { askedTemplate, defaultDays, issueWithinPolicy } from "../api/issue.ts";
import { IssuanceDenied } from "../../ca/issuance-gate.ts";
import { renewedCertificate } from "../api/renew.ts";
import { renewalRefusal } from "../api/renew-proof.ts";
import { answerDigest, certRep, degeneratePkcs7, type FailInfo } from "./cert-rep.ts";
import { EnvelopeRefusal, openEnvelope, sealEnvelope } from "./envelope.ts";
import { MESSAGE_TYPE, type PkiRequest, readPkiMessage } from "./pki-message.ts";
import type { ScepServices } from "./services.ts";

/** A request refused with a signed FAILURE: the failInfo, and the reason for the log. */
class Refusal extends Error {
  constructor(
    readonly failInfo: FailInfo,
    message: string,
  ) {
    super(message);
  }
}

const refuse = (failInfo: FailInfo, reason: string): never => {
  throw new Refusal(failInfo, reason);
};

/** What a PKIOperation needs besides the message: who sent it and the URL it came to. */
export interface OperationContext {
  services: ScepServices;
  request: Request;
  url: URL;
  clientAddress?: string;
}

/** The CertRep for one pkiMessage. Throws `MalformedScep` (HTTP 400) for bytes that are no SCEP message. */
export async function pkiOperation(der: Uint8Array, context: OperationContext): Promise<Uint8Array> {
  const message = readPkiMessage(der);
  const ra = await context.services.ra();
  const answer = (outcome: { envelope: Uint8Array } | { failInfo: FailInfo }) =>
    certRep({ transactionId: message.transactionId, recipientNonce: message.senderNonce, digest: answerDigest(message.digest), outcome }, ra);
  try {
    const { certificatePem, cipherOid } = await certificateFor(message, ra, context);
    // Sealed with the cipher the client chose for its own envelope (RFC 8894 3.5.2).
    const envelope = sealEnvelope(degeneratePkcs7([certificateDerFromPem(certificatePem)]), message.signer.certificate, cipherOid);
    return answer({ envelope });
  } catch (error) {
    if (!(error instanceof Refusal)) throw error;
    context.services.refused?.(`SCEP ${typeName(message.messageType)} refused (transaction ${message.transactionId}${context.clientAddress ? `, client ${context.clientAddress}` : ""}): ${error.message}`);
    return answer({ failInfo: error.failInfo });
  }
}

function typeName(messageType: string): string {
  return Object.entries(MESSAGE_TYPE).find(([, value]) => value === messageType)?.[0] ?? messageType;
}

/** The certificate to answer with, and the cipher of the request's envelope. */
async function certificateFor(message: PkiRequest, ra: ScepRa, context: OperationContext): Promise<{ certificatePem: string; cipherOid: string }> {
  if (!message.verified) refuse("badMessageCheck", message.digest ? "the signature does not verify with the signer's certificate" : "the message is signed with a digest depot does not take");
  if (message.signer.publicKey.asymmetricKeyType !== "rsa") refuse("badAlg", "the signer's key is not RSA: SCEP answers are encrypted to the signer's key (use an RSA key, or depot's API for other keys)");
  let content: Uint8Array;
  let cipherOid: string;
  try {
    ({ content, cipherOid } = openEnvelope(message.envelope, ra.privateKey));
  } catch (error) {
    if (error instanceof EnvelopeRefusal) refuse(error.failInfo, error.message);
    throw error;
  }
  const signerKey = createHash("sha256").update(message.signer.certificate.publicKey.export({ type: "spki", format: "der" })).digest("hex");
  const { services } = context;
  const earlier = await services.transactions.findTransaction(message.transactionId);
  if (message.messageType === MESSAGE_TYPE.CertPoll) {
    if (!earlier || earlier.signerKey !== signerKey) refuse("badCertId", `no certificate was issued for transaction ${message.transactionId} to this key`);
    return { certificatePem: await issuedFor(earlier!.serial, context), cipherOid };
  }
  // A request sent again after its answer was lost: the same certificate, no second use of the challenge.
  if (earlier && earlier.signerKey === signerKey) return { certificatePem: await issuedFor(earlier.serial, context), cipherOid };
  if (earlier) refuse("badRequest", `transaction ${message.transactionId} belongs to another key`);

  const csr = readCsrDer(content);
  const requested = await services.api.readCsr(pemOf(csr)).catch((error: unknown) => refuse("badRequest", messageOf(error)));
  let challenge: string | undefined;
  try {
    challenge = challengePasswordOf(csr);
  } catch (error) {
    refuse("badRequest", messageOf(error));
  }
  const renewal = message.messageType === MESSAGE_TYPE.RenewalReq || challenge === undefined;
  const issued = renewal ? await renew(message, requested, context) : await enroll(message, requested, challenge!, context);
  await services.transactions
    .recordTransaction({ transactionId: message.transactionId, serial: issued.serial, signerKey, createdAt: new Date() })
    // The certificate and its audit record are committed: the answer goes out; only a later poll would miss it.
    .catch((error: unknown) => services.internalError?.(new Error(`SCEP transaction ${message.transactionId} not recorded (certificate ${issued.serial.toUpperCase()} was issued): ${messageOf(error)}`)));
  return { certificatePem: issued.certificatePem, cipherOid };
}

/** PKCSReq with a challenge: the challenge's policy, one use taken (given back when nothing is issued). */
async function enroll(message: PkiRequest, requested: RequestedCertificate, challenge: string, context: OperationContext): Promise<{ serial: string; certificatePem: string }> {
  const { services } = context;
  const now = services.api.now();
  const token = await services.api.tokens.findByHash(hashToken(challenge));
  const refusal = refusalOf(token, now);
  // An API token is no SCEP challenge: a device must not enrol with an operator's credentials.
  if (refusal === "unknown" || !token!.policy.scep) refuse("badRequest", "the challengePassword is not a SCEP challenge of this depot");
  if (refusal) refuse("badRequest", `SCEP challenge '${token!.name}' is ${refusal}`);
  // The challenge's first template (depot scep challenge create --template), else the server's
  // --scep-template, else the built-in of the challenge's --type (client by default).
  let template: ReturnType<typeof askedTemplate>;
  try {
    template = askedTemplate({ services: services.api, token: token! }, token!.policy.templates?.[0] ?? services.template);
  } catch (error) {
    // depot.cnf lost the template since the challenge was made.
    refuse("badRequest", messageOf(error));
  }
  const profile = template?.base ?? token!.policy.type ?? "client";
  const days = defaultDays({ services: services.api, token: token! }, template);
  const call: Call = {
    request: context.request,
    url: context.url,
    token: token!,
    requester: { requester: `scep:${token!.name}`, ...(context.clientAddress ? { client: context.clientAddress } : {}), transaction: message.transactionId },
    services: services.api,
    now,
  };
  try {
    return await issueWithinPolicy(call, { profile, face: "scep", ...(template ? { template } : {}), subject: requested.subject, subjectAltNames: profile === "server" ? requested.subjectAltNames : [], keyType: requested.keyType, days, requested });
  } catch (error) {
    // The authorize webhook's no is a SCEP failure with its reason, as a policy's is.
    if (error instanceof PolicyRefusal || error instanceof IssuanceDenied) refuse("badRequest", error.message);
    // The challenge was used up by another request meanwhile (withTokenUse's 401).
    if (error instanceof HttpProblem && error.status === 401) refuse("badRequest", error.message);
    // E_REVOKED_TOKEN: the challenge was revoked while the request was signed (the ledger refused the row).
    if (error instanceof DepotError && (error.code === "E_BAD_ARGUMENT" || error.code === "E_BAD_CSR" || error.code === "E_REVOKED_TOKEN")) refuse("badRequest", error.message);
    throw error;
  }
}

/** RenewalReq (or PKCSReq without a challenge): the signer's certificate must be a current one of this depot, the subject kept. */
async function renew(message: PkiRequest, requested: RequestedCertificate, context: OperationContext): Promise<{ serial: string; certificatePem: string }> {
  const { api } = context.services;
  const renewal = api.renewal;
  if (!renewal) refuse("badRequest", "this server does not renew certificates");
  const now = api.now();
  const certificateDer = message.signer.der;
  // The ledger's form of the serial (a leading zero digit kept, as in 0f...): stripping every zero missed one certificate in sixteen.
  const record = await api.find(serialOfCertificate(certificateDer));
  const fingerprint = createHash("sha256").update(certificateDer).digest("hex");
  if (!record || record.fingerprint !== fingerprint) {
    refuse(message.messageType === MESSAGE_TYPE.RenewalReq ? "badCertId" : "badRequest", message.messageType === MESSAGE_TYPE.RenewalReq ? "the RenewalReq is not signed by a certificate of this depot" : "the PKCSReq has no challengePassword (depot scep challenge create) and is not signed by a certificate of this depot");
  }
  const why = renewalRefusal(record!, now, renewal!.afterExpiryMs);
  if (why) refuse("badRequest", why.message);
  if (formatDn(requested.subject) !== formatDn(parseDn(record!.subject))) refuse("badRequest", `a renewal keeps the subject of the certificate it renews (${record!.subject}), not ${formatDn(requested.subject)}`);
  const requester = { requester: `renew:${record!.serial.toUpperCase()}`, ...(context.clientAddress ? { client: context.clientAddress } : {}), transaction: message.transactionId };
  const { publicKeyDer, keyType, family } = requested;
  try {
    return await renewedCertificate(api, renewal!, { record: record!, certificateDer }, { publicKeyDer, keyType, family }, requester, now, "scep");
  } catch (error) {
    if (error instanceof IssuanceDenied) refuse("badRequest", error.message);
    throw error;
  }
}

/** The certificate a transaction got, if it is still good to hand out. */
async function issuedFor(serial: string, context: OperationContext): Promise<string> {
  const record = await context.services.api.find(serial);
  if (!record || record.status !== "valid") refuse("badCertId", `certificate ${serial.toUpperCase()} of this transaction is ${record ? "revoked" : "gone"}`);
  return record!.pem;
}

/** The envelope's content as a PKCS#10 request's DER (a whole element, nothing after it). */
function readCsrDer(content: Uint8Array): Uint8Array {
  if (content.length < 2 || content[0] !== 0x30) refuse("badRequest", "the envelope does not hold a PKCS#10 certificate request");
  return content;
}

function pemOf(der: Uint8Array): string {
  return `-----BEGIN CERTIFICATE REQUEST-----\n${Buffer.from(der).toString("base64").replace(/.{64}/g, "$&\n")}\n-----END CERTIFICATE REQUEST-----\n`;
}
