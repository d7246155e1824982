/**
 * @module
 * The HTTPS JSON API (`/v1/`, and EST under `/.well-known/est/`): a
 * function from a Request to a Response with its services injected, as
 * hono's `app.request()`, so every route and every error is tested without
 * a socket. Whatever a handler throws becomes an
 * RFC 9457 problem document here, and only here.
 */
import { DepotError, type ErrorCode } from "../../errors.ts";
import { type ErrorKind, isServerSide, publicError } from "../../public-error.ts";
import { HttpProblem, problemResponse } from "../problem.ts";
import type { TokenRecord } from "../../ca/tokens.ts";
import { authenticate, KnownTokens, requireAdmin, revokedMeanwhile, type TokenSchemes } from "./auth.ts";
import { type Call, issueCertificate, listCertificates, revokeCertificate, showCertificate } from "./certificates.ts";
import { estCaCerts, estSimpleEnroll, estSimpleReenroll } from "./est.ts";
import { type OpenCall, renewCertificate } from "./renew.ts";
import type { ApiServices } from "./services.ts";
import { issueSshCertificate, revokeSshCertificate } from "./ssh-certificates.ts";

export type { ApiServices } from "./services.ts";

/** What the listener knows of the connection. */
export interface ApiContext {
  /** The client's IP address, for the audit trail. */
  clientAddress?: string;
}

export interface ApiHooks {
  /** An error that is a bug, not the client's: log it (the client gets 500 without details). */
  internalError(error: unknown): void;
  /** Each answered request, for logs and metrics: the route's name, the status, the time taken. */
  served?(route: string, status: number, ms: number): void;
  /** Each request as it is taken up (debug logs: what a graceful stop must still answer). */
  received?(method: string, path: string): void;
}

export type ApiHandler = (request: Request, context?: ApiContext) => Promise<Response>;

type Route =
  /** `schemes`: how the token may come (default: Bearer only; EST's clients may know only HTTP Basic). */
  /**
   * `issuing`: the methods whose token only asks for an issuance through
   * issueWithinPolicy, which the ledger records only while the token is
   * unrevoked: a token seen lately is not read again (KnownTokens).
   */
  | {
      name: string;
      pattern: RegExp;
      methods: Record<string, (call: Call, ...params: string[]) => Promise<Response>>;
      withoutToken?: false;
      schemes?: TokenSchemes;
      issuing?: string[];
    }
  /** A route whose request authenticates itself (renew: a JWS by the certificate's key) or needs no one (EST's cacerts): no token is asked for. */
  | { name: string; pattern: RegExp; methods: Record<string, (call: OpenCall) => Promise<Response>>; withoutToken: true };

const ROUTES: Route[] = [
  { name: "certificates", pattern: /^\/v1\/certificates\/?$/, methods: { POST: issueCertificate, GET: listCertificates }, issuing: ["POST"] },
  { name: "certificate", pattern: /^\/v1\/certificates\/([^/]+)$/, methods: { GET: showCertificate } },
  { name: "revoke", pattern: /^\/v1\/certificates\/([^/]+)\/revoke$/, methods: { POST: revokeCertificate } },
  { name: "metrics", pattern: /^\/v1\/metrics$/, methods: { GET: metrics } },
  { name: "ssh-certificates", pattern: /^\/v1\/ssh\/certificates\/?$/, methods: { POST: issueSshCertificate } },
  { name: "ssh-revoke", pattern: /^\/v1\/ssh\/certificates\/([^/]+)\/revoke$/, methods: { POST: revokeSshCertificate } },
  { name: "renew", pattern: /^\/v1\/renew$/, methods: { POST: renewCertificate }, withoutToken: true },
  // EST's optional label (RFC 7030 3.2.2) names a template: /.well-known/est/NAME/simpleenroll (est.ts reads it).
  { name: "est-cacerts", pattern: /^\/\.well-known\/est\/(?:[^/]+\/)?cacerts$/, methods: { GET: estCaCerts }, withoutToken: true },
  { name: "est-simpleenroll", pattern: /^\/\.well-known\/est\/(?:[^/]+\/)?simpleenroll$/, methods: { POST: estSimpleEnroll }, schemes: "bearer-or-basic", issuing: ["POST"] },
  { name: "est-simplereenroll", pattern: /^\/\.well-known\/est\/(?:[^/]+\/)?simplereenroll$/, methods: { POST: estSimpleReenroll }, withoutToken: true },
];

export function createApi(services: ApiServices, hooks: ApiHooks): ApiHandler {
  const known = new KnownTokens();
  return async (request, context = {}) => {
    const started = performance.now();
    let routeName = "unknown";
    let response: Response;
    let token: TokenRecord | undefined;
    let schemes: TokenSchemes | undefined;
    try {
      const url = new URL(request.url);
      hooks.received?.(request.method, url.pathname);
      const route = ROUTES.find((r) => r.pattern.test(url.pathname));
      if (!route) throw new HttpProblem(404, `no such API path: ${url.pathname.slice(0, 100)}`, { slug: "not-found" });
      routeName = route.name;
      const method = request.method === "HEAD" ? "GET" : request.method;
      if (!Object.hasOwn(route.methods, method)) throw new HttpProblem(405, `${request.method} is not allowed on ${url.pathname.slice(0, 100)}`, { headers: { allow: Object.keys(route.methods).join(", ") } });
      const now = services.now();
      if (route.withoutToken) {
        response = await route.methods[method]!({ request, url, services, now, ...(context.clientAddress ? { clientAddress: context.clientAddress } : {}) });
      } else {
        const params = route.pattern.exec(url.pathname)!.slice(1).map(decodeURIComponent);
        schemes = route.schemes;
        token = await authenticate(request, services, now, schemes, route.issuing?.includes(method) ? known : undefined);
        const requester = { requester: `token:${token.name}`, ...(context.clientAddress ? { client: context.clientAddress } : {}) };
        response = await route.methods[method]!({ request, url, token, requester, services, now }, ...params);
      }
    } catch (error) {
      if (token && error instanceof DepotError && error.code === "E_REVOKED_TOKEN") {
        // Revoked since it was last read: read afresh from now on, and say so as any 401 does.
        known.forget(token.hash);
        response = problemResponse(revokedMeanwhile(token, schemes));
      } else response = problemResponse(asProblem(error, hooks));
    }
    hooks.served?.(routeName, response.status, performance.now() - started);
    return response;
  };
}

async function metrics(call: Call): Promise<Response> {
  requireAdmin(call.token, "reading metrics");
  if (!call.services.metrics) throw new HttpProblem(404, "this server keeps no metrics", { slug: "not-found" });
  return new Response(await call.services.metrics(), { headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8", "cache-control": "no-store" } });
}

/** Each kind's problem type (`urn:depot:problem:<slug>`), as docs/api.md lists them. */
const SLUG: Record<ErrorKind, string> = {
  "bad-request": "bad-request",
  unauthorized: "unauthorized",
  forbidden: "outside-policy",
  "not-found": "not-found",
  conflict: "already-revoked",
  unavailable: "ledger-unavailable",
  internal: "server-error",
};

/** Codes whose problem type says more than their kind's: the issuance webhooks' answers (docs/webhooks.md). */
const SLUG_OF_CODE: Partial<Record<ErrorCode, string>> = { E_DENIED: "denied", E_GATE_UNAVAILABLE: "webhook-unavailable" };

/** Every error as the problem document the client gets: the handlers' own problems as thrown, anything else by the one policy (public-error.ts). */
export function asProblem(error: unknown, hooks: ApiHooks): HttpProblem {
  if (error instanceof HttpProblem) return error;
  const failure = publicError(error);
  if (isServerSide(failure.kind)) hooks.internalError(error);
  const retry = failure.retryAfter === undefined ? {} : { headers: { "retry-after": String(failure.retryAfter) }, extensions: { retryAfter: failure.retryAfter } };
  const slug = (error instanceof DepotError && SLUG_OF_CODE[error.code]) || SLUG[failure.kind];
  return new HttpProblem(failure.status, failure.message, { slug, ...retry, cause: error });
}
