/**
 * @module The `AcmeStore` on the PostgreSQL ledger (its schema step 4), so
 * every host behind a load balancer shares one set of accounts, orders and
 * nonces: an order made on host A is finalized on host B, and a nonce is
 * accepted once by whichever host sees it first (the primary key of the
 * used nonce makes the second insert do nothing). Each state change is one
 * conditional UPDATE or one transaction, as in the SQLite store.
 */

import type { SQL } from "bun";
import { randomBytes } from "node:crypto";
// The row mapping both ACME stores share (acme-rows.ts), as `shared.*`.
import * as shared from "../acme-rows.ts";
import type { Account, AccountStatus, AcmeStore, Authorization, AuthorizationStatus, Challenge, ChallengeOutcome, Claim, EabKey, Identifier, NonceTimes, Order } from "../../ca/acme-store.ts";


type Guard = <T>(operation: () => Promise<T>) => Promise<T>;
type Row = shared.AcmeRow;

/** 23505: unique_violation. */
const isUnique = (error: unknown) => (error as { errno?: string })?.errno === "23505";
/** BIGINT columns arrive as strings; the store's times are numbers. */
const num = (value: unknown) => Number(value);
const numOrNone = (value: unknown) => (value === null || value === undefined ? undefined : Number(value));
/** $1, $2, ... for a row of `count` values. */
const placeholders = (count: number) => Array.from({ length: count }, (_, i) => `$${i + 1}`).join(", ");

export class PostgresAcmeStore implements AcmeStore {
  private secret?: Uint8Array;
  private pruneAt = 0;

  /** `guard` is the ledger's: it checks the schema first and turns a lost connection into "ledger unavailable". */
  constructor(
    private readonly sql: SQL,
    private readonly guard: Guard = (operation) => operation(),
  ) {}

  private rows(run: (sql: SQL) => Promise<unknown>): Promise<Row[]> {
    return this.guard(async () => (await run(this.sql)) as Row[]);
  }

  /** The one row a lookup by key finds, as `from` reads it; undefined when there is none. */
  private async one<T>(run: (sql: SQL) => Promise<unknown>, from: (row: Row) => T): Promise<T | undefined> {
    const [row] = await this.rows(run);
    return row ? from(row) : undefined;
  }

  async nonceSecret(): Promise<Uint8Array> {
    if (this.secret) return this.secret;
    const candidate = randomBytes(32).toString("base64url");
    await this.rows((sql) => sql`INSERT INTO acme_meta (name, value) VALUES ('nonce_secret', ${candidate}) ON CONFLICT (name) DO NOTHING`);
    const [row] = await this.rows((sql) => sql`SELECT value FROM acme_meta WHERE name = 'nonce_secret'`);
    return (this.secret = Buffer.from(String(row!.value), "base64url"));
  }

  async useNonce(nonce: string, { now, forgetBefore }: NonceTimes): Promise<boolean> {
    if (now >= this.pruneAt) {
      this.pruneAt = now + 60_000;
      await this.rows((sql) => sql`DELETE FROM acme_used_nonces WHERE used_at < ${forgetBefore}`);
    }
    const inserted = await this.guard(() => this.sql`INSERT INTO acme_used_nonces (nonce, used_at) VALUES (${nonce}, ${now}) ON CONFLICT (nonce) DO NOTHING`);
    return (inserted.count ?? 0) === 1;
  }

  createAccount(account: Account): Promise<Account | "eab-used"> {
    const attempt = () =>
      this.guard(() =>
        this.sql.begin(async (tx): Promise<Account | "eab-used"> => {
          const [existing] = (await tx`SELECT * FROM acme_accounts WHERE thumbprint = ${account.thumbprint}`) as Row[];
          if (existing) return shared.accountFrom(existing);
          if (account.eabKid) {
            const bound = await tx`UPDATE acme_eab_keys SET account_id = ${account.id} WHERE kid = ${account.eabKid} AND account_id IS NULL`;
            if ((bound.count ?? 0) === 0) return "eab-used";
          }
          await tx`INSERT INTO acme_accounts (id, thumbprint, jwk, status, contact, tos, eab_kid, created_at)
                   VALUES (${account.id}, ${account.thumbprint}, ${JSON.stringify(account.jwk)}, ${account.status}, ${JSON.stringify(account.contact)},
                           ${account.termsOfServiceAgreed}, ${account.eabKid ?? null}, ${account.createdAt})`;
          return account;
        }),
      );
    // Two hosts creating the same key's account at once: the loser's insert fails on the thumbprint, and the retry finds the winner's account.
    return attempt().catch((error) => {
      if (isUnique(error)) return attempt();
      throw error;
    });
  }

  async accountById(id: string): Promise<Account | undefined> {
    return this.one((sql) => sql`SELECT * FROM acme_accounts WHERE id = ${id}`, shared.accountFrom);
  }

  async accountByThumbprint(thumbprint: string): Promise<Account | undefined> {
    return this.one((sql) => sql`SELECT * FROM acme_accounts WHERE thumbprint = ${thumbprint}`, shared.accountFrom);
  }

  async updateAccount(id: string, change: { contact?: string[]; status?: AccountStatus }): Promise<Account | undefined> {
    const contact = change.contact ? JSON.stringify(change.contact) : null;
    const status = change.status ?? null;
    await this.rows((sql) => sql`UPDATE acme_accounts SET contact = COALESCE(${contact}, contact), status = COALESCE(${status}, status) WHERE id = ${id}`);
    return this.accountById(id);
  }

  async changeKey(id: string, jwk: Record<string, unknown>, thumbprint: string): Promise<boolean> {
    try {
      await this.rows((sql) => sql`UPDATE acme_accounts SET jwk = ${JSON.stringify(jwk)}, thumbprint = ${thumbprint} WHERE id = ${id}`);
      return true;
    } catch (error) {
      if (isUnique(error)) return false;
      throw error;
    }
  }

  async ordersSince(accountId: string, since: number): Promise<{ count: number; oldest?: number }> {
    const [row] = await this.rows((sql) => sql`SELECT count(*) AS n, min(created_at) AS oldest FROM acme_orders WHERE account_id = ${accountId} AND created_at >= ${since}`);
    const oldest = numOrNone(row!.oldest);
    return { count: num(row!.n), ...(oldest !== undefined ? { oldest } : {}) };
  }

  async createOrder(order: Order, authorizations: Authorization[], challenges: Challenge[]): Promise<void> {
    await this.guard(() =>
      this.sql.begin(async (tx) => {
        const rows = shared.orderRows(order, authorizations, challenges);
        await tx.unsafe(`INSERT INTO acme_orders (${shared.INSERT_ORDER_COLUMNS}) VALUES (${placeholders(rows.order.length)})`, [...rows.order]);
        for (const row of rows.authorizations) await tx.unsafe(`INSERT INTO acme_authorizations (${shared.INSERT_AUTHORIZATION_COLUMNS}) VALUES (${placeholders(row.length)})`, [...row]);
        for (const row of rows.challenges) await tx.unsafe(`INSERT INTO acme_challenges (${shared.INSERT_CHALLENGE_COLUMNS}) VALUES (${placeholders(row.length)})`, [...row]);
      }),
    );
  }

  async ordersOf(accountId: string, now: number): Promise<string[]> {
    const rows = await this.rows((sql) => sql`SELECT id FROM acme_orders WHERE account_id = ${accountId} AND expires > ${now} ORDER BY created_at LIMIT 1000`);
    return rows.map((row) => String(row.id));
  }

  async order(id: string): Promise<Order | undefined> {
    return this.one((sql) => sql`SELECT * FROM acme_orders WHERE id = ${id}`, shared.orderFrom);
  }

  async orderBySerial(serial: string): Promise<Order | undefined> {
    return this.one((sql) => sql`SELECT * FROM acme_orders WHERE certificate_serial = ${serial}`, shared.orderFrom);
  }

  async authorization(id: string): Promise<Authorization | undefined> {
    return this.one((sql) => sql`SELECT * FROM acme_authorizations WHERE id = ${id}`, shared.authorizationFrom);
  }

  async authorizationsOf(orderId: string): Promise<Authorization[]> {
    return (await this.rows((sql) => sql`SELECT * FROM acme_authorizations WHERE order_id = ${orderId} ORDER BY position`)).map(shared.authorizationFrom);
  }

  async challenge(id: string): Promise<Challenge | undefined> {
    return this.one((sql) => sql`SELECT * FROM acme_challenges WHERE id = ${id}`, shared.challengeFrom);
  }

  async challengesOf(authorizationId: string): Promise<Challenge[]> {
    return (await this.rows((sql) => sql`SELECT * FROM acme_challenges WHERE authorization_id = ${authorizationId} ORDER BY position`)).map(shared.challengeFrom);
  }

  /** One statement, as claimRow in the SQLite store: a pending challenge of a pending authorization, or a stale or orphaned claim. */
  async claimChallenge(id: string, claim: Claim): Promise<boolean> {
    const result = await this.guard(
      () => this.sql`UPDATE acme_challenges SET status = 'processing', processing_since = ${claim.now}, processing_by = ${claim.owner} WHERE id = ${id}
        AND (status = 'pending' OR (status = 'processing' AND (processing_since < ${claim.staleBefore} OR processing_by = ${claim.deadOwner ?? null})))
        AND (SELECT status FROM acme_authorizations WHERE id = acme_challenges.authorization_id) = 'pending'`,
    );
    return (result.count ?? 0) > 0;
  }

  /** As the SQLite store's: the challenge first, its authorization only if the challenge was this validator's to finish. */
  async finishChallenge(id: string, outcome: ChallengeOutcome): Promise<boolean> {
    return this.guard(() =>
      this.sql.begin(async (tx) => {
        const finished = await tx`UPDATE acme_challenges SET status = ${outcome.status}, validated = ${outcome.status === "valid" ? outcome.at : null},
                   error = ${outcome.error ? JSON.stringify(outcome.error) : null}, processing_since = NULL
                 WHERE id = ${id}
                   AND ((status = 'pending' AND (SELECT status FROM acme_authorizations WHERE id = acme_challenges.authorization_id) = 'pending')
                     OR (status = 'processing' AND processing_by = ${outcome.owner}))`;
        if ((finished.count ?? 0) === 0) return false;
        await tx`UPDATE acme_authorizations SET status = ${outcome.status}
                 WHERE id = (SELECT authorization_id FROM acme_challenges WHERE id = ${id}) AND status = 'pending'`;
        return true;
      }),
    );
  }

  async setAuthorizationStatus(id: string, status: AuthorizationStatus): Promise<void> {
    await this.rows((sql) => sql`UPDATE acme_authorizations SET status = ${status} WHERE id = ${id}`);
  }

  async hasValidAuthorizations(accountId: string, identifiers: Identifier[], now: number): Promise<boolean> {
    for (const identifier of identifiers) {
      const [row] = await this.rows(
        (sql) => sql`SELECT 1 FROM acme_authorizations WHERE account_id = ${accountId} AND type = ${identifier.type} AND value = ${identifier.value}
                       AND status = 'valid' AND expires > ${now} LIMIT 1`,
      );
      if (!row) return false;
    }
    return true;
  }

  async addEabKey(key: EabKey): Promise<void> {
    await this.rows(
      (sql) => sql`INSERT INTO acme_eab_keys (kid, name, hmac_key, allow, created_at)
                   VALUES (${key.kid}, ${key.name}, ${Buffer.from(key.hmacKey).toString("base64url")}, ${JSON.stringify(key.allow)}, ${key.createdAt})`,
    );
  }

  async eabKey(kid: string): Promise<EabKey | undefined> {
    return this.one((sql) => sql`SELECT * FROM acme_eab_keys WHERE kid = ${kid}`, shared.eabKeyFrom);
  }

  /**
   * For `depot ledger migrate`: the SQLite ledger's ACME rows, table by table
   * (shared.ACME_TABLES order, so accounts come before their orders), copied as they
   * are in one transaction; rows already there are kept. Returns how many were new.
   */
  async importRows(tables: Record<string, Row[]>): Promise<number> {
    return this.guard(() =>
      this.sql.begin(async (tx) => {
        let added = 0;
        for (const table of shared.ACME_TABLES) {
          for (const row of tables[table] ?? []) {
            const columns = Object.keys(row);
            const values = columns.map((c) => (shared.BOOLEAN_COLUMNS.has(c) ? row[c] === 1 || row[c] === true : row[c]));
            const result = await tx.unsafe(
              `INSERT INTO ${table} (${columns.join(", ")}) VALUES (${columns.map((_, i) => `$${i + 1}`).join(", ")}) ON CONFLICT DO NOTHING`,
              values,
            );
            added += result.count ?? 0;
          }
        }
        return added;
      }),
    );
  }

  /** The connection pool is the ledger's; it closes with the ledger. */
  close(): void {}
}
