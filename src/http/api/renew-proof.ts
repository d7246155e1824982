/**
 * @module
 * The proof a renewal request carries, and the decisions on it, apart from
 * the route so they are tested with an injected clock: a compact JWS
 * signed by the certificate's own key with the certificate in `x5c` (as
 * step-ca's renew-after-expiry does; Bun.serve shows no peer certificate,
 * so a TLS client certificate cannot be the credential). Its claims: `aud`
 * (this endpoint's absolute URL), `iat`, `exp` (at most 5 minutes later),
 * `jti`, and optionally `csr` (a new key).
 */
import { createPublicKey, type KeyObject } from "node:crypto";
import type { CertificateRecord } from "../../ca/ledger.ts";
import { describePublicKey } from "../../ca/keys.ts";
import { HttpProblem } from "../problem.ts";

/** The longest a proof may be valid (`exp - iat`), seconds. */
export const MAX_PROOF_SECONDS = 300;
/** How far the client's clock may be off from ours, seconds. */
export const CLOCK_SKEW_SECONDS = 60;
/** A proof is a few kilobytes (an RSA-4096 certificate and a CSR); this is room to spare. */
export const MAX_PROOF_BYTES = 64 * 1024;

export interface RenewalClaims {
  aud: string;
  iat: number;
  exp: number;
  jti: string;
  /** PEM certificate request for a new key. */
  csr?: string;
}

const malformed = (detail: string) => new HttpProblem(400, `malformed renewal request: ${detail}`, { slug: "bad-request" });
const refused = (detail: string) => new HttpProblem(401, detail, { slug: "unauthorized" });

/**
 * The certificate a proof names (the first `x5c` entry, DER) and its
 * `alg`, read from the protected header without trusting either yet.
 */
export function readProofHeader(compact: string): { alg: string; certificateDer: Uint8Array<ArrayBuffer> } {
  const parts = compact.trim().split(".");
  if (parts.length !== 3 || parts.some((part) => !/^[A-Za-z0-9_-]*$/.test(part))) throw malformed("the body must be a compact JWS (three base64url parts)");
  let header: unknown;
  try {
    header = JSON.parse(Buffer.from(parts[0]!, "base64url").toString("utf8"));
  } catch {
    throw malformed("the JWS protected header is not JSON");
  }
  if (typeof header !== "object" || header === null) throw malformed("the JWS protected header is not a JSON object");
  const { alg, x5c } = header as { alg?: unknown; x5c?: unknown };
  if (typeof alg !== "string") throw malformed("the JWS protected header has no alg");
  if (!Array.isArray(x5c) || x5c.length === 0 || typeof x5c[0] !== "string") throw malformed("the JWS protected header has no x5c (the certificate to renew, base64 DER)");
  // RFC 7515 4.1.6: base64, not base64url.
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(x5c[0])) throw malformed("x5c[0] is not base64");
  return { alg, certificateDer: new Uint8Array(Buffer.from(x5c[0], "base64")) };
}

/** The JWS algorithms a key of this kind may sign a proof with. */
export function algorithmsFor(spki: Uint8Array): string[] {
  const { family, curve } = describePublicKey(spki);
  if (family === "rsa") return ["RS256", "PS256"];
  if (family === "ed25519") return ["EdDSA"];
  if (family === "ec" && curve === "P-256") return ["ES256"];
  if (family === "ec" && curve === "P-384") return ["ES384"];
  return [];
}

/** Checks the signature with the certificate's key; returns the payload's bytes. 401 when it does not verify. */
export async function verifyProof(compact: string, spki: Uint8Array, alg: string): Promise<Uint8Array> {
  const algorithms = algorithmsFor(spki);
  if (!algorithms.includes(alg)) throw malformed(`alg ${alg.slice(0, 20)} does not fit the certificate's key (${algorithms.join(" or ") || "no algorithm"})`);
  let key: KeyObject;
  try {
    key = createPublicKey({ key: Buffer.from(spki), format: "der", type: "spki" });
  } catch {
    throw refused("the certificate's key cannot verify a signature");
  }
  try {
    // jose is loaded by the first renewal, not by every worker that serves the API.
    const { compactVerify } = await import("jose");
    return (await compactVerify(compact.trim(), key, { algorithms })).payload;
  } catch {
    throw refused("the renewal request's signature does not verify with the certificate's key");
  }
}

/**
 * The payload's claims, checked: `aud` one of `audiences` (the URL the
 * request came to), the time window (`iat` not ahead of us, `exp` not
 * passed, give or take the clock skew; at most 5 minutes between them), a
 * `jti`. Malformed claims are 400; a wrong audience or a stale proof 401.
 */
export function checkClaims(payload: Uint8Array, audiences: string[], now: Date): RenewalClaims {
  let claims: unknown;
  try {
    claims = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(payload));
  } catch {
    throw malformed("the JWS payload is not JSON");
  }
  if (typeof claims !== "object" || claims === null || Array.isArray(claims)) throw malformed("the JWS payload is not a JSON object");
  const { aud, iat, exp, jti, csr } = claims as Record<string, unknown>;
  if (typeof aud !== "string") throw malformed("aud must be the absolute URL of /v1/renew");
  if (typeof iat !== "number" || !Number.isFinite(iat) || typeof exp !== "number" || !Number.isFinite(exp)) throw malformed("iat and exp must be numbers (seconds since 1970)");
  if (typeof jti !== "string" || jti.length < 8 || jti.length > 128) throw malformed("jti must be a string of 8 to 128 characters");
  if (csr !== undefined && typeof csr !== "string") throw malformed("csr must be a PEM certificate request");
  if (!audiences.some((audience) => sameUrl(audience, aud))) throw refused(`the renewal request was made for ${aud.slice(0, 200)}, not for this server (${audiences[0]})`);
  if (exp <= iat || exp - iat > MAX_PROOF_SECONDS) throw malformed(`exp must come after iat, by at most ${MAX_PROOF_SECONDS} s`);
  const seconds = now.getTime() / 1000;
  if (iat > seconds + CLOCK_SKEW_SECONDS) throw refused("the renewal request is dated in the future (iat); check the client's clock");
  if (exp < seconds - CLOCK_SKEW_SECONDS) throw refused("the renewal request has expired (exp); make a new one");
  return { aud, iat, exp, jti, ...(csr !== undefined ? { csr } : {}) };
}

function sameUrl(expected: string, given: string): boolean {
  try {
    return new URL(given).href === new URL(expected).href;
  } catch {
    return false;
  }
}

/**
 * Whether the ledger's certificate may be renewed now: the CA's own row
 * never, a revoked one never (403), a certificate not yet valid not (401),
 * an expired one only within `afterExpiryMs` of its end (403; 0 refuses
 * every expired certificate). Undefined when it may.
 */
export function renewalRefusal(record: CertificateRecord, now: Date, afterExpiryMs: number): HttpProblem | undefined {
  const serial = record.serial.toUpperCase();
  if (record.type === "ca") return new HttpProblem(403, "the CA certificate is not renewed through the API", { slug: "forbidden" });
  if (record.status === "revoked") return new HttpProblem(403, `certificate ${serial} was revoked${record.revokedAt ? ` at ${record.revokedAt.toISOString()}` : ""}; it cannot be renewed`, { slug: "revoked" });
  if (record.notBefore.getTime() > now.getTime() + CLOCK_SKEW_SECONDS * 1000) return refused(`certificate ${serial} is not valid before ${record.notBefore.toISOString()}`);
  const expiredFor = now.getTime() - record.notAfter.getTime();
  if (expiredFor > 0 && expiredFor > afterExpiryMs) {
    const allowed = afterExpiryMs > 0 ? ` (this server renews certificates up to ${describeMs(afterExpiryMs)} after they expire)` : " (this server renews only unexpired certificates; see depot start --renew-after-expiry)";
    return new HttpProblem(403, `certificate ${serial} expired at ${record.notAfter.toISOString()}${allowed}`, { slug: "expired" });
  }
  return undefined;
}

/**
 * The renewed certificate's lifetime, ms: the old one's (notAfter -
 * notBefore), but ending a minute before the CA does at the latest (the
 * minute covers the time between this and the signature).
 */
export function renewedLifetimeMs(record: { notBefore: Date; notAfter: Date }, caNotAfter: Date, now: Date, backdateMs: number): number {
  const lifetime = record.notAfter.getTime() - record.notBefore.getTime();
  const caLeft = caNotAfter.getTime() - (now.getTime() - backdateMs) - 60_000;
  return Math.max(0, Math.min(lifetime, caLeft));
}

function describeMs(ms: number): string {
  for (const [unit, size] of [["d", 86_400_000], ["h", 3_600_000], ["m", 60_000]] as const) if (ms % size === 0) return `${ms / size}${unit}`;
  return `${Math.round(ms / 1000)}s`;
}

/**
 * The `jti`s this process has accepted, until their proofs expire: a proof
 * replayed to the same worker is refused. Other workers and hosts do not
 * see it (no ledger table for this); the 5-minute window bounds the rest,
 * and a replay can only get another certificate for the same key.
 */
export class SeenProofs {
  private readonly seen = new Map<string, number>();

  constructor(private readonly limit = 100_000) {}

  /** Records `key` until `expiresAtMs`; false when it was already there. */
  take(key: string, expiresAtMs: number, nowMs: number): boolean {
    if (this.seen.size >= this.limit) this.sweep(nowMs);
    const until = this.seen.get(key);
    if (until !== undefined && until >= nowMs) return false;
    // Still full of live entries: forget the oldest (a Map keeps insertion order).
    if (this.seen.size >= this.limit) this.seen.delete(this.seen.keys().next().value!);
    this.seen.set(key, expiresAtMs);
    return true;
  }

  private sweep(nowMs: number): void {
    for (const [key, until] of this.seen) if (until < nowMs) this.seen.delete(key);
  }
}
