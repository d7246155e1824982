/**
 * @module
 * The audit hash chain in the SQLite ledger file: appended inside the
 * ledger's own IMMEDIATE transactions, on its connection.
 */
import type { Database, Statement } from "bun:sqlite";
import { AuditChainWalk, type AuditEntry, type AuditLog, type AuditRecord, type AuditVerdict, canonicalBody, chainHash, GENESIS, recordOf } from "../../ca/audit.ts";
import { retryBusy } from "./busy.ts";

interface Row {
  seq: number;
  body: string;
  previous: string;
  hash: string;
}

/** The chain in the SQLite ledger file. */
export class SqliteAuditLog implements AuditLog {
  private readonly head: Statement<{ seq: number; hash: string }, []>;
  private readonly insert: Statement;

  constructor(private readonly db: Database) {
    this.head = db.query<{ seq: number; hash: string }, []>("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1");
    this.insert = db.query("INSERT INTO audit (seq, time, event, serial, body, previous, hash) VALUES (?, ?, ?, ?, ?, ?, ?)");
  }

  /**
   * Appends inside the caller's transaction on the same connection (which
   * must be IMMEDIATE, so the head cannot move underneath); the seq primary
   * key refuses a fork if it somehow did.
   */
  appendWithin(entry: AuditEntry, at = new Date()): AuditRecord {
    const { body, previous, hash } = this.chainOn(this.head.get(), entry, at);
    return { ...(JSON.parse(body) as AuditRecord), previous, hash };
  }

  /**
   * Appends several records inside the caller's IMMEDIATE transaction,
   * reading the head once: what a group of issuances records, where the
   * records themselves are not wanted back.
   */
  appendAllWithin(entries: AuditEntry[], at = new Date()): void {
    let head = entries.length > 0 ? this.head.get() : null;
    for (const entry of entries) {
      const { seq, hash } = this.chainOn(head, entry, at);
      head = { seq, hash };
    }
  }

  /** Inserts `entry` as the record after `head` (none: the chain's first); returns what it wrote. */
  private chainOn(head: { seq: number; hash: string } | null, entry: AuditEntry, at: Date): { seq: number; body: string; previous: string; hash: string } {
    const seq = (head?.seq ?? 0) + 1;
    const previous = head?.hash ?? GENESIS;
    const time = at.toISOString();
    const body = canonicalBody(seq, time, entry);
    const hash = chainHash(previous, body);
    this.insert.run(seq, time, entry.event, entry.serial ?? null, body, previous, hash);
    return { seq, body, previous, hash };
  }

  async append(entry: AuditEntry, at = new Date()): Promise<AuditRecord> {
    const append = this.db.transaction(() => this.appendWithin(entry, at));
    return retryBusy(() => append.immediate());
  }

  async after(seq: number, limit: number): Promise<AuditRecord[]> {
    return this.db
      .query<Row, [number, number]>("SELECT seq, body, previous, hash FROM audit WHERE seq > ? ORDER BY seq LIMIT ?")
      .all(seq, limit)
      .map(recordOf);
  }

  async lastSeq(): Promise<number> {
    return this.db.query<{ seq: number }, []>("SELECT seq FROM audit ORDER BY seq DESC LIMIT 1").get()?.seq ?? 0;
  }

  async verify(): Promise<AuditVerdict> {
    const walk = new AuditChainWalk();
    for (const row of this.db.query<Row, []>("SELECT seq, body, previous, hash FROM audit ORDER BY seq").iterate()) {
      const broken = walk.check(row);
      if (broken) return broken;
    }
    return walk.verdict;
  }
}

