/**
 * @module Checking an ACME request's JWS (RFC 8555 6.2-6.4) with `jose`:
 * the flattened JSON serialization, an allowed algorithm, exactly one of
 * `jwk` (new accounts, revocation by certificate key) and `kid` (everything
 * else), the `url` header equal to the URL the request was sent to, the
 * signature, and last the nonce, so a forged request cannot spend one.
 */

import type { FlattenedJWSInput, JWK } from "jose";
import type { KeyObject } from "node:crypto";
import { type AccountKey, accountKey, isAccountKey, thumbprintOf, verifyJws } from "./jws-keys.ts";
import { problem } from "./problem.ts";
import type { Account } from "./types.ts";
import type { Nonces } from "./nonces.ts";

/** The account-key algorithms depot accepts: what certbot, lego, Caddy and acme.sh use. */
export const ACCOUNT_ALGORITHMS = ["ES256", "ES384", "RS256", "EdDSA"];

export interface ProtectedHeader {
  alg: string;
  nonce?: string;
  url?: string;
  jwk?: JWK;
  kid?: string;
}

export interface SignedRequest {
  header: ProtectedHeader;
  /** The decoded JSON payload; undefined for POST-as-GET (empty payload). */
  payload: unknown;
  /** The signing key as a JWK, and its thumbprint. */
  jwk: JWK;
  thumbprint: string;
  /** Whether `other` (a DER SubjectPublicKeyInfo, or a certificate's key) is the key that signed this request. */
  signedWith: (other: Uint8Array | KeyObject) => boolean;
  /** The account named by `kid`, when the request used one. */
  account?: Account;
  /** The client's IP address, when the listener can tell it (see RequestContext). */
  clientAddress?: () => string | undefined;
}

export interface JwsContext {
  nonces: Nonces;
  /** The URL prefix of account URLs: kid = prefix + account id. */
  accountUrlPrefix: string;
  findAccount: (id: string) => Promise<Account | undefined>;
}

/** Reads the body of a POST as a flattened JWS; `keyFrom` says which key header the resource wants. */
export async function verifySignedRequest(body: string, url: string, keyFrom: "jwk" | "kid" | "either", context: JwsContext): Promise<SignedRequest> {
  const jws = parseFlattened(body);
  const header = decodeHeader(jws.protected);
  if (typeof header.alg !== "string" || !ACCOUNT_ALGORITHMS.includes(header.alg)) {
    throw problem("badSignatureAlgorithm", `the JWS algorithm '${String(header.alg)}' is not accepted; use one of ${ACCOUNT_ALGORITHMS.join(", ")}`);
  }
  if (header.url !== url) throw problem("unauthorized", `the JWS url header '${String(header.url)}' is not the URL requested (${url})`);
  if ((header.jwk === undefined) === (header.kid === undefined)) throw problem("malformed", "the JWS protected header must have exactly one of jwk and kid");
  if (keyFrom === "jwk" && header.kid !== undefined) throw problem("malformed", "this resource needs a jwk header (the account key), not kid");
  if (keyFrom === "kid" && header.jwk !== undefined) throw problem("malformed", "this resource needs a kid header (the account URL), not jwk");

  let account: Account | undefined;
  let jwk: JWK;
  if (header.kid !== undefined) {
    const kid = String(header.kid);
    const id = kid.startsWith(context.accountUrlPrefix) ? kid.slice(context.accountUrlPrefix.length) : undefined;
    account = id && !id.includes("/") ? await context.findAccount(id) : undefined;
    if (!account) throw problem("accountDoesNotExist", `no account at ${kid}`);
    if (account.status !== "valid") throw problem("unauthorized", `the account is ${account.status}`);
    jwk = account.jwk as JWK;
  } else {
    jwk = publicJwk(header.jwk);
  }
  const key = await importKey(jwk, header.alg);
  const payload = await verifyWithKey(jws, key, header.alg);
  if (!(await context.nonces.use(header.nonce))) throw problem("badNonce", "the JWS nonce is unknown, expired or already used; retry with the Replay-Nonce of this answer");
  const thumbprint = await thumbprintOf(key, jwk);
  return { header, payload, jwk, thumbprint, signedWith: (other) => isAccountKey(key, jwk, other), ...(account ? { account } : {}) };
}

/** The key (imported once per process: a client's every request is signed by the same key), or badPublicKey. */
async function importKey(jwk: JWK, alg: string): Promise<AccountKey> {
  try {
    return await accountKey(jwk, alg);
  } catch (error) {
    throw problem("badPublicKey", `the JWS key cannot be used with ${alg}: ${(error as Error).message}`);
  }
}

async function verifyWithKey(jws: FlattenedJWSInput, key: AccountKey, alg: string): Promise<unknown> {
  const payload = await verifyJws(jws, key, alg, ACCOUNT_ALGORITHMS);
  if (payload === false) throw problem("malformed", "the JWS signature does not verify");
  return decodePayload(payload);
}

/** Verifies a JWS (flattened) with the given public JWK; returns the decoded payload (undefined when empty). */
export async function verifyWith(jws: FlattenedJWSInput, jwk: JWK, alg: string): Promise<unknown> {
  return verifyWithKey(jws, await importKey(jwk, alg), alg);
}

export function parseFlattened(body: string | unknown): FlattenedJWSInput {
  let jws: unknown = body;
  if (typeof body === "string") {
    try {
      jws = JSON.parse(body);
    } catch {
      throw problem("malformed", "the request body is not JSON (a flattened JWS is expected)");
    }
  }
  const j = jws as Record<string, unknown>;
  if (!j || typeof j !== "object" || typeof j.protected !== "string" || typeof j.payload !== "string" || typeof j.signature !== "string") {
    throw problem("malformed", "the request body is not a flattened JWS (protected, payload, signature)");
  }
  if ("header" in j || "signatures" in j) throw problem("malformed", "the JWS must have a protected header only (no unprotected header, one signature)");
  return { protected: j.protected, payload: j.payload, signature: j.signature };
}

export function decodeHeader(encoded: string | undefined): ProtectedHeader & Record<string, unknown> {
  try {
    const header = JSON.parse(Buffer.from(encoded ?? "", "base64url").toString("utf8"));
    if (header && typeof header === "object" && !Array.isArray(header)) return header;
  } catch {
    // fall through
  }
  throw problem("malformed", "the JWS protected header is not base64url-encoded JSON");
}

function decodePayload(payload: Uint8Array): unknown {
  if (payload.length === 0) return undefined;
  try {
    return JSON.parse(new TextDecoder().decode(payload));
  } catch {
    throw problem("malformed", "the JWS payload is not JSON");
  }
}

/** A JWK from a header, checked to be a public key (a private member would be a client's mistake worth refusing). */
export function publicJwk(value: unknown): JWK {
  if (!value || typeof value !== "object" || Array.isArray(value)) throw problem("malformed", "the jwk header is not a JSON object");
  const jwk = value as JWK;
  if ("d" in jwk || "p" in jwk || "k" in jwk) throw problem("badPublicKey", "the jwk header holds private key material");
  if (jwk.kty !== "EC" && jwk.kty !== "RSA" && jwk.kty !== "OKP") throw problem("badPublicKey", `key type '${String(jwk.kty)}' is not accepted`);
  if (jwk.kty === "RSA" && Buffer.from(String(jwk.n ?? ""), "base64url").length < 256) throw problem("badPublicKey", "RSA account keys must have at least 2048 bits");
  const { kty, crv, x, y, n, e } = jwk;
  return Object.fromEntries(Object.entries({ kty, crv, x, y, n, e }).filter(([, v]) => v !== undefined)) as JWK;
}
