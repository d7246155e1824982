/**
 * @module
 * What a ledger keeps of SCEP (RFC 8894) enrolments: which certificate a
 * client's transactionID got, so a GetCertInitial poll (a client that lost
 * the answer) is given that certificate again. Depot never answers PENDING,
 * so this is the only state a transaction has. Each ledger (SQLite,
 * PostgreSQL) implements it; every host of a PostgreSQL ledger sees every
 * other host's transactions.
 */

export interface ScepTransaction {
  /** The client's transactionID attribute (printable text, at most 128 characters). */
  transactionId: string;
  /** The certificate issued for it (lower-case hex, as the ledger keys it). */
  serial: string;
  /** SHA-256 (hex) of the SPKI that signed the request: a poll must be signed by the same key. */
  signerKey: string;
  createdAt: Date;
}

export interface ScepStore {
  /** Records a transaction's certificate; a transactionID already recorded keeps its first certificate. */
  recordTransaction(transaction: ScepTransaction): Promise<void>;
  findTransaction(transactionId: string): Promise<ScepTransaction | undefined>;
}

/** The longest transactionID kept: RFC 8894's are hashes in hex or base64 (40 to 88 characters). */
export const MAX_TRANSACTION_ID = 128;

/** A scep_transactions row as both ledgers read it; `Time` is ISO text in SQLite, a Date from PostgreSQL. */
export interface ScepTransactionRow<Time extends string | Date = string> {
  transaction_id: string;
  serial: string;
  signer_key: string;
  created_at: Time;
}

export function scepTransactionFromRow(row: ScepTransactionRow<string | Date>): ScepTransaction {
  return { transactionId: row.transaction_id, serial: row.serial, signerKey: row.signer_key, createdAt: new Date(row.created_at) };
}
