/**
 * @module
 * Bearer tokens (RFC 6750): the token's hash is looked up in the ledger; an
 * unknown, revoked, expired or used-up token is 401 with
 * `WWW-Authenticate`, a token past its rate 429 with `Retry-After`. Where
 * EST clients come (RFC 7030 3.2.3: they may know only HTTP Basic), the
 * token may also be the password of Basic (RFC 7617), its name the user.
 */
import { hashToken, refusalOf, type TokenRecord } from "../../ca/tokens.ts";
import { HttpProblem } from "../problem.ts";
import type { ApiServices } from "./services.ts";

/** How a route takes its token: `Authorization: Bearer <token>` only, or HTTP Basic (`<token name>:<token>`) as well. */
export type TokenSchemes = "bearer" | "bearer-or-basic";

/** The challenge of a 401 (RFC 9110 11.6.1), one per scheme the route takes. */
function challengeOf(schemes: TokenSchemes): string {
  return schemes === "bearer" ? 'Bearer realm="depot"' : 'Basic realm="depot", Bearer realm="depot"';
}

/** How long a token stays known without being read again, and how many are kept. */
const KNOWN_FOR_MS = 60_000;
const KNOWN_AT_MOST = 1000;

/**
 * Tokens seen lately, by hash, for routes whose token only asks for an
 * issuance (issueWithinPolicy): the ledger checks that such a token is
 * still unrevoked in the transaction of the certificate's row
 * (RecordCondition), so these routes need not read the token again on every
 * request (a read after another worker's commit: 383 -> 365 µs of server
 * CPU per issuance, measured A/B; docs/performance.md). Nothing else goes stale: a token's name, policy and
 * expiry never change, expiry is checked on every request, and uses and
 * rates are taken in the ledger. Every other route reads the token afresh.
 */
export class KnownTokens {
  private readonly byHash = new Map<string, { token: TokenRecord; until: number }>();

  get(hash: string, nowMs: number): TokenRecord | undefined {
    const known = this.byHash.get(hash);
    if (known && known.until > nowMs) return known.token;
    if (known) this.byHash.delete(hash);
    return undefined;
  }

  remember(token: TokenRecord, nowMs: number): void {
    if (this.byHash.size >= KNOWN_AT_MOST) this.byHash.clear();
    this.byHash.set(token.hash, { token, until: nowMs + KNOWN_FOR_MS });
  }

  forget(hash: string): void {
    this.byHash.delete(hash);
  }
}

/** `known`: the route's token only asks for an issuance, whose row the ledger records only while the token is unrevoked. */
export async function authenticate(request: Request, services: ApiServices, now: Date, schemes: TokenSchemes = "bearer", known?: KnownTokens): Promise<TokenRecord> {
  const header = request.headers.get("authorization");
  const basic = schemes === "bearer-or-basic";
  if (header === null) {
    const how = basic ? "Authorization: Bearer <token>, or HTTP Basic with the token's name and the token as the password" : "Authorization: Bearer <token>";
    throw new HttpProblem(401, `this API needs a token: send ${how} (made with depot token create)`, {
      slug: "no-token",
      headers: { "www-authenticate": challengeOf(schemes) },
    });
  }
  const bearer = /^Bearer +([A-Za-z0-9._~+/=-]+) *$/i.exec(header)?.[1];
  const credentials = basic && bearer === undefined ? basicCredentials(header, schemes) : undefined;
  const secret = bearer ?? credentials?.password;
  if (secret === undefined) throw unauthorized(basic ? "the Authorization header must be: Bearer <token>, or Basic <base64 of name:token>" : "the Authorization header must be: Bearer <token>", "invalid_request", schemes);
  const hash = hashToken(secret);
  const remembered = known?.get(hash, now.getTime());
  const token = remembered ?? (await services.tokens.findByHash(hash));
  switch (refusalOf(token, now)) {
    case "unknown":
      throw unauthorized("this token is not known to the depot", "invalid_token", schemes);
    case "revoked":
      throw unauthorized(`token '${token!.name}' was revoked`, "invalid_token", schemes);
    case "expired":
      throw unauthorized(`token '${token!.name}' expired at ${token!.expiresAt!.toISOString()}`, "invalid_token", schemes);
    case "used up":
      throw usedUp(token!, schemes);
  }
  // A SCEP challenge is for a device's one enrolment at /scep, not for the API.
  if (token!.policy.scep) throw unauthorized(`'${token!.name}' is a SCEP challenge password, not an API token`, "invalid_token", schemes);
  // The user name says which token is meant: a token given under another's name is a mistake worth hearing of.
  if (credentials && credentials.user !== token!.name) throw unauthorized("with HTTP Basic, the user name must be the token's name", "invalid_token", schemes);
  if (known && !remembered) known.remember(token!, now.getTime());
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

/** The ledger refused the row: the token was revoked while its request was being served (E_REVOKED_TOKEN). */
export function revokedMeanwhile(token: TokenRecord, schemes: TokenSchemes = "bearer"): HttpProblem {
  return unauthorized(`token '${token.name}' was revoked; nothing was issued`, "invalid_token", schemes);
}

export function usedUp(token: TokenRecord, schemes: TokenSchemes = "bearer"): HttpProblem {
  return unauthorized(`token '${token.name}' has been used up (it allowed ${token.uses} use${token.uses === 1 ? "" : "s"})`, "invalid_token", schemes);
}

/** `Basic <base64 of user:password>`; undefined when the header is not Basic; 401 when it is Basic but malformed. */
function basicCredentials(header: string, schemes: TokenSchemes): { user: string; password: string } | undefined {
  const encoded = /^Basic +([A-Za-z0-9+/]+={0,2}) *$/i.exec(header)?.[1];
  if (encoded === undefined) return undefined;
  const decoded = Buffer.from(encoded, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  if (colon < 0) throw unauthorized("HTTP Basic credentials must be <token name>:<token>", "invalid_request", schemes);
  return { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

function unauthorized(detail: string, error: string, schemes: TokenSchemes = "bearer"): HttpProblem {
  return new HttpProblem(401, detail, { slug: "bad-token", headers: { "www-authenticate": `${challengeOf(schemes)}, error="${error}"` } });
}

/** Listing, revoking and metrics are for admin tokens. */
export function requireAdmin(token: TokenRecord, what: string): void {
  if (!token.policy.admin) throw new HttpProblem(403, `${what} needs an admin token (depot token create --admin); token '${token.name}' is not one`, { slug: "not-admin" });
}
