/**
 * @module
 * SCEP transactions in the SQLite ledger (schema step 8): one row per
 * enrolment, the first certificate of a transactionID kept.
 */
import type { Database } from "bun:sqlite";
import { type ScepStore, type ScepTransaction, scepTransactionFromRow, type ScepTransactionRow } from "../../ca/scep/store.ts";

export class SqliteScepStore implements ScepStore {
  constructor(
    private readonly db: Database,
    /** The ledger's write wrapper: busy retries and errors in words. */
    private readonly write: <T>(work: () => T) => Promise<T>,
    private readonly read: <T>(work: () => T) => T,
  ) {}

  recordTransaction(transaction: ScepTransaction): Promise<void> {
    return this.write(() => {
      this.db
        .query("INSERT INTO scep_transactions (transaction_id, serial, signer_key, created_at) VALUES (?, ?, ?, ?) ON CONFLICT (transaction_id) DO NOTHING")
        .run(transaction.transactionId, transaction.serial, transaction.signerKey, transaction.createdAt.toISOString());
    });
  }

  async findTransaction(transactionId: string): Promise<ScepTransaction | undefined> {
    return this.read(() => {
      const row = this.db.query<ScepTransactionRow, [string]>("SELECT transaction_id, serial, signer_key, created_at FROM scep_transactions WHERE transaction_id = ?").get(transactionId);
      return row ? scepTransactionFromRow(row) : undefined;
    });
  }
}
