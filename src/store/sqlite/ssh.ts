/**
 * @module
 * SSH certificates in the SQLite ledger (schema step 6): rows, revocations
 * and the KRL's serials, each change with its audit record in one IMMEDIATE
 * transaction on the ledger's connection.
 */
import { type Database, SQLiteError } from "bun:sqlite";
import { DepotError } from "../../errors.ts";
import type { AuditActor, AuditEntry } from "../../ca/audit.ts";
import type { SqliteAuditLog } from "./audit.ts";
import { SerialCollisionError } from "../../ca/ledger.ts";
import type { SshCertificateKind } from "../../ca/ssh/certificate.ts";
import { krlSerials, SSH_COLUMN_NAMES, SSH_COLUMNS, SSH_SUMMARY_COLUMNS, sshFromRow, sshListFilter, type SshRow, sshRowValues } from "../../ca/ssh/ssh-row.ts";
import { type SshCertificateRecord, type SshCertificateSummary, type SshRevocations, sshRevokeEntry, type SshStore } from "../../ca/ssh/store.ts";

type Row = SshRow<string>;

export class SqliteSshStore implements SshStore {
  constructor(
    private readonly db: Database,
    private readonly audit: SqliteAuditLog,
    /** The ledger's write wrapper: busy retries and errors in words. */
    private readonly write: <T>(work: () => T) => Promise<T>,
    private readonly read: <T>(work: () => T) => T,
  ) {}

  record(certificate: SshCertificateRecord, audit: AuditEntry): Promise<void> {
    const insert = this.db.transaction(() => {
      try {
        this.db.query(`INSERT INTO ssh_certificates (${SSH_COLUMNS}) VALUES (${SSH_COLUMN_NAMES.map(() => "?").join(", ")})`).run(...sshRowValues(certificate));
      } catch (error) {
        if (error instanceof SQLiteError && error.code === "SQLITE_CONSTRAINT_PRIMARYKEY") throw new SerialCollisionError(certificate.serial);
        throw error;
      }
      this.audit.appendWithin(audit);
    });
    return this.write(() => insert.immediate());
  }

  async find(serial: string): Promise<SshCertificateRecord | undefined> {
    return this.read(() => {
      const row = this.db.query<Row, [string]>(`SELECT ${SSH_COLUMNS} FROM ssh_certificates WHERE serial = ?`).get(serial);
      return row ? sshFromRow(row) : undefined;
    });
  }

  revoke(serial: string, reason: string, at: Date, actor: AuditActor = { requester: "library" }): Promise<SshCertificateRecord> {
    const revokeOne = this.db.transaction(() => {
      const changed = this.db
        .query("UPDATE ssh_certificates SET status = 'revoked', revoked_at = ?, revocation_reason = ? WHERE serial = ? AND status = 'valid'")
        .run(at.toISOString(), reason, serial).changes;
      const row = this.db.query<Row, [string]>(`SELECT ${SSH_COLUMNS} FROM ssh_certificates WHERE serial = ?`).get(serial);
      if (!row) throw new DepotError("E_NOT_FOUND", `no SSH certificate with serial ${serial} in this depot`);
      if (!changed) throw new DepotError("E_ALREADY_REVOKED", `SSH certificate ${serial} is already revoked (since ${row.revoked_at})`);
      this.db.query("INSERT INTO counters (name, value) VALUES ('ssh_revocations', 1) ON CONFLICT (name) DO UPDATE SET value = value + 1").run();
      const record = sshFromRow(row);
      this.audit.appendWithin(sshRevokeEntry(record, reason, actor), at);
      return record;
    });
    return this.write(() => revokeOne.immediate());
  }

  async list(query: { status?: "valid" | "revoked" | "expired"; now?: Date } = {}): Promise<SshCertificateSummary[]> {
    const { where, usesNow } = sshListFilter(query.status, "?");
    const parameters = usesNow ? [(query.now ?? new Date()).toISOString()] : [];
    return this.read(() =>
      this.db
        .query<Omit<Row, "certificate">, string[]>(`SELECT ${SSH_SUMMARY_COLUMNS} FROM ssh_certificates ${where} ORDER BY valid_after, serial`)
        .all(...parameters)
        .map((row) => sshFromRow(row)),
    );
  }

  async revocations(now: Date): Promise<SshRevocations> {
    const take = this.db.transaction(() => {
      const count = this.db.query<{ value: number }, []>("SELECT value FROM counters WHERE name = 'ssh_revocations'").get()?.value ?? 0;
      const rows = this.db
        .query<{ serial: string; kind: SshCertificateKind }, [string]>("SELECT serial, kind FROM ssh_certificates WHERE status = 'revoked' AND valid_before > ?")
        .all(now.toISOString());
      return { count, serials: krlSerials(rows) };
    });
    // DEFERRED: a read transaction, so the count and the serials agree.
    return this.read(() => take.deferred());
  }
}
