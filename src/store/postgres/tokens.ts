/**
 * @module
 * API tokens in the PostgreSQL ledger: every host checks and counts against
 * the same rows. A use is taken by one conditional UPDATE; a rate window is
 * read and written under the token row's lock (SELECT … FOR UPDATE), so two
 * hosts never both take the last request of a window.
 */
import type { SQL } from "bun";
import { DepotError } from "../../errors.ts";
import type { AuditEntry } from "../../ca/audit.ts";
import { type Rate, type RateVerdict, sameHash, slidingWindow, TOKEN_COLUMNS, tokenFromRow, type TokenRecord, type TokenRow, type TokenStore } from "../../ca/tokens.ts";
import { appendAuditWithin } from "./audit.ts";

type Row = TokenRow<Date>;

export class PostgresTokenStore implements TokenStore {
  constructor(
    private readonly sql: SQL,
    private readonly guard: <T>(operation: () => Promise<T>) => Promise<T>,
  ) {}

  create(token: TokenRecord, audit: AuditEntry): Promise<void> {
    return this.guard(() =>
      this.sql.begin(async (tx) => {
        const [existing] = (await tx`SELECT revoked_at FROM api_tokens WHERE name = ${token.name} FOR UPDATE`) as { revoked_at: Date | null }[];
        if (existing && existing.revoked_at === null) throw new DepotError("E_BAD_ARGUMENT", `a token named '${token.name}' exists; revoke it first or choose another name`);
        // A revoked token's name may be given again; its row (and its hash) go, its audit records stay.
        await tx`DELETE FROM api_tokens WHERE name = ${token.name}`;
        await tx`INSERT INTO api_tokens (name, hash, policy, created_at, expires_at, uses, uses_left, rate_limit, rate_window)
                 VALUES (${token.name}, ${token.hash}, ${JSON.stringify(token.policy)}, ${token.createdAt}, ${token.expiresAt ?? null},
                         ${token.uses ?? null}, ${token.uses ?? null}, ${token.rate?.limit ?? null}, ${token.rate?.windowSeconds ?? null})`;
        await appendAuditWithin(tx, audit);
      }),
    );
  }

  async findByHash(hash: string): Promise<TokenRecord | undefined> {
    const rows = (await this.guard(() => this.sql.unsafe(`SELECT ${TOKEN_COLUMNS} FROM api_tokens WHERE hash = $1`, [hash]))) as Row[];
    const row = rows[0];
    return row && sameHash(row.hash, hash) ? tokenFromRow(row) : undefined;
  }

  async list(): Promise<TokenRecord[]> {
    const rows = (await this.guard(() => this.sql.unsafe(`SELECT ${TOKEN_COLUMNS} FROM api_tokens ORDER BY created_at, name`))) as Row[];
    return rows.map(tokenFromRow);
  }

  revoke(name: string, at: Date, audit: AuditEntry): Promise<TokenRecord> {
    return this.guard(() =>
      this.sql.begin(async (tx) => {
        const [row] = (await tx.unsafe(`SELECT ${TOKEN_COLUMNS} FROM api_tokens WHERE name = $1 FOR UPDATE`, [name])) as Row[];
        if (!row) throw new DepotError("E_NOT_FOUND", `no token named '${name}' in this depot`);
        if (row.revoked_at) throw new DepotError("E_ALREADY_REVOKED", `token '${name}' is already revoked (since ${row.revoked_at.toISOString()})`);
        await tx`UPDATE api_tokens SET revoked_at = ${at} WHERE name = ${name}`;
        await appendAuditWithin(tx, audit, at);
        return tokenFromRow({ ...row, revoked_at: at });
      }),
    );
  }

  takeRate(name: string, rate: Rate, now: Date): Promise<RateVerdict> {
    return this.guard(() =>
      this.sql.begin(async (tx): Promise<RateVerdict> => {
        const [row] = (await tx`SELECT window_start, window_count, window_before FROM api_tokens WHERE name = ${name} FOR UPDATE`) as Record<string, string | number>[];
        if (!row) return { ok: true };
        const decision = slidingWindow(
          { window_start: Number(row.window_start), window_count: Number(row.window_count), window_before: Number(row.window_before) },
          rate,
          now,
        );
        if (!decision.ok) return decision;
        const { start, current, before } = decision.next;
        await tx`UPDATE api_tokens SET window_start = ${start}, window_count = ${current}, window_before = ${before} WHERE name = ${name}`;
        return { ok: true };
      }),
    );
  }

  async takeUse(name: string): Promise<boolean> {
    const result = await this.guard(() => this.sql`UPDATE api_tokens SET uses_left = uses_left - 1 WHERE name = ${name} AND uses_left > 0 AND revoked_at IS NULL`);
    return (result.count ?? 0) === 1;
  }

  async returnUse(name: string): Promise<void> {
    await this.guard(() => this.sql`UPDATE api_tokens SET uses_left = uses_left + 1 WHERE name = ${name} AND uses_left IS NOT NULL`);
  }
}
