/**
 * @module
 * `POST /v1/renew`: a certificate renewed by whoever holds its key, with no
 * token (the certificate is the credential). The body is a compact JWS
 * (`renew-proof.ts`); the certificate in its `x5c` must be, byte for byte,
 * one the ledger holds, neither revoked nor expired (or expired within
 * `--renew-after-expiry`). The new certificate keeps the subject, names,
 * profile, template and lifetime (within the template's days), gets a new
 * serial, and is for the same key or the key of the proof's `csr`. Its
 * audit record names the renewal (`renew:<old serial>`) and is committed
 * with its row before the answer.
 */
import { createHash } from "node:crypto";
import { readCertificateDer } from "../../ca/certificate-der.ts";
import { hostNamesOfCertificate, serialOfCertificate } from "../../ca/certificate-names.ts";
import type { RequestedCertificate } from "../../ca/csr.ts";
import type { Issued } from "../../ca/depot.ts";
import { type DistinguishedName, parseDn } from "../../ca/dn.ts";
import type { IssuanceFace } from "../../ca/issuance-gate.ts";
import { BACKDATE_MS, DAY_MS } from "../../ca/issuer.ts";
import type { KeyFamily } from "../../ca/key-types.ts";
import { describePublicKey } from "../../ca/keys.ts";
import type { CertificateRecord } from "../../ca/ledger.ts";
import { HttpProblem } from "../problem.ts";
import { json, summary } from "./certificates.ts";
import { checkClaims, MAX_PROOF_BYTES, readProofHeader, type RenewalClaims, renewalRefusal, renewedLifetimeMs, SeenProofs, verifyProof } from "./renew-proof.ts";
import type { ApiServices, RenewalSettings, Requester } from "./services.ts";

/** What the renew route is given: no token, the client's address for the audit record. */
export interface OpenCall {
  request: Request;
  url: URL;
  services: ApiServices;
  now: Date;
  clientAddress?: string;
}

/** The path, as `aud` names it after the server's origin. */
export const RENEW_PATH = "/v1/renew";

const seen = new SeenProofs();

export async function renewCertificate(call: OpenCall): Promise<Response> {
  const { services, now } = call;
  const renewal = services.renewal;
  if (!renewal) throw new HttpProblem(404, "this server does not renew certificates", { slug: "not-found" });
  const compact = await readJose(call.request);
  const { record, certificateDer, spki, claims } = await provenCertificate(compact, audiences(call.url, renewal.apiUrl, RENEW_PATH), services, now);
  const key = claims.csr !== undefined ? await services.readCsr(claims.csr) : sameKey(spki, record.keyType);
  const requester = { requester: `renew:${record.serial.toUpperCase()}`, ...(call.clientAddress ? { client: call.clientAddress } : {}) };
  const issued = await renewedCertificate(services, renewal, { record, certificateDer }, key, requester, now, "renew");
  return json(
    { ...summary(issued.record), certificate: issued.certificatePem, chain: [services.caPem], renewed: record.serial.toUpperCase() },
    201,
    { location: `/v1/certificates/${issued.record.serial.toUpperCase()}` },
  );
}

/** A certificate whose holder proved it holds its key, and the proof's claims. */
export interface ProvenCertificate {
  record: CertificateRecord;
  certificateDer: Uint8Array;
  spki: Uint8Array;
  claims: RenewalClaims;
}

/**
 * The certificate a proof (`renew-proof.ts`) is signed for, once the proof
 * holds: the certificate is, byte for byte, one the ledger keeps; the
 * signature verifies with its key; `aud` is one of `audiences`; the time
 * window; the `jti` not seen before; the certificate neither revoked nor
 * expired (beyond --renew-after-expiry). Also EST's `simplereenroll`.
 */
export async function provenCertificate(compact: string, audiences: string[], services: ApiServices, now: Date): Promise<ProvenCertificate> {
  const renewal = services.renewal;
  if (!renewal) throw new HttpProblem(404, "this server does not renew certificates", { slug: "not-found" });
  const { alg, certificateDer } = readProofHeader(compact);

  // The certificate must be one this depot issued, exactly.
  let serial: string;
  let fields: ReturnType<typeof readCertificateDer>;
  try {
    serial = serialOfCertificate(certificateDer);
    fields = readCertificateDer(certificateDer);
  } catch {
    throw new HttpProblem(400, "malformed renewal request: x5c[0] is not an X.509 certificate", { slug: "bad-request" });
  }
  const record = await services.find(serial);
  const fingerprint = createHash("sha256").update(certificateDer).digest("hex");
  if (!record || record.fingerprint !== fingerprint) throw new HttpProblem(401, "the certificate in x5c was not issued by this depot", { slug: "unauthorized" });

  const payload = await verifyProof(compact, fields.spki, alg);
  const claims = checkClaims(payload, audiences, now);
  const refusal = renewalRefusal(record, now, renewal.afterExpiryMs);
  if (refusal) throw refusal;
  if (!seen.take(`${fingerprint}:${claims.jti}`, (claims.exp + 60) * 1000, now.getTime())) {
    throw new HttpProblem(401, "this renewal request was already used (jti); make a new one", { slug: "unauthorized" });
  }
  return { record, certificateDer, spki: fields.spki, claims };
}

/**
 * The renewed certificate, recorded with its audit record: the old one's
 * subject, names (`hostNamesOfCertificate`), profile, template and lifetime
 * (capped by the CA's end and the template's days), for `key` (the old key
 * or a request's).
 */
export async function renewedCertificate(
  services: ApiServices,
  renewal: RenewalSettings,
  old: { record: CertificateRecord; certificateDer: Uint8Array },
  key: Omit<RequestedCertificate, "subject" | "subjectAltNames">,
  requester: Requester,
  now: Date,
  /** `renew` (POST /v1/renew) or `est` (simplereenroll), for the issuance gate. */
  face: IssuanceFace,
): Promise<Issued> {
  const { subject, subjectAltNames, profile } = renewedNames(old.record, old.certificateDer);
  const lifetime = renewedLifetimeMs(old.record, renewal.caNotAfter, now, BACKDATE_MS);
  // The same template, and no longer than it now allows (depot.cnf may have shortened it since).
  const template = old.record.template;
  const longest = template === undefined ? Infinity : (services.templates.get(template).days ?? Infinity);
  // The half millisecond keeps the product with DAY_MS from rounding below the lifetime (Date truncates).
  const days = Math.min((lifetime + 0.5) / DAY_MS, longest);
  return services.signCsr({ ...key, subject, subjectAltNames }, { profile, ...(template ? { template } : {}), subject, subjectAltNames, days, face }, requester);
}

/** What a renewal keeps: the subject, the names beside the CN (the profile writes the CN's name into the SAN again, as at first issue), the profile. */
function renewedNames(record: CertificateRecord, certificateDer: Uint8Array): { subject: DistinguishedName; subjectAltNames: string[]; profile: "client" | "server" } {
  const profile = record.type as "client" | "server";
  const subject = parseDn(record.subject);
  const commonName = subject.find((attribute) => attribute.name === "CN")?.value.toLowerCase();
  const subjectAltNames = profile === "server" ? hostNamesOfCertificate(certificateDer).filter((name) => name !== commonName) : [];
  return { subject, subjectAltNames, profile };
}

/** The old certificate's key, for a renewal without a CSR. */
export function sameKey(spki: Uint8Array, keyType: string): Omit<RequestedCertificate, "subject" | "subjectAltNames"> {
  return { publicKeyDer: new Uint8Array(spki), keyType, family: describePublicKey(spki).family as KeyFamily };
}

/** The URLs `aud` may name: `path` at the origin the request came to, and at the --api-url clients use. */
export function audiences(url: URL, apiUrl: string | undefined, path: string): string[] {
  const called = `${url.origin}${path}`;
  return apiUrl ? [called, `${apiUrl}${path}`] : [called];
}

/** The body: `application/jose`, at most MAX_PROOF_BYTES. */
async function readJose(request: Request): Promise<string> {
  const type = request.headers.get("content-type");
  if (!type || !/^application\/jose\s*(;|$)/i.test(type)) {
    throw new HttpProblem(415, `send the renewal request as application/jose (a compact JWS)${type ? `, not ${type.split(";")[0]}` : ""}`, { headers: { "accept-post": "application/jose" } });
  }
  const declared = request.headers.get("content-length");
  if (declared !== null && Number(declared) > MAX_PROOF_BYTES) throw new HttpProblem(413, `the body is larger than ${MAX_PROOF_BYTES / 1024} KiB`);
  const bytes = new Uint8Array(await request.arrayBuffer());
  if (bytes.length > MAX_PROOF_BYTES) throw new HttpProblem(413, `the body is larger than ${MAX_PROOF_BYTES / 1024} KiB`);
  return Buffer.from(bytes).toString("latin1");
}
