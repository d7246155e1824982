/**
 * @module
 * One step of a ledger's schema, the same shape in both backends' lists
 * (sqlite/migrations.ts, postgres/schema.ts): only the DDL differs.
 */
export interface Migration {
  /** 1 for the first step, one more for each after it. */
  version: number;
  /** What the step adds, and why, for the record. */
  description: string;
  sql: string;
}
