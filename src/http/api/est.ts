/**
 * @module
 * EST (RFC 7030) under `/.well-known/est/`, the operations a device needs:
 * - `cacerts`: the CA certificate (and the root in a two-tier depot),
 *   public as RFC 7030 4.1.1 allows;
 * - `simpleenroll`: a certificate for a PKCS#10 request, authenticated by a
 *   depot token (Bearer, or HTTP Basic: token name and token), under the
 *   token's policy exactly as `POST /v1/certificates` (issue.ts); the
 *   template is the path's label (`/.well-known/est/NAME/simpleenroll`,
 *   RFC 7030 3.2.2), else the token's first, else the built-in named by the
 *   token's `--type`, else client (EST's devices are mostly TLS clients);
 * - `simplereenroll`: a new certificate for the holder of a current one.
 *   Bun.serve shows no TLS client certificate, so the holder proves it as
 *   `POST /v1/renew` does: a JWS signed by the certificate's key, here in
 *   the `X-Depot-Proof` header, for this URL. The request's subject and
 *   names must be the certificate's (RFC 7030 4.2.2); its key may be new;
 *   it keeps its template (a label, if given, must be that template).
 * `cacerts` answers under any label that names a template (one CA serves
 * them all). Each certificate's row and audit record are committed before
 * the answer.
 */
import { hostNamesOfCertificate } from "../../ca/certificate-names.ts";
import { formatDn, parseDn } from "../../ca/dn.ts";
import { serverNames } from "../../ca/profiles.ts";
import type { Template } from "../../ca/templates.ts";
import { HttpProblem } from "../problem.ts";
import type { Call } from "./call.ts";
import { pkcs7Answer, readPkcs10Body } from "./est-wire.ts";
import { askedTemplate, defaultDays, issueWithinPolicy } from "./issue.ts";
import { audiences, type OpenCall, provenCertificate, renewedCertificate } from "./renew.ts";
import type { ApiServices } from "./services.ts";

export const EST_PATH = "/.well-known/est";
/** The header that carries simplereenroll's proof of possession (a compact JWS, as the body of `POST /v1/renew`). */
export const PROOF_HEADER = "x-depot-proof";

export async function estCaCerts(call: OpenCall): Promise<Response> {
  const { services } = call;
  labelledTemplate(services, call.url);
  return pkcs7Answer(services.bundlePems ?? [services.caPem]);
}

export async function estSimpleEnroll(call: Call): Promise<Response> {
  const { services, token } = call;
  const template = labelledTemplate(services, call.url) ?? askedTemplate(call, undefined);
  const requested = await services.readCsr(await readPkcs10Body(call.request));
  const profile = template?.base ?? token.policy.type ?? "client";
  const issued = await issueWithinPolicy(call, {
    profile,
    ...(template ? { template } : {}),
    subject: requested.subject,
    subjectAltNames: profile === "server" ? requested.subjectAltNames : [],
    keyType: requested.keyType,
    days: defaultDays(call, template),
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
  const label = labelledTemplate(services, call.url);
  const proven = await provenCertificate(proof, audiences(call.url, renewal.apiUrl, call.url.pathname), services, now);
  const template = proven.record.template ?? proven.record.type;
  if (label && label.name !== template) {
    throw new HttpProblem(400, `this certificate was issued under template '${template}': renew it at ${EST_PATH}/${template}/simplereenroll, or without a label`, { slug: "bad-request" });
  }
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

/**
 * The template an EST path's label names (RFC 7030 3.2.2:
 * `/.well-known/est/LABEL/simpleenroll`); undefined without a label. A
 * label that names no template is a path this server does not have (404).
 */
function labelledTemplate(services: ApiServices, url: URL): Template | undefined {
  const label = /^\/\.well-known\/est\/([^/]+)\/[^/]+$/.exec(url.pathname)?.[1];
  if (label === undefined) return undefined;
  const template = services.templates.find(label);
  if (!template) {
    const shown = label.slice(0, 64).replace(/[^\x20-\x7e]/g, "?");
    throw new HttpProblem(404, `no EST label '${shown}': the labels are the depot's templates (depot template list)`, { slug: "not-found" });
  }
  return template;
}

/** Names compared as a set, case aside. */
function nameSet(names: string[]): string {
  return [...new Set(names.map((name) => name.toLowerCase()))].sort().join(",");
}
