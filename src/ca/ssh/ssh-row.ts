/**
 * @module
 * An ssh_certificates row as both ledgers store it, and the record it holds:
 * one mapping for SQLite (times as ISO text) and PostgreSQL (times as Date),
 * and one statement text where the dialects agree.
 */
import type { SshCertificateKind } from "./certificate.ts";
import type { SshCertificateRecord, SshCertificateSummary } from "./store.ts";

export interface SshRow<Time extends string | Date> {
  serial: string;
  kind: SshCertificateKind;
  key_id: string;
  /** JSON array of strings. */
  principals: string;
  key_type: string;
  key_fingerprint: string;
  valid_after: Time;
  valid_before: Time;
  certificate: string;
  status: "valid" | "revoked";
  revoked_at: Time | null;
  revocation_reason: string | null;
}

export const SSH_COLUMN_NAMES = ["serial", "kind", "key_id", "principals", "key_type", "key_fingerprint", "valid_after", "valid_before", "certificate", "status", "revoked_at", "revocation_reason"] as const;
export const SSH_COLUMNS = SSH_COLUMN_NAMES.join(", ");
export const SSH_SUMMARY_COLUMNS = SSH_COLUMN_NAMES.filter((c) => c !== "certificate").join(", ");

/** The row's values in SSH_COLUMN_NAMES order, times as ISO text (both dialects read that). */
export function sshRowValues(record: SshCertificateRecord): (string | null)[] {
  return [
    record.serial,
    record.kind,
    record.keyId,
    JSON.stringify(record.principals),
    record.keyType,
    record.keyFingerprint,
    record.validAfter.toISOString(),
    record.validBefore.toISOString(),
    record.certificate,
    record.status,
    record.revokedAt?.toISOString() ?? null,
    record.revocationReason ?? null,
  ];
}

export function sshFromRow(row: SshRow<string | Date>): SshCertificateRecord;
export function sshFromRow(row: Omit<SshRow<string | Date>, "certificate">): SshCertificateSummary;
export function sshFromRow(row: SshRow<string | Date> | Omit<SshRow<string | Date>, "certificate">): SshCertificateRecord | SshCertificateSummary {
  return {
    serial: row.serial,
    kind: row.kind,
    keyId: row.key_id,
    principals: JSON.parse(row.principals) as string[],
    keyType: row.key_type,
    keyFingerprint: row.key_fingerprint,
    validAfter: new Date(row.valid_after),
    validBefore: new Date(row.valid_before),
    ...("certificate" in row ? { certificate: row.certificate } : {}),
    status: row.status,
    ...(row.revoked_at ? { revokedAt: new Date(row.revoked_at) } : {}),
    ...(row.revocation_reason ? { revocationReason: row.revocation_reason } : {}),
  };
}

/** The WHERE clause of a listing; `now` is the dialect's placeholder for the moment that tells valid from expired. */
export function sshListFilter(status: "valid" | "revoked" | "expired" | undefined, now: string): { where: string; usesNow: boolean } {
  switch (status) {
    case "valid":
      return { where: `WHERE status = 'valid' AND valid_before > ${now}`, usesNow: true };
    case "expired":
      return { where: `WHERE status = 'valid' AND valid_before <= ${now}`, usesNow: true };
    case "revoked":
      return { where: "WHERE status = 'revoked'", usesNow: false };
    default:
      return { where: "", usesNow: false };
  }
}

/** Unexpired revoked serials by CA, as the KRL lists them. */
export function krlSerials(rows: { serial: string; kind: SshCertificateKind }[]): Record<SshCertificateKind, bigint[]> {
  const serials: Record<SshCertificateKind, bigint[]> = { user: [], host: [] };
  for (const row of rows) serials[row.kind].push(BigInt(row.serial));
  return serials;
}
