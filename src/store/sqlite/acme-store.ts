/**
 * @module Where the ACME server keeps its state: the `AcmeStore` interface
 * (asynchronous, so a PostgreSQL ledger can implement it too) and its SQLite
 * implementation in the depot's ledger file, whose tables are the ledger's
 * migration step 4. Every worker opens the same
 * file, so an order made on one worker is polled and finalized on another,
 * and a nonce is accepted once by whichever worker sees it first.
 */

import { Database, SQLiteError } from "bun:sqlite";
import { randomBytes } from "node:crypto";
import { DepotError } from "../../errors.ts";
import { retryBusy } from "./busy.ts";
import type { Account, AccountStatus, AcmeStore, Authorization, AuthorizationStatus, Challenge, Claim, EabKey, Identifier, Order } from "../../ca/acme-store.ts";
import type { ProblemDocument } from "../../acme/problem.ts";

export type { AcmeStore, Claim } from "../../ca/acme-store.ts";

export const newId = () => randomBytes(16).toString("base64url");

/** The ACME tables in the ledger file (see schema.ts), on a connection of their own. */
export class SqliteAcmeStore implements AcmeStore {
  private readonly db: Database;
  private secret?: Uint8Array;
  private pruneAt = 0;

  /** Opens the ledger at `path`, which `Depot.open` has migrated (the ACME tables are its step 4). */
  constructor(path: string) {
    this.db = new Database(path, { create: false, strict: true });
    this.db.run("PRAGMA busy_timeout = 10000");
    this.db.run("PRAGMA synchronous = NORMAL");
    const present = this.db.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'acme_orders'").get();
    if (!present) {
      this.db.close();
      throw new DepotError("E_LEDGER", `the ledger ${path} has no ACME tables; open the depot first (Depot.open migrates it)`);
    }
    // As in the ledger: later writes fail fast on a lock and are retried without blocking the event loop.
    this.db.run("PRAGMA busy_timeout = 0");
  }

  async nonceSecret(): Promise<Uint8Array> {
    if (this.secret) return this.secret;
    await retryBusy(() => this.db.query("INSERT OR IGNORE INTO acme_meta (name, value) VALUES ('nonce_secret', ?)").run(randomBytes(32).toString("base64url")));
    const row = this.db.query<{ value: string }, []>("SELECT value FROM acme_meta WHERE name = 'nonce_secret'").get()!;
    return (this.secret = Buffer.from(row.value, "base64url"));
  }

  async useNonce(nonce: string, now: number, forgetBefore: number): Promise<boolean> {
    if (now >= this.pruneAt) {
      this.pruneAt = now + 60_000;
      await retryBusy(() => this.db.query("DELETE FROM acme_used_nonces WHERE used_at < ?").run(forgetBefore));
    }
    try {
      await retryBusy(() => this.db.query("INSERT INTO acme_used_nonces (nonce, used_at) VALUES (?, ?)").run(nonce, now));
      return true;
    } catch (error) {
      if (isConstraint(error)) return false;
      throw error;
    }
  }

  async createAccount(account: Account): Promise<Account | "eab-used"> {
    const create = this.db.transaction((): Account | "eab-used" => {
      const existing = this.db.query<AccountRow, [string]>("SELECT * FROM acme_accounts WHERE thumbprint = ?").get(account.thumbprint);
      if (existing) return accountFrom(existing);
      if (account.eabKid) {
        const bound = this.db.query("UPDATE acme_eab_keys SET account_id = ? WHERE kid = ? AND account_id IS NULL").run(account.id, account.eabKid).changes;
        if (!bound) return "eab-used";
      }
      this.db
        .query("INSERT INTO acme_accounts (id, thumbprint, jwk, status, contact, tos, eab_kid, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
        .run(account.id, account.thumbprint, JSON.stringify(account.jwk), account.status, JSON.stringify(account.contact), account.termsOfServiceAgreed ? 1 : 0, account.eabKid ?? null, account.createdAt);
      return account;
    });
    return retryBusy(() => create.immediate());
  }

  /** The row the query (one `?`, matching at most one row) finds, as what `from` makes of it. */
  private one<R, T>(sql: string, key: string, from: (row: R) => T): T | undefined {
    const row = this.db.query<R, [string]>(sql).get(key);
    return row ? from(row) : undefined;
  }

  async accountById(id: string): Promise<Account | undefined> {
    return this.one("SELECT * FROM acme_accounts WHERE id = ?", id, accountFrom);
  }

  async accountByThumbprint(thumbprint: string): Promise<Account | undefined> {
    return this.one("SELECT * FROM acme_accounts WHERE thumbprint = ?", thumbprint, accountFrom);
  }

  async updateAccount(id: string, change: { contact?: string[]; status?: AccountStatus }): Promise<Account | undefined> {
    await retryBusy(() => {
      if (change.contact) this.db.query("UPDATE acme_accounts SET contact = ? WHERE id = ?").run(JSON.stringify(change.contact), id);
      if (change.status) this.db.query("UPDATE acme_accounts SET status = ? WHERE id = ?").run(change.status, id);
    });
    return this.accountById(id);
  }

  async changeKey(id: string, jwk: Record<string, unknown>, thumbprint: string): Promise<boolean> {
    try {
      await retryBusy(() => this.db.query("UPDATE acme_accounts SET jwk = ?, thumbprint = ? WHERE id = ?").run(JSON.stringify(jwk), thumbprint, id));
      return true;
    } catch (error) {
      if (isConstraint(error)) return false;
      throw error;
    }
  }

  async ordersSince(accountId: string, since: number): Promise<{ count: number; oldest?: number }> {
    const row = this.db
      .query<{ n: number; oldest: number | null }, [string, number]>("SELECT count(*) AS n, min(created_at) AS oldest FROM acme_orders WHERE account_id = ? AND created_at >= ?")
      .get(accountId, since)!;
    return { count: row.n, ...(row.oldest !== null ? { oldest: row.oldest } : {}) };
  }

  async createOrder(order: Order, authorizations: Authorization[], challenges: Challenge[]): Promise<void> {
    const insertOrder = this.db.query(
      "INSERT INTO acme_orders (id, account_id, status, identifiers, authorizations, expires, not_before, not_after, replaces, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    );
    const insertAuthorization = this.db.query(
      "INSERT INTO acme_authorizations (id, account_id, order_id, type, value, wildcard, status, expires) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
    );
    const insertChallenge = this.db.query("INSERT INTO acme_challenges (id, authorization_id, type, token, status) VALUES (?, ?, ?, ?, ?)");
    const create = this.db.transaction(() => {
      insertOrder.run(order.id, order.accountId, order.status, JSON.stringify(order.identifiers), JSON.stringify(order.authorizationIds), order.expires, order.notBefore ?? null, order.notAfter ?? null, order.replaces ?? null, order.createdAt);
      for (const a of authorizations) insertAuthorization.run(a.id, a.accountId, a.orderId, a.identifier.type, a.identifier.value, a.wildcard ? 1 : 0, a.status, a.expires);
      for (const c of challenges) insertChallenge.run(c.id, c.authorizationId, c.type, c.token, c.status);
    });
    await retryBusy(() => create.immediate());
  }

  async ordersOf(accountId: string, now: number): Promise<string[]> {
    return this.db
      .query<{ id: string }, [string, number]>("SELECT id FROM acme_orders WHERE account_id = ? AND expires > ? ORDER BY created_at LIMIT 1000")
      .all(accountId, now)
      .map((row) => row.id);
  }

  async order(id: string): Promise<Order | undefined> {
    return this.one("SELECT * FROM acme_orders WHERE id = ?", id, orderFrom);
  }

  async orderBySerial(serial: string): Promise<Order | undefined> {
    return this.one("SELECT * FROM acme_orders WHERE certificate_serial = ?", serial, orderFrom);
  }

  async authorization(id: string): Promise<Authorization | undefined> {
    return this.one("SELECT * FROM acme_authorizations WHERE id = ?", id, authorizationFrom);
  }

  async authorizationsOf(orderId: string): Promise<Authorization[]> {
    return this.db.query<AuthorizationRow, [string]>("SELECT * FROM acme_authorizations WHERE order_id = ? ORDER BY rowid").all(orderId).map(authorizationFrom);
  }

  async challenge(id: string): Promise<Challenge | undefined> {
    return this.one("SELECT * FROM acme_challenges WHERE id = ?", id, challengeFrom);
  }

  async challengesOf(authorizationId: string): Promise<Challenge[]> {
    return this.db.query<ChallengeRow, [string]>("SELECT * FROM acme_challenges WHERE authorization_id = ? ORDER BY rowid").all(authorizationId).map(challengeFrom);
  }

  async claimChallenge(id: string, claim: Claim): Promise<boolean> {
    return this.claimRow("acme_challenges", id, claim, "AND (SELECT status FROM acme_authorizations WHERE id = acme_challenges.authorization_id) = 'pending'");
  }

  /**
   * Claims a row of `table` for `claim.owner`: one still pending, or one in
   * processing whose claim went stale or whose owner died; `also` narrows it.
   */
  private async claimRow(table: "acme_challenges" | "acme_orders", id: string, claim: Claim, also = ""): Promise<boolean> {
    const changed = await retryBusy(
      () =>
        this.db
          .query(
            `UPDATE ${table} SET status = 'processing', processing_since = ?1, processing_by = ?4 WHERE id = ?2
               AND (status = 'pending' OR (status = 'processing' AND (processing_since < ?3 OR processing_by = ?5)))${also ? `\n               ${also}` : ""}`,
          )
          .run(claim.now, id, claim.staleBefore, claim.owner, claim.deadOwner ?? null).changes,
    );
    return changed > 0;
  }

  async finishChallenge(id: string, outcome: { status: "valid" | "invalid"; error?: ProblemDocument; at: number }): Promise<void> {
    const finish = this.db.transaction(() => {
      this.db
        .query("UPDATE acme_challenges SET status = ?, validated = ?, error = ?, processing_since = NULL WHERE id = ? AND status = 'processing'")
        .run(outcome.status, outcome.status === "valid" ? outcome.at : null, outcome.error ? JSON.stringify(outcome.error) : null, id);
      this.db
        .query("UPDATE acme_authorizations SET status = ? WHERE id = (SELECT authorization_id FROM acme_challenges WHERE id = ?) AND status = 'pending'")
        .run(outcome.status, id);
    });
    await retryBusy(() => finish.immediate());
  }

  async setAuthorizationStatus(id: string, status: AuthorizationStatus): Promise<void> {
    await retryBusy(() => this.db.query("UPDATE acme_authorizations SET status = ? WHERE id = ?").run(status, id));
  }

  async hasValidAuthorizations(accountId: string, identifiers: Identifier[], now: number): Promise<boolean> {
    const find = this.db.query<{ n: number }, [string, string, string, number]>(
      "SELECT count(*) AS n FROM acme_authorizations WHERE account_id = ? AND type = ? AND value = ? AND status = 'valid' AND expires > ?",
    );
    return identifiers.every((id) => find.get(accountId, id.type, id.value, now)!.n > 0);
  }

  async claimFinalize(orderId: string, claim: Claim): Promise<boolean> {
    return this.claimRow("acme_orders", orderId, claim);
  }

  async finishOrder(orderId: string, outcome: { certificateSerial: string } | { error: ProblemDocument } | { back: "pending" }): Promise<void> {
    await retryBusy(() => {
      if ("certificateSerial" in outcome) {
        this.db.query("UPDATE acme_orders SET status = 'valid', certificate_serial = ?, processing_since = NULL WHERE id = ?").run(outcome.certificateSerial, orderId);
      } else if ("error" in outcome) {
        this.db.query("UPDATE acme_orders SET status = 'invalid', error = ?, processing_since = NULL WHERE id = ?").run(JSON.stringify(outcome.error), orderId);
      } else {
        this.db.query("UPDATE acme_orders SET status = 'pending', processing_since = NULL WHERE id = ?").run(orderId);
      }
    });
  }

  async addEabKey(key: EabKey): Promise<void> {
    await retryBusy(() =>
      this.db
        .query("INSERT INTO acme_eab_keys (kid, name, hmac_key, allow, created_at) VALUES (?, ?, ?, ?, ?)")
        .run(key.kid, key.name, Buffer.from(key.hmacKey).toString("base64url"), JSON.stringify(key.allow), key.createdAt),
    );
  }

  async eabKey(kid: string): Promise<EabKey | undefined> {
    const row = this.db.query<EabRow, [string]>("SELECT * FROM acme_eab_keys WHERE kid = ?").get(kid);
    if (!row) return undefined;
    return {
      kid: row.kid,
      name: row.name,
      hmacKey: new Uint8Array(Buffer.from(row.hmac_key, "base64url")),
      allow: JSON.parse(row.allow),
      createdAt: row.created_at,
      ...(row.account_id ? { accountId: row.account_id } : {}),
    };
  }

  close(): void {
    this.db.close();
  }
}

interface AccountRow {
  id: string;
  thumbprint: string;
  jwk: string;
  status: AccountStatus;
  contact: string;
  tos: number;
  eab_kid: string | null;
  created_at: number;
}
interface OrderRow {
  id: string;
  account_id: string;
  status: Order["status"];
  identifiers: string;
  authorizations: string;
  expires: number;
  not_before: number | null;
  not_after: number | null;
  error: string | null;
  certificate_serial: string | null;
  replaces: string | null;
  created_at: number;
  processing_since: number | null;
  processing_by: string | null;
}
interface AuthorizationRow {
  id: string;
  account_id: string;
  order_id: string;
  type: "dns" | "ip";
  value: string;
  wildcard: number;
  status: AuthorizationStatus;
  expires: number;
}
interface ChallengeRow {
  id: string;
  authorization_id: string;
  type: Challenge["type"];
  token: string;
  status: Challenge["status"];
  validated: number | null;
  error: string | null;
  processing_since: number | null;
  processing_by: string | null;
}
interface EabRow {
  kid: string;
  name: string;
  hmac_key: string;
  allow: string;
  created_at: number;
  account_id: string | null;
}

const accountFrom = (row: AccountRow): Account => ({
  id: row.id,
  thumbprint: row.thumbprint,
  jwk: JSON.parse(row.jwk),
  status: row.status,
  contact: JSON.parse(row.contact),
  termsOfServiceAgreed: row.tos === 1,
  ...(row.eab_kid ? { eabKid: row.eab_kid } : {}),
  createdAt: row.created_at,
});

const orderFrom = (row: OrderRow): Order => ({
  id: row.id,
  accountId: row.account_id,
  status: row.status,
  identifiers: JSON.parse(row.identifiers),
  authorizationIds: JSON.parse(row.authorizations),
  expires: row.expires,
  ...(row.not_before !== null ? { notBefore: row.not_before } : {}),
  ...(row.not_after !== null ? { notAfter: row.not_after } : {}),
  ...(row.error ? { error: JSON.parse(row.error) } : {}),
  ...(row.certificate_serial ? { certificateSerial: row.certificate_serial } : {}),
  ...(row.replaces ? { replaces: row.replaces } : {}),
  createdAt: row.created_at,
  ...(row.processing_since !== null ? { processingSince: row.processing_since } : {}),
  ...(row.processing_by !== null ? { processingBy: row.processing_by } : {}),
});

const authorizationFrom = (row: AuthorizationRow): Authorization => ({
  id: row.id,
  accountId: row.account_id,
  orderId: row.order_id,
  identifier: { type: row.type, value: row.value },
  wildcard: row.wildcard === 1,
  status: row.status,
  expires: row.expires,
});

const challengeFrom = (row: ChallengeRow): Challenge => ({
  id: row.id,
  authorizationId: row.authorization_id,
  type: row.type,
  token: row.token,
  status: row.status,
  ...(row.validated !== null ? { validated: row.validated } : {}),
  ...(row.error ? { error: JSON.parse(row.error) } : {}),
  ...(row.processing_since !== null ? { processingSince: row.processing_since } : {}),
  ...(row.processing_by !== null ? { processingBy: row.processing_by } : {}),
});

const isConstraint = (error: unknown) => error instanceof SQLiteError && (error.code?.startsWith("SQLITE_CONSTRAINT") ?? false);
