/**
 * @module Accounts (RFC 8555 7.3): newAccount (with onlyReturnExisting and
 * external account binding), the account resource (update, deactivation)
 * and keyChange (7.3.5).
 */

import { calculateJwkThumbprint, type JWK } from "jose";
import type { Answer, Shared, Urls } from "./context.ts";
import { verifyBinding } from "./eab.ts";
import { decodeHeader, parseFlattened, publicJwk, type SignedRequest, verifyWith } from "./jws.ts";
import { problem } from "./problem.ts";
import { newId } from "./ids.ts";
import type { Account } from "./types.ts";

export function accountJson(account: Account, urls: Urls): Record<string, unknown> {
  return {
    status: account.status,
    contact: account.contact,
    termsOfServiceAgreed: account.termsOfServiceAgreed,
    orders: urls.orders(account.id),
    ...(account.eabKid ? { externalAccountBinding: { kid: account.eabKid } } : {}),
  };
}

function readContact(value: unknown): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || value.some((c) => typeof c !== "string")) throw problem("malformed", "contact must be a list of URLs");
  for (const contact of value as string[]) {
    if (!/^mailto:[^@\s,]+@[^@\s,]+$/i.test(contact)) {
      throw problem(contact.toLowerCase().startsWith("mailto:") ? "invalidContact" : "unsupportedContact", `contact '${contact}' is not a mailto: address (the only kind depot takes)`);
    }
  }
  return value as string[];
}

export async function newAccount(shared: Shared, urls: Urls, request: SignedRequest): Promise<Answer> {
  const payload = (request.payload ?? {}) as Record<string, unknown>;
  const existing = await shared.store.accountByThumbprint(request.thumbprint);
  if (existing) {
    if (existing.status !== "valid") throw problem("unauthorized", `the account with this key is ${existing.status}`);
    return { status: 200, body: accountJson(existing, urls), headers: { Location: urls.account(existing.id) } };
  }
  if (payload.onlyReturnExisting === true) throw problem("accountDoesNotExist", "no account exists with this key");
  const contact = readContact(payload.contact);
  if (shared.settings.termsOfService && payload.termsOfServiceAgreed !== true) {
    throw problem("malformed", `agree to the terms of service (${shared.settings.termsOfService}) with termsOfServiceAgreed: true`);
  }
  let eabKid: string | undefined;
  if (payload.externalAccountBinding !== undefined) {
    eabKid = (await verifyBinding(shared.store, payload.externalAccountBinding, request.jwk, urls.newAccount())).kid;
  } else if (shared.settings.requireEab) {
    throw problem("externalAccountRequired", "this server requires an external account binding (ask the operator for a key id and HMAC key: depot acme eab)");
  }
  const account: Account = {
    id: newId(),
    jwk: request.jwk as Record<string, unknown>,
    thumbprint: request.thumbprint,
    status: "valid",
    contact,
    termsOfServiceAgreed: payload.termsOfServiceAgreed === true,
    ...(eabKid ? { eabKid } : {}),
    createdAt: shared.now(),
  };
  const created = await shared.store.createAccount(account);
  if (created === "eab-used") throw problem("unauthorized", `external account binding key '${eabKid}' has already been used for an account`);
  // Two newAccount requests with one key at once: the second gets the first's account.
  const status = created.id === account.id ? 201 : 200;
  return { status, body: accountJson(created, urls), headers: { Location: urls.account(created.id) } };
}

export async function accountResource(shared: Shared, urls: Urls, request: SignedRequest, id: string): Promise<Answer> {
  const account = request.account!;
  if (account.id !== id) throw problem("unauthorized", "the JWS kid is not this account");
  const payload = request.payload as Record<string, unknown> | undefined;
  let updated = account;
  if (payload && payload.status !== undefined) {
    if (payload.status !== "deactivated") throw problem("malformed", "an account's status can only be changed to deactivated");
    updated = (await shared.store.updateAccount(id, { status: "deactivated" }))!;
  } else if (payload && payload.contact !== undefined) {
    updated = (await shared.store.updateAccount(id, { contact: readContact(payload.contact) }))!;
  }
  return { status: 200, body: accountJson(updated, urls), headers: { Location: urls.account(id) } };
}

/** RFC 8555 7.3.5: the outer JWS by the old key (kid), the inner by the new key (jwk) over {account, oldKey}. */
export async function keyChange(shared: Shared, urls: Urls, request: SignedRequest): Promise<Answer> {
  const account = request.account!;
  const inner = parseFlattened(request.payload);
  const header = decodeHeader(inner.protected);
  if (header.url !== urls.keyChange()) throw problem("malformed", "the inner JWS url is not the keyChange URL");
  if (header.nonce !== undefined) throw problem("malformed", "the inner JWS must not carry a nonce");
  if (header.kid !== undefined || header.jwk === undefined) throw problem("malformed", "the inner JWS must carry the new key as jwk");
  const newJwk = publicJwk(header.jwk);
  const payload = (await verifyWith(inner, newJwk, String(header.alg))) as { account?: unknown; oldKey?: unknown } | undefined;
  if (payload?.account !== urls.account(account.id)) throw problem("malformed", "the inner JWS names another account");
  const oldThumbprint = await calculateJwkThumbprint(publicJwk(payload.oldKey) as JWK, "sha256").catch(() => "");
  if (oldThumbprint !== account.thumbprint) throw problem("malformed", "oldKey is not the account's current key");
  const newThumbprint = await calculateJwkThumbprint(newJwk, "sha256");
  const holder = await shared.store.accountByThumbprint(newThumbprint);
  if (holder || !(await shared.store.changeKey(account.id, newJwk as Record<string, unknown>, newThumbprint))) {
    const other = holder ?? (await shared.store.accountByThumbprint(newThumbprint));
    throw problem("malformed", "the new key is already the key of an account", { status: 409, headers: other ? { Location: urls.account(other.id) } : {} });
  }
  return { status: 200, body: accountJson((await shared.store.accountById(account.id))!, urls), headers: { Location: urls.account(account.id) } };
}
