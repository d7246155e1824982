/**
 * @module The ACME server (RFC 8555) as one function, `handle(Request):
 * Promise<Response>`, mounted under a base path (`/acme`) by whichever
 * listener serves HTTPS, and testable without a socket. It holds no state of
 * its own: accounts, orders, authorizations, challenges and used nonces are
 * in the store, so any worker answers any request.
 */

import { accountResource, keyChange, newAccount } from "./accounts.ts";
import { certificateResource, finalize, renewalInfo, revokeCert } from "./certificates.ts";
import { type Answer, type RequestContext, type Settings, type Shared, Urls } from "./context.ts";
import type { AcmeIssuer } from "./issuer.ts";
import { type SignedRequest, verifySignedRequest } from "./jws.ts";
import { LedgerNonceBook, type NonceBook } from "./nonce-book.ts";
import { Nonces } from "./nonces.ts";
import { authorizationResource, challengeResource, newOrder, orderResource, ordersList } from "./orders.ts";
import { NamePolicy } from "./policy.ts";
import { AcmeProblem, problem, problemOf } from "./problem.ts";
import { isServerSide, publicError } from "../public-error.ts";
import type { AcmeStore } from "../ca/acme-store.ts";
import { type QueueOptions, ValidationQueue } from "./validation-queue.ts";
import { type ValidatorOptions, Validators } from "./validators.ts";
import type { ChallengeType, Identifier } from "./types.ts";

import { DEFAULT_ACME_DAYS, DEFAULT_ORDERS_PER_HOUR } from "./defaults.ts";

export { DEFAULT_ACME_DAYS, DEFAULT_ORDERS_PER_HOUR };
const MAX_BODY_BYTES = 64 * 1024;

export interface AcmeServerOptions {
  store: AcmeStore;
  issuer: AcmeIssuer;
  /** Where spent nonces are kept (nonce-book.ts); by default in the store. */
  nonceBook?: NonceBook;
  /** Where the server is mounted (default /acme). */
  basePath?: string;
  /** The HTTPS base URL as clients reach it (`--api-url`); else each request's own origin. */
  apiUrl?: string;
  /** `--acme-allow` patterns; empty allows any well-formed name. */
  allow?: string[];
  days?: number;
  requireEab?: boolean;
  ordersPerHour?: number;
  termsOfService?: string;
  validators?: ValidatorOptions;
  queue?: QueueOptions;
  /** Replaces the network checks (unit tests). */
  validate?: Shared["validate"];
  now?: () => number;
}

export interface AcmeServer {
  handle(request: Request, context?: RequestContext): Promise<Response>;
  /** Validations still running in this process. */
  readonly queue: ValidationQueue;
}

type Route = (shared: Shared, urls: Urls, request: SignedRequest, id: string) => Promise<Answer>;

/** POST resources: the key header each wants, and its handler. `:id` is the last path segment. */
const POST_ROUTES: Array<{ pattern: RegExp; keyFrom: "jwk" | "kid" | "either"; route: Route }> = [
  { pattern: /^\/new-account$/, keyFrom: "jwk", route: (s, u, r) => newAccount(s, u, r) },
  { pattern: /^\/account\/([^/]+)$/, keyFrom: "kid", route: accountResource },
  { pattern: /^\/account\/([^/]+)\/orders$/, keyFrom: "kid", route: ordersList },
  { pattern: /^\/key-change$/, keyFrom: "kid", route: (s, u, r) => keyChange(s, u, r) },
  { pattern: /^\/new-order$/, keyFrom: "kid", route: (s, u, r) => newOrder(s, u, r) },
  { pattern: /^\/order\/([^/]+)$/, keyFrom: "kid", route: orderResource },
  { pattern: /^\/order\/([^/]+)\/finalize$/, keyFrom: "kid", route: finalize },
  { pattern: /^\/authz\/([^/]+)$/, keyFrom: "kid", route: authorizationResource },
  { pattern: /^\/chall\/([^/]+)$/, keyFrom: "kid", route: challengeResource },
  { pattern: /^\/cert\/([0-9a-f]+)$/, keyFrom: "kid", route: (s, _u, r, id) => certificateResource(s, r, id) },
  { pattern: /^\/revoke-cert$/, keyFrom: "either", route: (s, _u, r) => revokeCert(s, r) },
];

export function createAcmeServer(options: AcmeServerOptions): AcmeServer {
  const basePath = (options.basePath ?? "/acme").replace(/\/$/, "");
  const now = options.now ?? Date.now;
  const settings: Settings = {
    days: options.days ?? DEFAULT_ACME_DAYS,
    requireEab: options.requireEab ?? false,
    ordersPerHour: options.ordersPerHour ?? DEFAULT_ORDERS_PER_HOUR,
    ...(options.termsOfService ? { termsOfService: options.termsOfService } : {}),
    // The longest a live validator can take (every attempt timing out), plus a margin.
    staleValidationMs: (options.queue?.attempts ?? 3) * (options.validators?.timeoutMs ?? 10_000) + ((options.queue?.attempts ?? 3) - 1) * (options.queue?.retryDelayMs ?? 2000) + 10_000,
  };
  const validators = new Validators(options.validators);
  const queue = new ValidationQueue(options.queue);
  const shared: Shared = {
    store: options.store,
    issuer: options.issuer,
    nonces: new Nonces(options.nonceBook ?? new LedgerNonceBook(options.store), now),
    policy: new NamePolicy(options.allow ?? []),
    queue,
    validating: new Map(),
    validate: options.validate ?? ((type: ChallengeType, identifier: Identifier, token: string, thumbprint: string) => validators.validate(type, identifier, token, thumbprint)),
    settings,
    now,
  };
  const apiBase = options.apiUrl ? `${options.apiUrl.replace(/\/$/, "")}${basePath}` : undefined;

  async function respond(urls: Urls, answer: Answer): Promise<Response> {
    const headers = new Headers(answer.headers);
    // A nonce needs the secret in the ledger; with the ledger out of reach an error answer (the 503) goes without one.
    const nonce = await shared.nonces.issue().catch((error) => {
      if (answer.status >= 400 && publicError(error).kind === "unavailable") return undefined;
      throw error;
    });
    if (nonce) headers.set("Replay-Nonce", nonce);
    headers.append("Link", `<${urls.directory()}>;rel="index"`);
    headers.set("Cache-Control", "no-store");
    if (answer.pem !== undefined) {
      headers.set("Content-Type", "application/pem-certificate-chain");
      return new Response(answer.pem, { status: answer.status, headers });
    }
    if (answer.body === undefined) return new Response(null, { status: answer.status, headers });
    headers.set("Content-Type", answer.status >= 400 ? "application/problem+json" : "application/json");
    return new Response(JSON.stringify(answer.body), { status: answer.status, headers });
  }

  function directory(urls: Urls): Answer {
    return {
      status: 200,
      body: {
        newNonce: urls.newNonce(),
        newAccount: urls.newAccount(),
        newOrder: urls.newOrder(),
        revokeCert: urls.revokeCert(),
        keyChange: urls.keyChange(),
        renewalInfo: urls.renewalInfo(),
        meta: {
          externalAccountRequired: settings.requireEab,
          ...(settings.termsOfService ? { termsOfService: settings.termsOfService } : {}),
          profiles: { default: `server certificates for ${settings.days} days` },
        },
      },
    };
  }

  async function route(request: Request, urls: Urls, path: string, context: RequestContext): Promise<Answer> {
    const method = request.method;
    if (path === "/directory" && method === "GET") return directory(urls);
    if (path === "/new-nonce" && (method === "HEAD" || method === "GET")) return { status: method === "GET" ? 204 : 200 };
    const ari = /^\/renewal-info\/([^/]+)$/.exec(path);
    if (ari && method === "GET") return renewalInfo(shared, ari[1]!);
    const post = POST_ROUTES.find((r) => r.pattern.test(path));
    if (!post) throw problem("malformed", `no ACME resource at ${path}`, { status: 404 });
    if (method !== "POST") throw problem("malformed", `${path} takes POST (POST-as-GET for reading)`, { status: 405, headers: { Allow: "POST" } });
    if ((request.headers.get("content-type") ?? "").split(";")[0]!.trim().toLowerCase() !== "application/jose+json") {
      throw problem("malformed", "the Content-Type of an ACME POST must be application/jose+json", { status: 415 });
    }
    const body = await request.text();
    if (body.length > MAX_BODY_BYTES) throw problem("malformed", `the request body is larger than ${MAX_BODY_BYTES / 1024} KiB`, { status: 413 });
    const signed = await verifySignedRequest(body, `${urls.base}${path}`, post.keyFrom, {
      nonces: shared.nonces,
      accountUrlPrefix: urls.accountPrefix(),
      findAccount: (id) => shared.store.accountById(id),
    });
    if (context.clientAddress) signed.clientAddress = context.clientAddress;
    return post.route(shared, urls, signed, post.pattern.exec(path)![1] ?? "");
  }

  return {
    queue,
    async handle(request: Request, context: RequestContext = {}): Promise<Response> {
      const url = new URL(request.url);
      const urls = new Urls(apiBase ?? `${url.origin}${basePath}`);
      const path = url.pathname.startsWith(basePath) ? url.pathname.slice(basePath.length) : url.pathname;
      try {
        return await respond(urls, await route(request, urls, path, context));
      } catch (error) {
        // Whatever failed, one problem document: a busy or unreachable ledger is a retryable 503, a bug a 500 without its details.
        const answered = problemOf(error);
        if (!(error instanceof AcmeProblem) && isServerSide(publicError(error).kind)) console.error(`acme: ${request.method} ${path}: ${(error as Error)?.stack ?? error}`);
        const headers: Record<string, string> = { ...answered.options.headers };
        if (answered.options.retryAfterSeconds !== undefined) headers["Retry-After"] = String(answered.options.retryAfterSeconds);
        return respond(urls, { status: answered.status, body: answered.toDocument(), headers });
      }
    },
  };
}
