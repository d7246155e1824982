/**
 * @module The `AcmeStore` in the SQLite ledger (its tables are the ledger's
 * migration steps 4 and 6), on the ledger's own connection: `Ledger.acme`.
 * Every worker opens the same file, so an order made on one worker is
 * polled and finalized on another, and a nonce is accepted once by
 * whichever worker sees it first. Rows are read with the mappers both
 * backends share (../acme-rows.ts).
 */

import { type Database, SQLiteError } from "bun:sqlite";
import { randomBytes } from "node:crypto";
import { retryBusy } from "./busy.ts";
import type { Account, AccountStatus, AcmeStore, Authorization, AuthorizationStatus, Challenge, Claim, EabKey, Identifier, Order } from "../../ca/acme-store.ts";
import type { ChallengeOutcome, NonceTimes } from "../../ca/acme-store.ts";
import {
  accountFrom,
  type AcmeRow,
  authorizationFrom,
  challengeFrom,
  eabKeyFrom,
  INSERT_AUTHORIZATION_COLUMNS,
  INSERT_CHALLENGE_COLUMNS,
  INSERT_ORDER_COLUMNS,
  orderFrom,
  orderRows,
} from "../acme-rows.ts";

/**
 * The transactions the hot paths run, made once per connection: bun:sqlite's
 * `transaction()` builds its wrappers (and defines their properties) at
 * every call, which a worker running without the optimizing JIT paid on
 * every newOrder and every validation (a CPU profile under lego put
 * `defineProperties` at ~1 % of a worker).
 */
function hotTransactions(db: Database) {
  return {
    insertOrderRows: db.transaction((rows: ReturnType<typeof orderRows>) => {
      db.query(`INSERT INTO acme_orders (${INSERT_ORDER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`).run(...rows.order);
      const insertAuthorization = db.query(`INSERT INTO acme_authorizations (${INSERT_AUTHORIZATION_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`);
      for (const row of rows.authorizations) insertAuthorization.run(...row);
      const insertChallenge = db.query(`INSERT INTO acme_challenges (${INSERT_CHALLENGE_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)`);
      for (const row of rows.challenges) insertChallenge.run(...row);
    }),
    finishChallengeRows: db.transaction((id: string, status: "valid" | "invalid", validated: number | null, error: string | null, owner: string): boolean => {
      const finished = db
        .query(
          `UPDATE acme_challenges SET status = ?1, validated = ?2, error = ?3, processing_since = NULL WHERE id = ?4
             AND ((status = 'pending' AND (SELECT status FROM acme_authorizations WHERE id = acme_challenges.authorization_id) = 'pending')
               OR (status = 'processing' AND processing_by = ?5))`,
        )
        .run(status, validated, error, id, owner).changes;
      if (finished === 0) return false;
      db.query("UPDATE acme_authorizations SET status = ? WHERE id = (SELECT authorization_id FROM acme_challenges WHERE id = ?) AND status = 'pending'").run(status, id);
      return true;
    }),
  };
}

/** The ACME tables in the ledger file (see acme-schema.ts), on the ledger's connection. */
export class SqliteAcmeStore implements AcmeStore {
  private secret?: Uint8Array;
  private pruneAt = 0;

  private readonly hot: ReturnType<typeof hotTransactions>;

  /** `db` is the ledger's connection, migrated and set to fail fast on a lock (retried by retryBusy). */
  constructor(private readonly db: Database) {
    this.hot = hotTransactions(db);
  }

  async nonceSecret(): Promise<Uint8Array> {
    if (this.secret) return this.secret;
    await retryBusy(() => this.db.query("INSERT OR IGNORE INTO acme_meta (name, value) VALUES ('nonce_secret', ?)").run(randomBytes(32).toString("base64url")));
    const row = this.db.query<{ value: string }, []>("SELECT value FROM acme_meta WHERE name = 'nonce_secret'").get()!;
    return (this.secret = Buffer.from(row.value, "base64url"));
  }

  /** Kept by issue time (migration step 10): one row in one B-tree, pruned from its start. */
  async useNonce(nonce: string, { issuedAt, now, forgetBefore }: NonceTimes): Promise<boolean> {
    if (now >= this.pruneAt) {
      this.pruneAt = now + 60_000;
      await retryBusy(() => this.db.query("DELETE FROM acme_spent_nonces WHERE issued_at < ?").run(forgetBefore));
    }
    try {
      await retryBusy(() => this.db.query("INSERT INTO acme_spent_nonces (issued_at, nonce) VALUES (?, ?)").run(issuedAt, nonce));
      return true;
    } catch (error) {
      if (isConstraint(error)) return false;
      throw error;
    }
  }

  async createAccount(account: Account): Promise<Account | "eab-used"> {
    const create = this.db.transaction((): Account | "eab-used" => {
      const existing = this.db.query<AcmeRow, [string]>("SELECT * FROM acme_accounts WHERE thumbprint = ?").get(account.thumbprint);
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
  private one<T>(sql: string, key: string, from: (row: AcmeRow) => T): T | undefined {
    const row = this.db.query<AcmeRow, [string]>(sql).get(key);
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
    const rows = orderRows(order, authorizations, challenges);
    await retryBusy(() => this.hot.insertOrderRows.immediate(rows));
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
    return this.db.query<AcmeRow, [string]>("SELECT * FROM acme_authorizations WHERE order_id = ? ORDER BY position").all(orderId).map(authorizationFrom);
  }

  async challenge(id: string): Promise<Challenge | undefined> {
    return this.one("SELECT * FROM acme_challenges WHERE id = ?", id, challengeFrom);
  }

  async challengesOf(authorizationId: string): Promise<Challenge[]> {
    return this.db.query<AcmeRow, [string]>("SELECT * FROM acme_challenges WHERE authorization_id = ? ORDER BY position").all(authorizationId).map(challengeFrom);
  }

  async claimChallenge(id: string, claim: Claim): Promise<boolean> {
    const changed = await retryBusy(
      () =>
        this.db
          .query(
            `UPDATE acme_challenges SET status = 'processing', processing_since = ?1, processing_by = ?4 WHERE id = ?2
               AND (status = 'pending' OR (status = 'processing' AND (processing_since < ?3 OR processing_by = ?5)))
               AND (SELECT status FROM acme_authorizations WHERE id = acme_challenges.authorization_id) = 'pending'`,
          )
          .run(claim.now, id, claim.staleBefore, claim.owner, claim.deadOwner ?? null).changes,
    );
    return changed > 0;
  }

  async finishChallenge(id: string, outcome: ChallengeOutcome): Promise<boolean> {
    const error = outcome.error ? JSON.stringify(outcome.error) : null;
    return retryBusy(() => this.hot.finishChallengeRows.immediate(id, outcome.status, outcome.status === "valid" ? outcome.at : null, error, outcome.owner));
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

  /** Whether the order can still be finished (pending, or processing); read by the ledger inside the transaction that would finish it. */
  orderOpenWithin(orderId: string): boolean {
    return this.db.query("SELECT 1 FROM acme_orders WHERE id = ? AND status IN ('pending', 'processing')").get(orderId) !== null;
  }

  /** The order is valid with `serial`; run by the ledger inside the transaction that records the certificate (RecordTerms). */
  finishOrderWithin(orderId: string, serial: string): void {
    this.db.query("UPDATE acme_orders SET status = 'valid', certificate_serial = ?, processing_since = NULL WHERE id = ?").run(serial, orderId);
  }

  async addEabKey(key: EabKey): Promise<void> {
    await retryBusy(() =>
      this.db
        .query("INSERT INTO acme_eab_keys (kid, name, hmac_key, allow, created_at) VALUES (?, ?, ?, ?, ?)")
        .run(key.kid, key.name, Buffer.from(key.hmacKey).toString("base64url"), JSON.stringify(key.allow), key.createdAt),
    );
  }

  async eabKey(kid: string): Promise<EabKey | undefined> {
    return this.one("SELECT * FROM acme_eab_keys WHERE kid = ?", kid, eabKeyFrom);
  }

  /** The connection is the ledger's; it closes with the ledger. */
  close(): void {}
}

const isConstraint = (error: unknown) => error instanceof SQLiteError && (error.code?.startsWith("SQLITE_CONSTRAINT") ?? false);
