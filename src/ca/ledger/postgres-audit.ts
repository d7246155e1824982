/**
 * @module
 * The audit hash chain in the PostgreSQL ledger: one chain for every host.
 * A record is appended inside the transaction of the change it records, by
 * a server-side function that takes a transaction-level advisory lock, reads
 * the head and inserts, so two hosts never read the same head; the lock is
 * released by the commit, and the seq primary key would refuse a fork anyway.
 */
import type { SQL } from "bun";
import { type AuditEntry, type AuditLog, type AuditRecord, type AuditVerdict, canonicalBody, chainHash, GENESIS } from "../audit.ts";

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
    let expectedSeq = 1;
    let previous = GENESIS;
    for (;;) {
      const rows = (await this.guard(() => this.sql`SELECT seq, body, previous, hash FROM audit WHERE seq >= ${expectedSeq} ORDER BY seq LIMIT ${PAGE}`)) as Row[];
      for (const raw of rows) {
        const row = { ...raw, seq: Number(raw.seq) };
        const broken = (problem: string, seq = row.seq): AuditVerdict => ({ ok: false, count: expectedSeq - 1, seq, problem });
        if (row.seq !== expectedSeq) return broken(`record ${expectedSeq}${row.seq > expectedSeq + 1 ? ` to ${row.seq - 1}` : ""} missing (next is ${row.seq})`, expectedSeq);
        if (row.previous !== previous) return broken(`record ${row.seq} does not follow record ${row.seq - 1} (its previous hash differs)`);
        if (chainHash(row.previous, row.body) !== row.hash) return broken(`record ${row.seq} was altered (its hash does not match its content)`);
        let body: { seq?: unknown };
        try {
          body = JSON.parse(row.body) as { seq?: unknown };
        } catch {
          return broken(`record ${row.seq} is not JSON`);
        }
        if (body.seq !== row.seq) return broken(`record ${row.seq} holds seq ${String(body.seq)}`);
        previous = row.hash;
        expectedSeq++;
      }
      if (rows.length < PAGE) return { ok: true, count: expectedSeq - 1, head: previous };
    }
  }
}

function recordOf(row: Row): AuditRecord {
  return { ...(JSON.parse(row.body) as AuditRecord), previous: row.previous, hash: row.hash };
}
