/**
 * @module External Account Binding (RFC 8555 7.3.4): a key id and HMAC key
 * the operator hands out (`depot acme eab`), and the check of the binding a
 * newAccount carries: an HS256 JWS over the account key, by that key id, for
 * the newAccount URL. A binding key makes one account; its name patterns
 * then limit what that account may order.
 */

import { randomBytes } from "node:crypto";
import { calculateJwkThumbprint, flattenedVerify, type JWK } from "jose";
import { decodeHeader, parseFlattened, publicJwk } from "./jws.ts";
import { problem } from "./problem.ts";
import { NamePolicy } from "./policy.ts";
import type { AcmeStore } from "../ca/acme-store.ts";
import type { EabKey } from "./types.ts";

/** Makes and stores a binding key; the HMAC key is shown once (base64url), the ledger keeps it to verify bindings. */
export async function createEabKey(store: AcmeStore, name: string, allow: string[], now = Date.now()): Promise<EabKey> {
  new NamePolicy(allow); // refuses a malformed pattern before anything is stored
  const key: EabKey = { kid: `eab-${randomBytes(12).toString("base64url")}`, name, hmacKey: new Uint8Array(randomBytes(32)), allow, createdAt: now };
  await store.addEabKey(key);
  return key;
}

/** Checks a newAccount's externalAccountBinding for the account key `accountJwk`; returns the binding key. */
export async function verifyBinding(store: AcmeStore, binding: unknown, accountJwk: JWK, newAccountUrl: string): Promise<EabKey> {
  const jws = parseFlattened(binding);
  const header = decodeHeader(jws.protected);
  if (!["HS256", "HS384", "HS512"].includes(String(header.alg))) throw problem("malformed", `the external account binding must be signed with HS256, HS384 or HS512, not ${String(header.alg)}`);
  if (header.url !== newAccountUrl) throw problem("malformed", "the external account binding's url is not the newAccount URL");
  if (header.nonce !== undefined) throw problem("malformed", "the external account binding must not carry a nonce");
  const key = typeof header.kid === "string" ? await store.eabKey(header.kid) : undefined;
  if (!key) throw problem("unauthorized", `unknown external account binding key id '${String(header.kid)}'`);
  let payload: Uint8Array;
  try {
    ({ payload } = await flattenedVerify(jws, key.hmacKey, { algorithms: ["HS256", "HS384", "HS512"] }));
  } catch {
    throw problem("unauthorized", "the external account binding's MAC does not verify with that key id's HMAC key");
  }
  let bound: JWK;
  try {
    bound = publicJwk(JSON.parse(new TextDecoder().decode(payload)));
  } catch {
    throw problem("malformed", "the external account binding's payload is not the account's JWK");
  }
  if ((await calculateJwkThumbprint(bound, "sha256")) !== (await calculateJwkThumbprint(accountJwk, "sha256"))) {
    throw problem("unauthorized", "the external account binding is for another account key");
  }
  if (key.accountId) throw problem("unauthorized", `external account binding key '${key.kid}' has already been used for an account`);
  return key;
}
