/**
 * @module
 * The SELECT behind `Ledger.list` and `Ledger.each`, for both ledgers: the
 * same conditions, the same order of issue (not_before, then serial; an
 * index gives it without a sort), the same page cursor and size. Each
 * dialect says only how a value is bound (`bind` returns its placeholder).
 */
import type { ListQuery } from "../ca/ledger.ts";

/** The certificates table's columns, in one place: every SELECT and INSERT names them from here. */
export const CERTIFICATE_COLUMN_NAMES = ["serial", "subject", "type", "key_type", "not_before", "not_after", "fingerprint", "pem", "status", "revoked_at", "revocation_reason", "template"] as const;
export const CERTIFICATE_COLUMNS = CERTIFICATE_COLUMN_NAMES.join(", ");
/** What `each` reads: a record without its PEM, a tenth of the bytes. */
export const SUMMARY_COLUMNS = CERTIFICATE_COLUMN_NAMES.filter((c) => c !== "pem").join(", ");

/** A time or text the dialect binds: SQLite keeps times as ISO text, PostgreSQL as timestamptz. */
export type Bind = (value: Date | string) => string;

/** The SELECT of `columns` for `query`, with `after` as the page's cursor and `limit` (overridden by `pageLimit`) as its size. */
export function listSelect(columns: string, query: ListQuery, bind: Bind, pageLimit?: number): string {
  const now = () => bind(query.now ?? new Date());
  const conditions = [
    query.includeCa === false ? "type != 'ca'" : undefined,
    query.status === "revoked" ? "status = 'revoked'" : undefined,
    query.status === "valid" ? `status = 'valid' AND not_after > ${now()}` : undefined,
    query.status === "expired" ? `status = 'valid' AND not_after <= ${now()}` : undefined,
    query.after ? `(not_before, serial) > (${bind(query.after.notBefore)}, ${bind(query.after.serial)})` : undefined,
  ].filter((c) => c !== undefined);
  const where = conditions.length > 0 ? `WHERE ${conditions.join(" AND ")}` : "";
  const limit = pageLimit ?? query.limit;
  const limitClause = limit !== undefined ? ` LIMIT ${Math.max(0, Math.floor(limit))}` : "";
  return `SELECT ${columns} FROM certificates ${where} ORDER BY not_before, serial${limitClause}`;
}
