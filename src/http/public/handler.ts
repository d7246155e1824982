/**
 * @module
 * The plain-HTTP listener's routes: public PKI data, no authentication.
 *
 *   GET  /ocsp/<base64 request>   RFC 6960 appendix A.1 (any number of path segments)
 *   POST /ocsp                    application/ocsp-request
 *   GET  /crl, /crl.pem           the CRL, DER or PEM
 *   GET  /ca, /ca.pem             the issuing CA, DER or PEM: the leaves' issuer, what caIssuers
 *                                 names (the intermediate in a two-tier depot, else the one CA)
 *   GET  /root, /root.pem         the root clients trust, DER or PEM (the one CA in a one-tier depot)
 *   GET  /root.crl, /root.crl.pem the root's CRL for the intermediate, DER or PEM; 404 in a
 *                                 one-tier depot, which has no root CRL (its CA's CRL is /crl)
 *   GET  /ssh/krl                 the SSH CAs' KRL (OpenSSH binary), for sshd's RevokedKeys
 *   GET  /ssh/user_ca.pub, /ssh/host_ca.pub  the SSH CAs' public keys (TrustedUserCAKeys, @cert-authority)
 *   GET  /scep, POST /scep        SCEP (RFC 8894, src/http/scep/): GetCACaps, GetCACert, PKIOperation
 *   GET  /health                  JSON: ok, version, workers, ledger reachable
 *   GET  /metrics                 Prometheus text, to loopback clients only
 *
 * A `(Request, client address) => Response` function, as hono's apps are,
 * so tests call it without a socket; the worker serves it with Bun.serve.
 */
import { VERSION } from "../../version.ts";
/** Where the routes count requests (the worker's metrics registry): what they need of it, so this face imports no server module. */
export interface RequestCounter {
  count(name: string, labels: Record<string, string>): void;
  observe(name: string, labels: Record<string, string>, value: number): void;
}
import type { OcspAnswer, OcspResponder } from "../../ocsp/responder.ts";
import { decodeGetPath, MalformedOcspRequest } from "../../ocsp/request.ts";
import type { CrlCopy, Publication } from "./publication.ts";
import { sshLayout } from "../../ca/ssh/ssh-ca.ts";

/** The SSH routes and the depot file each serves. */
const SSH_ROUTES = new Map<string, (depotRoot: string) => string>([
  ["/ssh/krl", (root) => sshLayout(root).krl],
  ["/ssh/user_ca.pub", (root) => sshLayout(root).publicKey("user")],
  ["/ssh/host_ca.pub", (root) => sshLayout(root).publicKey("host")],
]);

export interface PublicRoutesOptions {
  ocsp: OcspResponder;
  publication: Publication;
  /** Counts requests and OCSP statuses; absent in tests that do not look. */
  metrics?: RequestCounter;
  /** The Prometheus text of all workers (MetricsReporter.scrape). */
  scrape?: () => string;
  /** Whether the ledger answers a read, for /health. */
  ledgerReachable: () => Promise<boolean>;
  /** Workers serving, for /health. */
  workers: () => number;
  /** Told of an unexpected error (it is answered 500, or OCSP internalError). */
  onError?: (error: unknown) => void;
  /** SCEP at /scep; absent: 404. */
  scep?: (request: Request, clientAddress: string | undefined) => Promise<Response>;
}

/** Largest POST body: an OCSP request for a handful of certificates is a few hundred bytes. */
export const MAX_OCSP_REQUEST_BYTES = 16 * 1024;

export type PublicHandler = (request: Request, clientAddress: string | undefined) => Promise<Response>;

export function publicRoutes(options: PublicRoutesOptions): PublicHandler {
  return async (request, clientAddress) => {
    const started = performance.now();
    const path = pathOf(request.url);
    const route = routeOf(path);
    let response: Response;
    try {
      response = await answer(options, request, route, path, clientAddress);
    } catch (error) {
      options.onError?.(error);
      response = text(500, "internal error\n");
    }
    const metrics = options.metrics;
    if (metrics) {
      const outcome = response.status < 400 ? "ok" : response.status < 500 ? "client_error" : "server_error";
      metrics.count("depot_requests_total", { listener: "http", route, outcome });
      metrics.observe("depot_request_duration_seconds", { listener: "http", route }, (performance.now() - started) / 1000);
    }
    return response;
  };
}

/** The path of an absolute URL as Bun hands it over (`http://host:port/path?query`), without building a URL object. */
function pathOf(url: string): string {
  const start = url.indexOf("/", url.indexOf("//") + 2);
  if (start === -1) return "/";
  const query = url.indexOf("?", start);
  return query === -1 ? url.slice(start) : url.slice(start, query);
}

/** The route a path belongs to: a label with few values (the OCSP request in a GET path is not one). */
function routeOf(path: string): string {
  if (path === "/ocsp" || path.startsWith("/ocsp/")) return "/ocsp";
  if (path === "/scep") return "/scep";
  return ["/crl", "/crl.pem", "/ca", "/ca.pem", "/root", "/root.pem", "/root.crl", "/root.crl.pem", "/health", "/metrics", ...SSH_ROUTES.keys()].includes(path) ? path : "other";
}

async function answer(options: PublicRoutesOptions, request: Request, route: string, path: string, clientAddress: string | undefined): Promise<Response> {
  const method = request.method;
  if (route === "/ocsp") return ocsp(options, request, path);
  if (route === "/scep") return options.scep ? options.scep(request, clientAddress) : text(404, "this server does not answer SCEP\n");
  if (route === "other") return text(404, `no such resource: ${path}\n`);
  if (method !== "GET" && method !== "HEAD") return text(405, `${path} answers GET and HEAD\n`, { Allow: "GET, HEAD" });
  const { publication } = options;
  switch (route) {
    case "/ca":
      return bytes(publication.caDer, "application/pkix-cert");
    case "/ca.pem":
      return bytes(new TextEncoder().encode(publication.caPem), "application/x-pem-file");
    case "/root":
      return bytes(publication.rootDer, "application/pkix-cert");
    case "/root.pem":
      return bytes(new TextEncoder().encode(publication.rootPem), "application/x-pem-file");
    case "/crl":
    case "/crl.pem":
      return crlResponse(publication.currentCrl(), route === "/crl");
    case "/root.crl":
    case "/root.crl.pem": {
      // A one-tier depot has no root CRL: its one CA's CRL is /crl.
      const crl = publication.currentRootCrl();
      if (!crl) return text(404, `${path}: this depot has one tier; its CA's CRL is /crl\n`);
      return crlResponse(crl, route === "/root.crl");
    }
    case "/ssh/krl":
    case "/ssh/user_ca.pub":
    case "/ssh/host_ca.pub": {
      const file = publication.depotRoot ? publication.currentSshFile(SSH_ROUTES.get(route)!(publication.depotRoot)) : undefined;
      if (!file) return text(404, "this depot has no SSH CA (depot ssh init makes one)\n");
      return bytes(file, route === "/ssh/krl" ? "application/octet-stream" : "text/plain; charset=utf-8", { "Cache-Control": "no-cache" });
    }
    case "/health": {
      const ledger = await options.ledgerReachable().catch(() => false);
      const body = { ok: ledger, version: VERSION, workers: options.workers(), ledger: ledger ? "reachable" : "unreachable" };
      return new Response(`${JSON.stringify(body)}\n`, { status: ledger ? 200 : 503, headers: { "Content-Type": "application/json", "Cache-Control": "no-store" } });
    }
    case "/metrics":
      if (!isLoopback(clientAddress)) return text(403, "/metrics is answered to loopback clients only; behind a reverse proxy, restrict it there\n");
      if (!options.scrape) return text(404, "metrics are not collected here\n");
      return new Response(options.scrape(), { headers: { "Content-Type": "text/plain; version=0.0.4; charset=utf-8", "Cache-Control": "no-store" } });
  }
  return text(404, `no such resource: ${path}\n`);
}

async function ocsp(options: PublicRoutesOptions, request: Request, path: string): Promise<Response> {
  let answer: OcspAnswer;
  if (request.method === "GET" || request.method === "HEAD") {
    const encoded = path.slice("/ocsp/".length);
    let der: Uint8Array | undefined;
    try {
      der = encoded ? decodeGetPath(encoded) : undefined;
    } catch (error) {
      if (!(error instanceof MalformedOcspRequest)) throw error;
    }
    answer = der ? await respond(options, der) : options.ocsp.malformed();
  } else if (request.method === "POST") {
    const type = request.headers.get("content-type")?.split(";")[0]?.trim().toLowerCase();
    if (type !== "application/ocsp-request") return text(415, "POST /ocsp takes Content-Type: application/ocsp-request\n");
    const length = Number(request.headers.get("content-length") ?? 0);
    if (length > MAX_OCSP_REQUEST_BYTES) return text(413, `an OCSP request is at most ${MAX_OCSP_REQUEST_BYTES} bytes\n`);
    const body = new Uint8Array(await request.arrayBuffer());
    if (body.length > MAX_OCSP_REQUEST_BYTES) return text(413, `an OCSP request is at most ${MAX_OCSP_REQUEST_BYTES} bytes\n`);
    answer = body.length > 0 ? await respond(options, body) : options.ocsp.malformed();
  } else {
    return text(405, "/ocsp answers GET and POST\n", { Allow: "GET, POST" });
  }
  options.metrics?.count("depot_ocsp_responses_total", { status: answer.certificateStatus ?? answer.responseStatus });
  return ocspResponse(answer, request);
}

async function respond(options: PublicRoutesOptions, der: Uint8Array): Promise<OcspAnswer> {
  try {
    return await options.ocsp.respond(der);
  } catch (error) {
    // A ledger that cannot be read: the client may try again (RFC 6960 internalError).
    options.onError?.(error);
    return options.ocsp.internalError();
  }
}

/** RFC 5019 section 6: a response without a nonce may be cached by HTTP caches until its nextUpdate. */
function ocspResponse(answer: OcspAnswer, request: Request): Response {
  const headers: Record<string, string> = { "Content-Type": "application/ocsp-response" };
  if (answer.cacheable && answer.httpDates && answer.nextUpdate && answer.etag) {
    const maxAge = Math.max(0, Math.floor((answer.nextUpdate.getTime() - Date.now()) / 1000));
    headers["Last-Modified"] = answer.httpDates.lastModified;
    headers.Expires = answer.httpDates.expires;
    headers["Cache-Control"] = `max-age=${maxAge}, public, no-transform, must-revalidate`;
    headers.ETag = answer.etag;
    if (request.method !== "POST" && request.headers.get("if-none-match") === answer.etag) return new Response(null, { status: 304, headers });
  } else {
    headers["Cache-Control"] = "no-store";
  }
  return new Response(request.method === "HEAD" ? null : (answer.body as Uint8Array<ArrayBuffer>), { headers });
}

function crlResponse(crl: CrlCopy, der: boolean): Response {
  const headers: Record<string, string> = { "Last-Modified": crl.thisUpdate.toUTCString() };
  if (crl.nextUpdate) headers.Expires = crl.nextUpdate.toUTCString();
  return bytes(der ? crl.der : new TextEncoder().encode(crl.pem), der ? "application/pkix-crl" : "application/x-pem-file", headers);
}

function bytes(body: Uint8Array, type: string, extra: Record<string, string> = {}): Response {
  return new Response(body as Uint8Array<ArrayBuffer>, { headers: { "Content-Type": type, ...extra } });
}

function text(status: number, body: string, extra: Record<string, string> = {}): Response {
  return new Response(body, { status, headers: { "Content-Type": "text/plain; charset=utf-8", ...extra } });
}

export function isLoopback(address: string | undefined): boolean {
  if (!address) return false;
  return address === "::1" || /^127\./.test(address) || /^::ffff:127\./i.test(address);
}
