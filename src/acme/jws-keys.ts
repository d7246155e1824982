/**
 * @module Account keys, imported once per process and checked with
 * node:crypto's one-shot verify. Measured under lego (a process per order,
 * five signed POSTs each): jose's `flattenedVerify` cost 0.32 ms of worker
 * CPU per request, most of it jose's own JavaScript run cold (the workers
 * run without DFG), and `calculateJwkThumbprint` 0.09 ms; a native verify
 * of the same signature is a few tens of microseconds.
 *
 * The fast path takes only what jose would take the same way: an ASCII
 * protected header that names the key's own algorithm, no `crit` (and so
 * no `b64`), every member plain base64url. Anything else goes through
 * jose exactly as before, so what is accepted and refused does not change.
 */

import { createPublicKey, type JsonWebKeyInput, type KeyObject, verify } from "node:crypto";
import { calculateJwkThumbprint, flattenedVerify, importJWK, type FlattenedJWSInput, type JWK } from "jose";

export interface AccountKey {
  /** jose's import, for the requests the fast path leaves to jose. */
  cryptoKey: CryptoKey;
  /** The same key for node:crypto; undefined when its type does not fit `alg` as the fast path expects. */
  keyObject?: KeyObject;
  /** Computed on first use, by jose (RFC 7638). */
  thumbprint?: string;
  /** The key as node:crypto holds it, whatever `alg`, made on first use: to compare with a CSR's or a certificate's key. */
  publicKey?: KeyObject;
}

/** The digest and the key each algorithm needs (null digest: EdDSA signs the message itself). */
const FAST: Record<string, { digest: string | null; fits: (key: KeyObject) => boolean; ecdsa: boolean }> = {
  ES256: { digest: "sha256", ecdsa: true, fits: (k) => k.asymmetricKeyType === "ec" && k.asymmetricKeyDetails?.namedCurve === "prime256v1" },
  ES384: { digest: "sha384", ecdsa: true, fits: (k) => k.asymmetricKeyType === "ec" && k.asymmetricKeyDetails?.namedCurve === "secp384r1" },
  // jose refuses RSA keys under 2048 bits when verifying; so does this.
  RS256: { digest: "sha256", ecdsa: false, fits: (k) => k.asymmetricKeyType === "rsa" && (k.asymmetricKeyDetails?.modulusLength ?? 0) >= 2048 },
  EdDSA: { digest: null, ecdsa: false, fits: (k) => k.asymmetricKeyType === "ed25519" },
};

const keys = new Map<string, AccountKey>();

function cacheKeyOf(jwk: JWK, alg: string): string {
  return `${alg}:${jwk.kty}:${jwk.crv ?? ""}:${jwk.x ?? jwk.n}:${jwk.y ?? jwk.e ?? ""}`;
}

/** The key for `jwk` under `alg`, imported by jose (its checks and errors) on first use; throws what importJWK throws. */
export async function accountKey(jwk: JWK, alg: string): Promise<AccountKey> {
  const cacheKey = cacheKeyOf(jwk, alg);
  const known = keys.get(cacheKey);
  if (known) return known;
  const cryptoKey = (await importJWK({ ...jwk, alg }, alg)) as CryptoKey;
  const entry: AccountKey = { cryptoKey };
  try {
    const keyObject = createPublicKey({ key: jwk as JsonWebKeyInput["key"], format: "jwk" });
    if (FAST[alg]?.fits(keyObject)) entry.keyObject = keyObject;
  } catch {
    // jose took it, node:crypto does not: jose checks its requests.
  }
  if (keys.size >= 10_000) keys.delete(keys.keys().next().value!);
  keys.set(cacheKey, entry);
  return entry;
}

/**
 * Whether DER `spki` (a CSR's key) or `other` (a certificate's) is this
 * account key. KeyObject.equals compares the key material natively, so an
 * EC point written compressed still matches; it replaced a jose thumbprint
 * of the other key at every finalize (0.15-0.18 ms of a cold worker's CPU).
 * A key node:crypto cannot read is no account key.
 */
export function isAccountKey(key: AccountKey, jwk: JWK, other: Uint8Array | KeyObject): boolean {
  try {
    key.publicKey ??= key.keyObject ?? createPublicKey({ key: jwk as JsonWebKeyInput["key"], format: "jwk" });
    const candidate = other instanceof Uint8Array ? createPublicKey({ key: Buffer.from(other), format: "der", type: "spki" }) : other;
    return candidate.equals(key.publicKey);
  } catch {
    return false;
  }
}

/** The JWK thumbprint (SHA-256), once per key. */
export async function thumbprintOf(key: AccountKey, jwk: JWK): Promise<string> {
  return (key.thumbprint ??= await calculateJwkThumbprint(jwk, "sha256"));
}

const BASE64URL = /^[A-Za-z0-9_-]*$/;
const ASCII = /^[\x20-\x7e]*$/;

/** Whether a string decodes the same way everywhere: the base64url alphabet, no padding, not a stray last character. */
function plainBase64url(text: string): boolean {
  return text.length % 4 !== 1 && BASE64URL.test(text);
}

/**
 * The verified payload bytes, or false when the signature does not verify;
 * jose's answer in every case (its errors are thrown as they come).
 */
export async function verifyJws(jws: FlattenedJWSInput, key: AccountKey, alg: string, algorithms: string[]): Promise<Uint8Array | false> {
  const fast = key.keyObject && FAST[alg];
  if (fast && plainBase64url(jws.protected!) && plainBase64url(jws.payload as string) && plainBase64url(jws.signature)) {
    const headerText = Buffer.from(jws.protected!, "base64url").toString("latin1");
    let header: unknown;
    try {
      header = ASCII.test(headerText) ? JSON.parse(headerText) : undefined;
    } catch {
      header = undefined;
    }
    const h = header as Record<string, unknown> | undefined;
    if (h && typeof h === "object" && !Array.isArray(h) && h.alg === alg && !("crit" in h) && algorithms.includes(alg)) {
      const input = Buffer.from(`${jws.protected}.${jws.payload}`, "latin1");
      const signature = Buffer.from(jws.signature, "base64url");
      let ok = false;
      try {
        ok = verify(fast.digest, input, fast.ecdsa ? { key: key.keyObject!, dsaEncoding: "ieee-p1363" } : key.keyObject!, signature);
      } catch {
        ok = false;
      }
      return ok ? Buffer.from(jws.payload as string, "base64url") : false;
    }
  }
  try {
    return (await flattenedVerify(jws, key.cryptoKey, { algorithms })).payload;
  } catch {
    return false;
  }
}
