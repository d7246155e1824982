/**
 * @module
 * A cheap "has anyone written to the ledger?" counter for the OCSP cache:
 * SQLite's `PRAGMA data_version` on a connection of our own changes
 * whenever any other connection (this worker's ledger, another worker, the
 * CLI, another server) commits. Reading it touches no table, so a cached
 * answer is re-checked against the ledger only after a write, and a
 * revocation shows on the very next request.
 */
import { Database } from "bun:sqlite";

export class LedgerChanges {
  private readonly db: Database;
  private readonly statement;

  constructor(ledgerPath: string) {
    this.db = new Database(ledgerPath, { readonly: true });
    this.statement = this.db.prepare<{ data_version: number }, []>("PRAGMA data_version");
  }

  /** A number that differs from the last one read if the ledger changed in between. */
  version(): number {
    return this.statement.get()!.data_version;
  }

  close(): void {
    this.db.close();
  }
}
