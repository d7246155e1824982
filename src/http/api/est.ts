/**
 * @module
 * EST (RFC 7030) under `/.well-known/est/`, the operations a device needs:
 * - `cacerts`: the CA certificate (and the root in a two-tier depot),
 *   public as RFC 7030 4.1.1 allows;
 * - `simpleenroll`: a certificate for a PKCS#10 request, authenticated by a
 *   depot token (Bearer, or HTTP Basic: token name and token), under the
 *   token's policy exactly as `POST /v1/certificates` (issue.ts); the
 *   profile is the token's `--type`, else client (EST's devices are mostly
 *   TLS clients);
 * - `simplereenroll`: a new certificate for the holder of a current one.
 *   Bun.serve shows no TLS client certificate, so the holder proves it as
 *   `POST /v1/renew` does: a JWS signed by the certificate's key, here in
 *   the `X-Depot-Proof` header, for this URL. The request's subject and
 *   names must be the certificate's (RFC 7030 4.2.2); its key may be new.
 * Each certificate's row and audit record are committed before the answer.
 */
import { hostNamesOfCertificate } from "../../ca/certificate-names.ts";
import { formatDn, parseDn } from "../../ca/dn.ts";
import { serverNames } from "../../ca/profiles.ts";
import { HttpProblem } from "../problem.ts";
import type { Call } from "./call.ts";
import { pkcs7Answer, readPkcs10Body } from "./est-wire.ts";
import { issueWithinPolicy } from "./issue.ts";
import { audiences, type OpenCall, provenCertificate, renewedCertificate } from "./renew.ts";

export const EST_PATH = "/.well-known/est";
/** The header that carries simplereenroll's proof of possession (a compact JWS, as the body of `POST /v1/renew`). */
export const PROOF_HEADER = "x-depot-proof";

export async function estCaCerts(call: OpenCall): Promise<Response> {
  const { services } = call;
  return pkcs7Answer(services.bundlePems ?? [services.caPem]);
}

export async function estSimpleEnroll(call: Call): Promise<Response> {
  const { services, token } = call;
  const requested = await services.readCsr(await readPkcs10Body(call.request));
  const profile = token.policy.type ?? "client";
  const days = Math.min(services.defaultDays, token.policy.maxDays ?? Infinity);
  const issued = await issueWithinPolicy(call, {
    profile,
    subject: requested.subject,
    subjectAltNames: profile === "server" ? requested.subjectAltNames : [],
    keyType: requested.keyType,
    days,
    requested,
    face: "est",
  });
  return pkcs7Answer([issued.certificatePem]);
}

export async function estSimpleReenroll(call: OpenCall): Promise<Response> {
  const { services, now } = call;
  const renewal = services.renewal;
  if (!renewal) throw new HttpProblem(404, "this server does not renew certificates", { slug: "not-found" });
  const proof = call.request.headers.get(PROOF_HEADER);
  if (proof === null) {
    throw new HttpProblem(401, `simplereenroll needs a proof that you hold the current certificate's key: a compact JWS in the ${PROOF_HEADER} header (docs/api.md, "EST")`, {
      slug: "unauthorized",
      headers: { "www-authenticate": 'Depot-Proof realm="depot"' },
    });
  }
  const proven = await provenCertificate(proof, audiences(call.url, renewal.apiUrl, `${EST_PATH}/simplereenroll`), services, now);
  if (proven.claims.csr !== undefined) throw new HttpProblem(400, "for simplereenroll the certificate request is the body, not the proof's csr claim", { slug: "bad-request" });
  const requested = await services.readCsr(await readPkcs10Body(call.request));
  // The names compared are those the certificates carry: the CN's host name (server certificates) and the SANs.
  const profile = proven.record.type;
  const commonName = requested.subject.find((a) => a.name === "CN")?.value;
  const asked = profile === "server" ? serverNames(commonName, requested.subjectAltNames).map((name) => name.value) : requested.subjectAltNames;
  if (formatDn(requested.subject) !== formatDn(parseDn(proven.record.subject)) || nameSet(asked) !== nameSet(hostNamesOfCertificate(proven.certificateDer))) {
    throw new HttpProblem(400, `for simplereenroll the request's subject and names must be those of the certificate it renews (RFC 7030 4.2.2): ${proven.record.subject}`, { slug: "bad-request" });
  }
  const requester = { requester: `renew:${proven.record.serial.toUpperCase()}`, ...(call.clientAddress ? { client: call.clientAddress } : {}) };
  const { publicKeyDer, keyType, family } = requested;
  const issued = await renewedCertificate(services, renewal, proven, { publicKeyDer, keyType, family }, requester, now, "est");
  return pkcs7Answer([issued.certificatePem]);
}

/** Names compared as a set, case aside. */
function nameSet(names: string[]): string {
  return [...new Set(names.map((name) => name.toLowerCase()))].sort().join(",");
}
