/**
 * @module
 * The ACME tables' rows as both backends read them, and the records they
 * hold: one set of mappers for SQLite (INTEGER times, 0/1 booleans) and
 * PostgreSQL (BIGINT times arriving as text, BOOLEAN), so the two stores
 * cannot read a row differently. Also what both write the same way.
 */
import type { Account, AccountStatus, Authorization, AuthorizationStatus, Challenge, EabKey, Order } from "../ca/acme-store.ts";

/** A row as a driver returns it. */
export type AcmeRow = Record<string, unknown>;

/** The ACME tables in the order a copy must fill them (orders reference accounts). */
export const ACME_TABLES = ["acme_meta", "acme_used_nonces", "acme_eab_keys", "acme_accounts", "acme_orders", "acme_authorizations", "acme_challenges"] as const;
/** INTEGER 0/1 in SQLite, BOOLEAN in PostgreSQL. */
export const BOOLEAN_COLUMNS = new Set(["tos", "wildcard"]);

/** Times are numbers in the records; PostgreSQL's BIGINT arrives as text. */
const num = (value: unknown) => Number(value);
const numOrNone = (value: unknown) => (value === null || value === undefined ? undefined : Number(value));
const bool = (value: unknown) => value === true || value === 1;
const present = (value: unknown) => value !== null && value !== undefined;

// The mappers set optional members one by one rather than spreading
// `...(x ? { x } : {})`: every spread is a runtime call in a worker that runs
// without the optimizing JIT, and a lego order reads ~10 of these rows (a
// CPU profile put object spreads at ~2 % of a worker, nine tenths of it in
// orderFrom). An absent member stays absent, not undefined.

export const accountFrom = (row: AcmeRow): Account => {
  const account: Account = {
    id: String(row.id),
    thumbprint: String(row.thumbprint),
    jwk: JSON.parse(String(row.jwk)),
    status: row.status as AccountStatus,
    contact: JSON.parse(String(row.contact)),
    termsOfServiceAgreed: bool(row.tos),
    createdAt: num(row.created_at),
  };
  if (row.eab_kid) account.eabKid = String(row.eab_kid);
  return account;
};

export const orderFrom = (row: AcmeRow): Order => {
  const order: Order = {
    id: String(row.id),
    accountId: String(row.account_id),
    status: row.status as Order["status"],
    identifiers: JSON.parse(String(row.identifiers)),
    authorizationIds: JSON.parse(String(row.authorizations)),
    expires: num(row.expires),
    createdAt: num(row.created_at),
  };
  const notBefore = numOrNone(row.not_before);
  if (notBefore !== undefined) order.notBefore = notBefore;
  const notAfter = numOrNone(row.not_after);
  if (notAfter !== undefined) order.notAfter = notAfter;
  if (row.error) order.error = JSON.parse(String(row.error));
  if (row.certificate_serial) order.certificateSerial = String(row.certificate_serial);
  if (row.replaces) order.replaces = String(row.replaces);
  const processingSince = numOrNone(row.processing_since);
  if (processingSince !== undefined) order.processingSince = processingSince;
  if (present(row.processing_by)) order.processingBy = String(row.processing_by);
  return order;
};

export const authorizationFrom = (row: AcmeRow): Authorization => ({
  id: String(row.id),
  accountId: String(row.account_id),
  orderId: String(row.order_id),
  identifier: { type: row.type as "dns" | "ip", value: String(row.value) },
  wildcard: bool(row.wildcard),
  status: row.status as AuthorizationStatus,
  expires: num(row.expires),
});

export const challengeFrom = (row: AcmeRow): Challenge => {
  const challenge: Challenge = {
    id: String(row.id),
    authorizationId: String(row.authorization_id),
    type: row.type as Challenge["type"],
    token: String(row.token),
    status: row.status as Challenge["status"],
  };
  const validated = numOrNone(row.validated);
  if (validated !== undefined) challenge.validated = validated;
  if (row.error) challenge.error = JSON.parse(String(row.error));
  const processingSince = numOrNone(row.processing_since);
  if (processingSince !== undefined) challenge.processingSince = processingSince;
  if (present(row.processing_by)) challenge.processingBy = String(row.processing_by);
  return challenge;
};

export const eabKeyFrom = (row: AcmeRow): EabKey => ({
  kid: String(row.kid),
  name: String(row.name),
  hmacKey: new Uint8Array(Buffer.from(String(row.hmac_key), "base64url")),
  allow: JSON.parse(String(row.allow)),
  createdAt: num(row.created_at),
  ...(row.account_id ? { accountId: String(row.account_id) } : {}),
});

/**
 * The rows an order is created with, as both stores insert them. `position`
 * is each authorization's and challenge's place in the order as made: both
 * stores list them by it (one column, one order, on either backend).
 */
export function orderRows(order: Order, authorizations: Authorization[], challenges: Challenge[]) {
  return {
    order: [order.id, order.accountId, order.status, JSON.stringify(order.identifiers), JSON.stringify(order.authorizationIds), order.expires, order.notBefore ?? null, order.notAfter ?? null, order.replaces ?? null, order.createdAt] as const,
    authorizations: authorizations.map((a, position) => [a.id, position, a.accountId, a.orderId, a.identifier.type, a.identifier.value, a.wildcard, a.status, a.expires] as const),
    challenges: challenges.map((c, position) => [c.id, position, c.authorizationId, c.type, c.token, c.status] as const),
  };
}

export const INSERT_ORDER_COLUMNS = "id, account_id, status, identifiers, authorizations, expires, not_before, not_after, replaces, created_at";
export const INSERT_AUTHORIZATION_COLUMNS = "id, position, account_id, order_id, type, value, wildcard, status, expires";
export const INSERT_CHALLENGE_COLUMNS = "id, position, authorization_id, type, token, status";
