/**
 * @module
 * API tokens: `depot_` and 256 random bits, shown once; the ledger keeps only
 * the SHA-256 and the policy. Use counts (one-time enrolment tokens) and
 * rate windows live in the ledger too, so every worker and every host
 * sharing the ledger counts against the same numbers.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { DepotError } from "../errors.ts";
import type { AuditEntry } from "./audit.ts";
import { compilePatterns, type TokenPolicy } from "./token-policy.ts";

export const TOKEN_PREFIX = "depot_";

/** A rate limit: at most `limit` requests per `windowSeconds` (a sliding window). */
export interface Rate {
  limit: number;
  windowSeconds: number;
}

/** A token as the ledger keeps it (never the token itself). */
export interface TokenRecord {
  name: string;
  /** SHA-256 of the token, hex. */
  hash: string;
  policy: TokenPolicy;
  createdAt: Date;
  expiresAt?: Date;
  /** Uses granted at creation; absent: unlimited. */
  uses?: number;
  /** Uses left (with `uses`). */
  usesLeft?: number;
  rate?: Rate;
  revokedAt?: Date;
}

export type NewToken = Omit<TokenRecord, "hash" | "usesLeft" | "revokedAt" | "createdAt">;

/** Why a request with this token is refused before anything else is looked at. */
export type TokenRefusal = "unknown" | "revoked" | "expired" | "used up";

export type RateVerdict = { ok: true } | { ok: false; retryAfterSeconds: number };

/** The ledger's side of tokens; a PostgreSQL ledger implements the same. */
export interface TokenStore {
  /** Records a token and its audit record in one transaction; refuses a name in use. */
  create(token: TokenRecord, audit: AuditEntry): Promise<void>;
  findByHash(hash: string): Promise<TokenRecord | undefined>;
  list(): Promise<TokenRecord[]>;
  /** Revokes by name, with its audit record, in one transaction. */
  revoke(name: string, at: Date, audit: AuditEntry): Promise<TokenRecord>;
  /** Counts one request against the token's rate, atomically across processes. */
  takeRate(name: string, rate: Rate, now: Date): Promise<RateVerdict>;
  /** Takes one use atomically; false when none is left (or the token was revoked meanwhile). */
  takeUse(name: string): Promise<boolean>;
  /** Gives back a use taken for an issuance that then failed. */
  returnUse(name: string): Promise<void>;
}

/** A fresh token: the prefix (so scanners and people recognise it) and 32 random bytes, base64url. */
export function newToken(): string {
  return TOKEN_PREFIX + randomBytes(32).toString("base64url");
}

export function hashToken(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

export function sameHash(a: string, b: string): boolean {
  return a.length === b.length && timingSafeEqual(Buffer.from(a), Buffer.from(b));
}

/** Why a found token cannot be used now, if it cannot. */
export function refusalOf(token: TokenRecord | undefined, now: Date): TokenRefusal | undefined {
  if (!token) return "unknown";
  if (token.revokedAt) return "revoked";
  if (token.expiresAt && token.expiresAt.getTime() <= now.getTime()) return "expired";
  if (token.usesLeft !== undefined && token.usesLeft <= 0) return "used up";
  return undefined;
}

/** Token names: what `token revoke` and the audit trail call it. */
export function checkTokenName(name: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/.test(name)) {
    throw new DepotError("E_BAD_ARGUMENT", `token name '${name}' must be 1 to 64 letters, digits, '.', '_', '@' or '-', starting with a letter or digit`);
  }
  return name;
}

/** `--expires 30m`, `12h`, `7d` (also `90s`): a duration in milliseconds. */
export function parseDuration(text: string): number {
  const match = /^(\d+)\s*(s|m|min|h|d)$/i.exec(text.trim());
  const unit = { s: 1_000, m: 60_000, min: 60_000, h: 3_600_000, d: 86_400_000 }[match?.[2]!.toLowerCase() as "s"];
  const amount = Number(match?.[1]);
  if (!match || !unit || amount < 1 || amount * unit > 3650 * 86_400_000) {
    throw new DepotError("E_BAD_ARGUMENT", `'${text}' is not a duration (a whole number and s, m, h or d, e.g. 30m or 7d; at most 10 years)`);
  }
  return amount * unit;
}

/** `--rate 10/min` (also `/s`, `/h`). */
export function parseRate(text: string): Rate {
  const match = /^(\d+)\s*\/\s*(s|sec|m|min|h|hour)$/i.exec(text.trim());
  const limit = Number(match?.[1]);
  if (!match || !Number.isSafeInteger(limit) || limit < 1) {
    throw new DepotError("E_BAD_ARGUMENT", `'${text}' is not a rate (a whole number per s, min or h, e.g. 10/min)`);
  }
  const unit = match[2]!.toLowerCase();
  return { limit, windowSeconds: unit.startsWith("s") ? 1 : unit.startsWith("h") ? 3600 : 60 };
}

export function formatRate(rate: Rate): string {
  return `${rate.limit}/${rate.windowSeconds === 1 ? "s" : rate.windowSeconds === 3600 ? "h" : "min"}`;
}

/** Checks a policy's patterns, so a mistyped `--allow` fails at creation, not at every request. */
export function checkPolicyPatterns(policy: TokenPolicy): void {
  compilePatterns(policy.allow);
}

/** An api_tokens row as both ledgers store it; `Time` is ISO text in SQLite, a Date from PostgreSQL. */
export interface TokenRow<Time extends string | Date = string> {
  name: string;
  hash: string;
  policy: string;
  created_at: Time;
  expires_at: Time | null;
  uses: number | null;
  uses_left: number | null;
  rate_limit: number | null;
  rate_window: number | null;
  revoked_at: Time | null;
}
/** The api_tokens table's columns, for every SELECT of a whole row. */
export const TOKEN_COLUMNS = "name, hash, policy, created_at, expires_at, uses, uses_left, rate_limit, rate_window, revoked_at";

/** A token's rate window as the ledger keeps it. */
export interface RateWindow {
  window_start: number;
  window_count: number;
  window_before: number;
}

/**
 * The decision for one request against a rate (both ledgers' `takeRate`):
 * refused with when to retry, or allowed with the window to store.
 */
export function slidingWindow(row: RateWindow, rate: Rate, now: Date): { ok: false; retryAfterSeconds: number } | { ok: true; next: { start: number; current: number; before: number } } {
  const windowMs = rate.windowSeconds * 1000;
  const start = Math.floor(now.getTime() / windowMs) * windowMs;
  const current = row.window_start === start ? row.window_count : 0;
  const before = row.window_start === start ? row.window_before : row.window_start === start - windowMs ? row.window_count : 0;
  const overlap = 1 - (now.getTime() - start) / windowMs;
  if (before * overlap + current + 1 > rate.limit) {
    // When the estimate next drops below the limit: within this window if
    // the previous one's share is what is over, else once this one ends.
    const waitMs = current + 1 > rate.limit || before === 0 ? start + windowMs - now.getTime() : (1 - (rate.limit - 1 - current) / before - (1 - overlap)) * windowMs;
    return { ok: false, retryAfterSeconds: Math.max(1, Math.ceil(Math.round(waitMs) / 1000)) };
  }
  return { ok: true, next: { start, current: current + 1, before } };
}

/** The token a row holds. */
export function tokenFromRow(row: TokenRow<string | Date>): TokenRecord {
  return {
    name: row.name,
    hash: row.hash,
    policy: JSON.parse(row.policy) as TokenPolicy,
    createdAt: new Date(row.created_at),
    ...(row.expires_at ? { expiresAt: new Date(row.expires_at) } : {}),
    ...(row.uses !== null ? { uses: row.uses, usesLeft: row.uses_left ?? 0 } : {}),
    ...(row.rate_limit !== null && row.rate_window !== null ? { rate: { limit: row.rate_limit, windowSeconds: row.rate_window } } : {}),
    ...(row.revoked_at ? { revokedAt: new Date(row.revoked_at) } : {}),
  };
}

