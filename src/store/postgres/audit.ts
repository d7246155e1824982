/**
 * @module
 * The audit hash chain in the PostgreSQL ledger: one chain for every host.
 * A record is appended inside the transaction of the change it records, by
 * a server-side function that takes a transaction-level advisory lock, reads
 * the head and inserts, so two hosts never read the same head; the lock is
 * released by the commit, and the seq primary key would refuse a fork anyway.
 */
import type { SQL } from "bun";
import { AuditChainWalk, type AuditEntry, type AuditLog, type AuditRecord, type AuditVerdict, canonicalBody, recordOf } from "../../ca/audit.ts";

// depot_audit_append (postgres-schema.ts, step 3) takes pg_advisory_xact_lock(0x64657003): one writer at the chain's head at a time.

const PAGE = 1000;

interface Row {
  seq: string | number;
  body: string;
  previous: string;
  hash: string;
}

/** What depot_audit_append (schema step 3) needs: everything of the canonical body after its seq. */
function appendArguments(entry: AuditEntry, at: Date) {
  const time = at.toISOString();
  const prefix = '{"seq":0';
  const tail = canonicalBody(0, time, entry).slice(prefix.length);
  return { time, event: entry.event, serial: entry.serial ?? null, tail };
}

/**
 * The statement that appends one record: the function takes the chain's
 * lock, reads the head, hashes and inserts, in one round trip; the lock
 * lasts until the statement's transaction commits.
 */
export function appendAuditSql(entry: AuditEntry, at = new Date()): { text: string; values: unknown[] } {
  const a = appendArguments(entry, at);
  return { text: "SELECT o_seq, o_previous, o_hash, o_body FROM depot_audit_append($1, $2, $3, $4)", values: [a.time, a.event, a.serial, a.tail] };
}

/** Appends inside the caller's transaction `tx` (the lock lasts until its commit: append last). */
export async function appendAuditWithin(tx: SQL, entry: AuditEntry, at = new Date()): Promise<AuditRecord> {
  const { text, values } = appendAuditSql(entry, at);
  const [row] = (await tx.unsafe(text, values)) as { o_previous: string; o_hash: string; o_body: string }[];
  return { ...(JSON.parse(row!.o_body) as AuditRecord), previous: row!.o_previous, hash: row!.o_hash };
}

export class PostgresAuditLog implements AuditLog {
  constructor(
    private readonly sql: SQL,
    private readonly guard: <T>(operation: () => Promise<T>) => Promise<T>,
  ) {}

  append(entry: AuditEntry, at = new Date()): Promise<AuditRecord> {
    return this.guard(() => this.sql.begin((tx) => appendAuditWithin(tx, entry, at)));
  }

  async after(seq: number, limit: number): Promise<AuditRecord[]> {
    const rows = (await this.guard(() => this.sql`SELECT seq, body, previous, hash FROM audit WHERE seq > ${seq} ORDER BY seq LIMIT ${limit}`)) as Row[];
    return rows.map(recordOf);
  }

  async lastSeq(): Promise<number> {
    const [row] = (await this.guard(() => this.sql`SELECT seq FROM audit ORDER BY seq DESC LIMIT 1`)) as Row[];
    return Number(row?.seq ?? 0);
  }

  /** Walks the chain in pages (the same checks as the SQLite ledger's). */
  async verify(): Promise<AuditVerdict> {
    const walk = new AuditChainWalk();
    for (;;) {
      const rows = (await this.guard(() => this.sql`SELECT seq, body, previous, hash FROM audit WHERE seq >= ${walk.nextSeq} ORDER BY seq LIMIT ${PAGE}`)) as Row[];
      for (const row of rows) {
        const broken = walk.check({ ...row, seq: Number(row.seq) });
        if (broken) return broken;
      }
      if (rows.length < PAGE) return walk.verdict;
    }
  }
}
