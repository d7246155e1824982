/**
 * @module
 * A certificates-table row as both ledgers store it, and the record it
 * holds: one mapping for SQLite (times as ISO text) and PostgreSQL (times
 * as Date).
 */
import type { CertificateRecord, CertificateStatus, CertificateSummary, CertificateType } from "../ca/ledger.ts";

/** A certificates row; `Time` is ISO text in SQLite, a Date from PostgreSQL. */
export interface CertificateRow<Time extends string | Date> {
  serial: string;
  subject: string;
  type: CertificateType;
  key_type: string;
  not_before: Time;
  not_after: Time;
  fingerprint: string;
  pem: string;
  status: CertificateStatus;
  revoked_at: Time | null;
  revocation_reason: string | null;
  /** The depot.cnf template (null: the built-in named by `type`; rows from before templates). */
  template: string | null;
}

/** The record a row holds (a summary when the row was read without its PEM). */
export function certificateFromRow(row: CertificateRow<string | Date>): CertificateRecord;
export function certificateFromRow(row: Omit<CertificateRow<string | Date>, "pem">): CertificateSummary;
export function certificateFromRow(row: CertificateRow<string | Date> | Omit<CertificateRow<string | Date>, "pem">): CertificateRecord | CertificateSummary {
  return {
    serial: row.serial,
    subject: row.subject,
    type: row.type,
    ...(row.template ? { template: row.template } : {}),
    keyType: row.key_type,
    notBefore: new Date(row.not_before),
    notAfter: new Date(row.not_after),
    fingerprint: row.fingerprint,
    ...("pem" in row ? { pem: row.pem } : {}),
    status: row.status,
    ...(row.revoked_at ? { revokedAt: new Date(row.revoked_at) } : {}),
    ...(row.revocation_reason ? { revocationReason: row.revocation_reason } : {}),
  };
}
