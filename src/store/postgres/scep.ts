/**
 * @module
 * SCEP transactions in the PostgreSQL ledger (schema step 6), shared by
 * every host: a client that polls another host than the one that issued
 * gets its certificate all the same. The first certificate of a
 * transactionID is kept.
 */
import type { SQL } from "bun";
import { type ScepStore, type ScepTransaction, scepTransactionFromRow, type ScepTransactionRow } from "../../ca/scep/store.ts";

export class PostgresScepStore implements ScepStore {
  constructor(
    private readonly sql: SQL,
    private readonly guard: <T>(operation: () => Promise<T>) => Promise<T>,
  ) {}

  async recordTransaction(transaction: ScepTransaction): Promise<void> {
    await this.guard(
      () =>
        this.sql`INSERT INTO scep_transactions (transaction_id, serial, signer_key, created_at)
                 VALUES (${transaction.transactionId}, ${transaction.serial}, ${transaction.signerKey}, ${transaction.createdAt})
                 ON CONFLICT (transaction_id) DO NOTHING`,
    );
  }

  async findTransaction(transactionId: string): Promise<ScepTransaction | undefined> {
    const rows = (await this.guard(() => this.sql`SELECT transaction_id, serial, signer_key, created_at FROM scep_transactions WHERE transaction_id = ${transactionId}`)) as ScepTransactionRow<Date>[];
    return rows[0] ? scepTransactionFromRow(rows[0]) : undefined;
  }
}
