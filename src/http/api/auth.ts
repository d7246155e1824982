/**
 * @module
 * Bearer tokens (RFC 6750): the token's hash is looked up in the ledger; an
 * unknown, revoked, expired or used-up token is 401 with
 * `WWW-Authenticate`, a token past its rate 429 with `Retry-After`.
 */
import { hashToken, refusalOf, type TokenRecord } from "../../ca/tokens.ts";
import { HttpProblem } from "../problem.ts";
import type { ApiServices } from "./services.ts";

const REALM = 'Bearer realm="depot"';

export async function authenticate(request: Request, services: ApiServices, now: Date): Promise<TokenRecord> {
  const header = request.headers.get("authorization");
  if (header === null) {
    throw new HttpProblem(401, "this API needs a token: send Authorization: Bearer <token> (made with depot token create)", {
      slug: "no-token",
      headers: { "www-authenticate": REALM },
    });
  }
  const match = /^Bearer +([A-Za-z0-9._~+/=-]+) *$/i.exec(header);
  if (!match) throw unauthorized("the Authorization header must be: Bearer <token>", "invalid_request");
  const token = await services.tokens.findByHash(hashToken(match[1]!));
  switch (refusalOf(token, now)) {
    case "unknown":
      throw unauthorized("this token is not known to the depot", "invalid_token");
    case "revoked":
      throw unauthorized(`token '${token!.name}' was revoked`, "invalid_token");
    case "expired":
      throw unauthorized(`token '${token!.name}' expired at ${token!.expiresAt!.toISOString()}`, "invalid_token");
    case "used up":
      throw usedUp(token!);
  }
  if (token!.rate) {
    const verdict = await services.tokens.takeRate(token!.name, token!.rate, now);
    if (!verdict.ok) {
      throw new HttpProblem(429, `token '${token!.name}' is over its rate of ${token!.rate.limit} per ${token!.rate.windowSeconds} s; retry in ${verdict.retryAfterSeconds} s`, {
        slug: "rate-limited",
        headers: { "retry-after": String(verdict.retryAfterSeconds) },
        extensions: { retryAfter: verdict.retryAfterSeconds },
      });
    }
  }
  return token!;
}

export function usedUp(token: TokenRecord): HttpProblem {
  return unauthorized(`token '${token.name}' has been used up (it allowed ${token.uses} use${token.uses === 1 ? "" : "s"})`, "invalid_token");
}

function unauthorized(detail: string, error: string): HttpProblem {
  return new HttpProblem(401, detail, { slug: "bad-token", headers: { "www-authenticate": `${REALM}, error="${error}"` } });
}

/** Listing, revoking and metrics are for admin tokens. */
export function requireAdmin(token: TokenRecord, what: string): void {
  if (!token.policy.admin) throw new HttpProblem(403, `${what} needs an admin token (depot token create --admin); token '${token.name}' is not one`, { slug: "not-admin" });
}
