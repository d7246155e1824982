/**
 * @module Orders, authorizations and challenges (RFC 8555 7.4, 7.5): a
 * newOrder checked against the policy and the account's hourly limit, one
 * authorization per identifier with the challenges that can prove it,
 * validation started by a challenge POST and run by the queue, and an
 * order's status derived from its authorizations on every read, so whichever
 * worker answers sees the same state.
 */

import { randomBytes } from "node:crypto";
import { type Answer, deadOwner, OWNER, type RunningValidation, type Shared, type Urls } from "./context.ts";
import type { SignedRequest } from "./jws.ts";
import { NamePolicy, normaliseIdentifier } from "./policy.ts";
import { problem, type ProblemDocument } from "./problem.ts";
import { parseCertId } from "./ari.ts";
import { newId } from "./ids.ts";
import { settleWithin } from "../settle-within.ts";
import type { Claim } from "../ca/acme-store.ts";
import type { Account, Authorization, Challenge, ChallengeType, Identifier, Order, OrderStatus } from "./types.ts";

const ORDER_LIFETIME_MS = 24 * 3_600_000;
const AUTHORIZATION_LIFETIME_MS = 7 * 24 * 3_600_000;
const MAX_IDENTIFIERS = 100;
/** Seconds a client is told to wait before polling something pending. */
export const POLL_SECONDS = "1";
/** How long a challenge POST waits for its validation before answering `processing`. */
const QUICK_VALIDATION_MS = 100;

const iso = (ms: number) => new Date(ms).toISOString();

export async function newOrder(shared: Shared, urls: Urls, request: SignedRequest): Promise<Answer> {
  const account = request.account!;
  const payload = request.payload as { identifiers?: unknown; replaces?: unknown } | undefined;
  if (!payload || !Array.isArray(payload.identifiers) || payload.identifiers.length === 0) throw problem("malformed", "a newOrder needs a non-empty identifiers list");
  if (payload.identifiers.length > MAX_IDENTIFIERS) throw problem("rejectedIdentifier", `an order may name at most ${MAX_IDENTIFIERS} identifiers`);
  const identifiers: Identifier[] = [];
  for (const raw of payload.identifiers) {
    const id = normaliseIdentifier(raw);
    if (!identifiers.some((i) => i.type === id.type && i.value === id.value)) identifiers.push(id);
  }
  await checkPolicy(shared, account, identifiers);
  if (payload.replaces !== undefined) {
    if (typeof payload.replaces !== "string") throw problem("malformed", "replaces must be an ARI certificate identifier");
    parseCertId(payload.replaces);
  }

  const now = shared.now();
  const hourAgo = now - 3_600_000;
  const recent = await shared.store.ordersSince(account.id, hourAgo);
  if (recent.count >= shared.settings.ordersPerHour) {
    const wait = Math.max(1, Math.ceil(((recent.oldest ?? now) + 3_600_000 - now) / 1000));
    throw problem("rateLimited", `this account made ${recent.count} orders in the last hour, the limit is ${shared.settings.ordersPerHour}; retry in ${wait} s`, {
      retryAfterSeconds: wait,
    });
  }

  const orderId = newId();
  const authorizations: Authorization[] = [];
  const challenges: Challenge[] = [];
  for (const identifier of identifiers) {
    const wildcard = identifier.type === "dns" && identifier.value.startsWith("*.");
    const authorization: Authorization = {
      id: newId(),
      accountId: account.id,
      orderId,
      identifier,
      wildcard,
      status: "pending",
      expires: now + AUTHORIZATION_LIFETIME_MS,
    };
    authorizations.push(authorization);
    // A wildcard can be proven only in DNS; an address has no DNS name to put a TXT record under.
    const types: ChallengeType[] = wildcard ? ["dns-01"] : identifier.type === "ip" ? ["http-01", "tls-alpn-01"] : ["http-01", "dns-01", "tls-alpn-01"];
    for (const type of types) {
      challenges.push({ id: newId(), authorizationId: authorization.id, type, token: randomBytes(32).toString("base64url"), status: "pending" });
    }
  }
  const order: Order = {
    id: orderId,
    accountId: account.id,
    status: "pending",
    identifiers,
    authorizationIds: authorizations.map((a) => a.id),
    expires: now + ORDER_LIFETIME_MS,
    ...(typeof payload.replaces === "string" ? { replaces: payload.replaces } : {}),
    createdAt: now,
  };
  await shared.store.createOrder(order, authorizations, challenges);
  // Its authorizations as just written: reading them back would cost a query for the same answer.
  return { status: 201, body: await orderJson(shared, urls, order, authorizations), headers: { Location: urls.order(orderId) } };
}

/** Refuses (rejectedIdentifier) identifiers outside --acme-allow or the account's binding: at newOrder, and for names the enrich webhook adds at finalize. */
export async function checkPolicy(shared: Shared, account: Account, identifiers: Identifier[]): Promise<void> {
  const binding = account.eabKid ? await shared.store.eabKey(account.eabKid) : undefined;
  const bindingPolicy = binding && binding.allow.length > 0 ? new NamePolicy(binding.allow) : undefined;
  const rejected = identifiers.filter((id) => !shared.policy.allows(id) || (bindingPolicy && !bindingPolicy.allows(id)));
  if (rejected.length > 0) {
    const names = rejected.map((id) => id.value).join(", ");
    const subproblems: ProblemDocument[] = rejected.map((identifier) => ({
      type: "urn:ietf:params:acme:error:rejectedIdentifier",
      detail: `${identifier.value} is outside the allowed names`,
      identifier,
    }));
    throw problem("rejectedIdentifier", `depot's ACME policy does not allow ${names}`, { subproblems });
  }
}

/** The order's status as clients see it: pending becomes ready, or invalid, from its authorizations. */
export async function effectiveStatus(shared: Shared, order: Order, authorizations?: Authorization[]): Promise<OrderStatus> {
  if (order.status !== "pending") return order.status;
  const now = shared.now();
  if (order.expires <= now) return "invalid";
  const authz = authorizations ?? (await shared.store.authorizationsOf(order.id));
  if (authz.some((a) => a.status !== "pending" && a.status !== "valid")) return "invalid";
  if (authz.some((a) => a.expires <= now)) return "invalid";
  return authz.every((a) => a.status === "valid") ? "ready" : "pending";
}

export async function orderJson(shared: Shared, urls: Urls, order: Order, authorizations?: Authorization[]): Promise<Record<string, unknown>> {
  const status = await effectiveStatus(shared, order, authorizations);
  const failed = status === "invalid" && !order.error ? await firstFailure(shared, order) : order.error;
  return {
    status,
    expires: iso(order.expires),
    identifiers: order.identifiers,
    authorizations: order.authorizationIds.map(urls.authorization),
    finalize: urls.finalize(order.id),
    ...(order.replaces ? { replaces: order.replaces } : {}),
    ...(failed ? { error: failed } : {}),
    ...(order.certificateSerial ? { certificate: urls.certificate(order.certificateSerial) } : {}),
  };
}

async function firstFailure(shared: Shared, order: Order): Promise<ProblemDocument | undefined> {
  for (const authorization of await shared.store.authorizationsOf(order.id)) {
    if (authorization.status === "invalid") {
      const failed = (await shared.store.challengesOf(authorization.id)).find((c) => c.error);
      return { type: "urn:ietf:params:acme:error:unauthorized", detail: `authorization for ${authorization.identifier.value} failed`, ...(failed?.error ? { subproblems: [failed.error] } : {}) };
    }
  }
  return order.expires <= shared.now() ? { type: "urn:ietf:params:acme:error:malformed", detail: "the order expired" } : undefined;
}

/** `resource` when it exists and belongs to the request's account; otherwise the problem that says which it is not. */
function owned<T extends { accountId: string }>(resource: T | undefined, what: "order" | "authorization", id: string, request: SignedRequest): T {
  if (!resource) throw problem("malformed", `no ${what} ${id}`, { status: 404 });
  if (resource.accountId !== request.account!.id) throw problem("unauthorized", `this ${what} belongs to another account`);
  return resource;
}

export async function ownedOrder(shared: Shared, request: SignedRequest, id: string): Promise<Order> {
  return owned(await shared.store.order(id), "order", id, request);
}

export async function orderResource(shared: Shared, urls: Urls, request: SignedRequest, id: string): Promise<Answer> {
  const order = await ownedOrder(shared, request, id);
  const body = await orderJson(shared, urls, order);
  const pending = body.status === "pending" || body.status === "processing";
  return { status: 200, body, headers: pending ? { "Retry-After": POLL_SECONDS } : {} };
}

export async function ordersList(shared: Shared, urls: Urls, request: SignedRequest, accountId: string): Promise<Answer> {
  if (request.account!.id !== accountId) throw problem("unauthorized", "these orders belong to another account");
  return { status: 200, body: { orders: (await shared.store.ordersOf(accountId, shared.now())).map(urls.order) } };
}

function challengeJson(urls: Urls, challenge: Challenge): Record<string, unknown> {
  return {
    type: challenge.type,
    url: urls.challenge(challenge.id),
    status: challenge.status,
    token: challenge.token,
    ...(challenge.validated ? { validated: iso(challenge.validated) } : {}),
    ...(challenge.error ? { error: challenge.error } : {}),
  };
}

async function ownedAuthorization(shared: Shared, request: SignedRequest, id: string): Promise<Authorization> {
  return owned(await shared.store.authorization(id), "authorization", id, request);
}

export async function authorizationResource(shared: Shared, urls: Urls, request: SignedRequest, id: string): Promise<Answer> {
  let authorization = await ownedAuthorization(shared, request, id);
  const payload = request.payload as { status?: unknown } | undefined;
  if (payload?.status !== undefined) {
    if (payload.status !== "deactivated") throw problem("malformed", "an authorization's status can only be changed to deactivated");
    await shared.store.setAuthorizationStatus(id, "deactivated");
    authorization = { ...authorization, status: "deactivated" };
  }
  const challenges = await shared.store.challengesOf(id);
  // A validation whose worker died (SIGKILL) is taken over by whoever is polling.
  for (const challenge of challenges) if (challenge.status === "processing") await takeOverValidation(shared, request.account!, authorization, challenge);
  const now = shared.now();
  const status = authorization.status === "pending" && authorization.expires <= now ? "expired" : authorization.status;
  const body = {
    identifier: { type: authorization.identifier.type, value: authorization.identifier.value.replace(/^\*\./, "") },
    status,
    expires: iso(authorization.expires),
    challenges: challenges.map((c) => challengeJson(urls, c)),
    ...(authorization.wildcard ? { wildcard: true } : {}),
  };
  return { status: 200, body, headers: status === "pending" ? { "Retry-After": POLL_SECONDS } : {} };
}

export async function challengeResource(shared: Shared, urls: Urls, request: SignedRequest, id: string): Promise<Answer> {
  const challenge = await shared.store.challenge(id);
  if (!challenge) throw problem("malformed", `no challenge ${id}`, { status: 404 });
  const authorization = await ownedAuthorization(shared, request, challenge.authorizationId);
  // A POST with a JSON object ({}) asks for validation; POST-as-GET only reads.
  if (request.payload !== undefined) {
    if (authorization.status !== "pending") {
      if (challenge.status === "pending") throw problem("malformed", `the authorization is already ${authorization.status}`);
    } else if (authorization.expires <= shared.now()) {
      throw problem("malformed", "the authorization has expired");
    } else if (challenge.status === "pending" || challenge.status === "processing") {
      // A validation that finishes quickly (a responder on the same network)
      // is answered in this response, saving the client a poll, and
      // recorded in one write; a slow one is claimed (processing) and not
      // waited for.
      const pending = challenge.status === "pending";
      const validation = pending ? checkChallenge(shared, request.account!, authorization, challenge) : await takeOverValidation(shared, request.account!, authorization, challenge);
      if (validation) {
        const quick = await settleWithin(validation.done.then(() => true), QUICK_VALIDATION_MS, () => false);
        if (quick && validation.finished) return challengeAnswer(urls, authorization, validation.finished);
        if (!quick && pending) await shared.store.claimChallenge(id, claimNow(shared, challenge));
      }
    }
  }
  return challengeAnswer(urls, authorization, (await shared.store.challenge(id))!);
}

function challengeAnswer(urls: Urls, authorization: Authorization, current: Challenge): Answer {
  const link = { Link: `<${urls.authorization(authorization.id)}>;rel="up"` };
  return { status: 200, body: challengeJson(urls, current), headers: current.status === "processing" ? { ...link, "Retry-After": POLL_SECONDS } : link };
}

/** A claim for this worker, now: on a pending challenge, or one whose validator went stale or died. */
function claimNow(shared: Shared, challenge: Challenge): Claim {
  const now = shared.now();
  return { now, owner: OWNER, staleBefore: now - shared.settings.staleValidationMs, ...optional(deadOwner(challenge.processingBy)) };
}

/** Takes over a challenge left in processing by a validator that died or went stale (or joins this worker's own check of it); undefined when another holds it. */
async function takeOverValidation(shared: Shared, account: Account, authorization: Authorization, challenge: Challenge): Promise<RunningValidation | undefined> {
  const running = shared.validating.get(challenge.id);
  if (running) return running;
  if (!(await shared.store.claimChallenge(challenge.id, claimNow(shared, challenge)))) return undefined;
  return checkChallenge(shared, account, authorization, challenge);
}

/**
 * Queues the check of a challenge, or joins this worker's check of it
 * already under way. A POST starts it unclaimed; a takeover has claimed it
 * first. Its finish writes the outcome if the challenge is still pending,
 * or claimed by this worker (the POST's claim after the quick wait, or the
 * takeover's): one write for a check that ends quickly instead of a claim
 * and a finish. Another worker may check the same pending challenge at the
 * same time; the first finish wins, the other writes nothing.
 */
function checkChallenge(shared: Shared, account: Account, authorization: Authorization, challenge: Challenge): RunningValidation {
  const running = shared.validating.get(challenge.id);
  if (running) return running;
  const validation: RunningValidation = { done: Promise.resolve() };
  validation.done = shared.queue
    .enqueue(
      () => shared.validate(challenge.type, authorization.identifier, challenge.token, account.thumbprint),
      async (error) => {
        const at = shared.now();
        const outcome = error ? { status: "invalid" as const, error: error.toDocument(), at, owner: OWNER } : { status: "valid" as const, at, owner: OWNER };
        if (await shared.store.finishChallenge(challenge.id, outcome)) {
          const { processingSince: _since, processingBy: _by, ...rest } = challenge;
          validation.finished = { ...rest, status: outcome.status, ...(error ? { error: outcome.error } : { validated: at }) };
        }
      },
    )
    .finally(() => shared.validating.delete(challenge.id));
  shared.validating.set(challenge.id, validation);
  return validation;
}

const optional = (dead: string | undefined) => (dead ? { deadOwner: dead } : {});
