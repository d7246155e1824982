/**
 * @module
 * API tokens in the SQLite ledger (tables made by its migration 3): audit
 * records go through the same connection, in the same transaction.
 */
import type { Database } from "bun:sqlite";
import { DepotError } from "../../errors.ts";
import type { AuditEntry } from "../../ca/audit.ts";
import { type Rate, type RateVerdict, sameHash, slidingWindow, TOKEN_COLUMNS, tokenFromRow, type TokenRecord, type TokenRow, type TokenStore } from "../../ca/tokens.ts";
import { SqliteAuditLog } from "./audit.ts";
import { retryBusy } from "./busy.ts";

type Row = TokenRow;

export class SqliteTokenStore implements TokenStore {
  private readonly audit: SqliteAuditLog;

  constructor(private readonly db: Database) {
    this.audit = new SqliteAuditLog(db);
  }

  async create(token: TokenRecord, audit: AuditEntry): Promise<void> {
    const create = this.db.transaction(() => {
      const existing = this.db.query<{ revoked_at: string | null }, [string]>("SELECT revoked_at FROM api_tokens WHERE name = ?").get(token.name);
      if (existing && existing.revoked_at === null) throw new DepotError("E_BAD_ARGUMENT", `a token named '${token.name}' exists; revoke it first or choose another name`);
      // A revoked token's name may be given again; its row (and its hash) go, its audit records stay.
      this.db.query("DELETE FROM api_tokens WHERE name = ?").run(token.name);
      this.db
        .query(`INSERT INTO api_tokens (${TOKEN_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)`)
        .run(
          token.name,
          token.hash,
          JSON.stringify(token.policy),
          token.createdAt.toISOString(),
          token.expiresAt?.toISOString() ?? null,
          token.uses ?? null,
          token.uses ?? null,
          token.rate?.limit ?? null,
          token.rate?.windowSeconds ?? null,
        );
      this.audit.appendWithin(audit);
    });
    await retryBusy(() => create.immediate());
  }

  async findByHash(hash: string): Promise<TokenRecord | undefined> {
    const row = this.db.query<Row, [string]>(`SELECT ${TOKEN_COLUMNS} FROM api_tokens WHERE hash = ?`).get(hash);
    return row && sameHash(row.hash, hash) ? tokenFromRow(row) : undefined;
  }

  async list(): Promise<TokenRecord[]> {
    return this.db.query<Row, []>(`SELECT ${TOKEN_COLUMNS} FROM api_tokens ORDER BY created_at, name`).all().map(tokenFromRow);
  }

  async revoke(name: string, at: Date, audit: AuditEntry): Promise<TokenRecord> {
    const revoke = this.db.transaction(() => {
      const row = this.db.query<Row, [string]>(`SELECT ${TOKEN_COLUMNS} FROM api_tokens WHERE name = ?`).get(name);
      if (!row) throw new DepotError("E_NOT_FOUND", `no token named '${name}' in this depot`);
      if (row.revoked_at) throw new DepotError("E_ALREADY_REVOKED", `token '${name}' is already revoked (since ${row.revoked_at})`);
      this.db.query("UPDATE api_tokens SET revoked_at = ? WHERE name = ?").run(at.toISOString(), name);
      this.audit.appendWithin(audit, at);
      return tokenFromRow({ ...row, revoked_at: at.toISOString() });
    });
    return retryBusy(() => revoke.immediate());
  }

  /**
   * A sliding window made of two fixed ones (the previous window's count,
   * weighted by how much of it still overlaps, plus the current one's):
   * no burst of twice the limit at a window's edge, and two integers per token.
   */
  async takeRate(name: string, rate: Rate, now: Date): Promise<RateVerdict> {
    const take = this.db.transaction((): RateVerdict => {
      const row = this.db
        .query<{ window_start: number; window_count: number; window_before: number }, [string]>(
          "SELECT window_start, window_count, window_before FROM api_tokens WHERE name = ?",
        )
        .get(name);
      if (!row) return { ok: true };
      const decision = slidingWindow(row, rate, now);
      if (!decision.ok) return decision;
      const { start, current, before } = decision.next;
      this.db
        .query("UPDATE api_tokens SET window_start = ?, window_count = ?, window_before = ? WHERE name = ?")
        .run(start, current, before, name);
      return { ok: true };
    });
    return retryBusy(() => take.immediate());
  }

  async takeUse(name: string): Promise<boolean> {
    const taken = await retryBusy(
      () => this.db.query("UPDATE api_tokens SET uses_left = uses_left - 1 WHERE name = ? AND uses_left > 0 AND revoked_at IS NULL").run(name).changes,
    );
    return taken === 1;
  }

  async returnUse(name: string): Promise<void> {
    await retryBusy(() => this.db.query("UPDATE api_tokens SET uses_left = uses_left + 1 WHERE name = ? AND uses_left IS NOT NULL").run(name));
  }
}

