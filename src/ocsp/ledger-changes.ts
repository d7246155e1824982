/**
 * @module
 * A cheap "has anyone written to the ledger?" counter for the OCSP cache:
 * SQLite's `PRAGMA data_version` on a connection of our own changes
 * whenever any other connection (this worker's ledger, another worker, the
 * CLI, another server) commits. Reading it touches no table, so a cached
 * answer is re-checked against the ledger only after a write, and a
 * revocation shows on the next request. Read at most every READ_EVERY_MS
 * (a statement per request was a tenth of a cached answer's cost).
 */
import { Database } from "bun:sqlite";
import { existsSync } from "node:fs";

export const READ_EVERY_MS = 5;

export class LedgerChanges {
  private readonly db: Database;
  private readonly statement;
  private last = 0;
  private readAt = -Infinity;

  /**
   * The counter of an SQLite ledger; undefined for another ledger
   * (PostgreSQL), whose revocations the cache then sees within RECHECK_MS.
   */
  static forSqlite(ledgerPath: string): LedgerChanges | undefined {
    if (!existsSync(ledgerPath)) return undefined;
    try {
      return new LedgerChanges(ledgerPath);
    } catch {
      return undefined;
    }
  }

  constructor(ledgerPath: string) {
    this.db = new Database(ledgerPath, { readonly: true });
    this.statement = this.db.prepare<{ data_version: number }, []>("PRAGMA data_version");
  }

  /** A number that differs from the last one read if the ledger changed in between. */
  version(): number {
    const now = performance.now();
    if (now - this.readAt >= READ_EVERY_MS) {
      this.last = this.statement.get()!.data_version;
      this.readAt = now;
    }
    return this.last;
  }

  close(): void {
    this.db.close();
  }
}
