/**
 * @module
 * SSH certificates in the PostgreSQL ledger (schema step 5), shared by every
 * host: a row and its audit record in one statement, revocations under the
 * row's lock, the KRL's serials and count read in one snapshot.
 */
import { SQL } from "bun";
import { DepotError } from "../../errors.ts";
import type { AuditActor, AuditEntry } from "../../ca/audit.ts";
import { SerialCollisionError } from "../../ca/ledger.ts";
import type { SshCertificateKind } from "../../ca/ssh/certificate.ts";
import { krlSerials, SSH_COLUMNS, SSH_SUMMARY_COLUMNS, sshFromRow, sshListFilter, type SshRow, sshRowValues } from "../../ca/ssh/ssh-row.ts";
import { type SshCertificateRecord, type SshCertificateSummary, type SshRevocations, sshRevokeEntry, type SshStore } from "../../ca/ssh/store.ts";
import { appendAuditSql, appendAuditWithin } from "./audit.ts";

type Row = SshRow<Date>;

export class PostgresSshStore implements SshStore {
  constructor(
    private readonly sql: SQL,
    private readonly host: string,
    private readonly guard: <T>(operation: () => Promise<T>) => Promise<T>,
  ) {}

  async record(certificate: SshCertificateRecord, audit: AuditEntry): Promise<void> {
    const values = sshRowValues(certificate);
    const append = appendAuditSql(audit);
    const n = values.length;
    const placeholders = values.map((_, i) => `$${i + 1}`).join(", ");
    const appendPlaceholders = append.values.map((_, i) => `$${n + 2 + i}`).join(", ");
    try {
      await this.guard(() =>
        // One statement: the insert, then the audit append (which takes the chain's lock until the commit).
        this.sql.unsafe(
          `WITH inserted AS (INSERT INTO ssh_certificates (${SSH_COLUMNS}, host) VALUES (${placeholders}, $${n + 1}) RETURNING serial)
           SELECT appended.o_seq FROM inserted, LATERAL depot_audit_append(${appendPlaceholders}) AS appended`,
          [...values, this.host, ...append.values],
        ),
      );
    } catch (error) {
      if (error instanceof SQL.PostgresError && error.errno === "23505" && error.constraint === "ssh_certificates_pkey") throw new SerialCollisionError(certificate.serial);
      throw error;
    }
  }

  /**
   * Copies records as they are (`depot ledger migrate`), existing serials
   * kept, and raises the revocation count to at least `revocations`, so a
   * KRL published from here is never older than SQLite's. Returns how many
   * were new.
   */
  async importRecords(records: SshCertificateRecord[], revocations: number): Promise<number> {
    return this.guard(() =>
      this.sql.begin(async (tx) => {
        let added = 0;
        for (const record of records) {
          const values = sshRowValues(record);
          const result = await tx.unsafe(
            `INSERT INTO ssh_certificates (${SSH_COLUMNS}, host) VALUES (${values.map((_, i) => `$${i + 1}`).join(", ")}, $${values.length + 1}) ON CONFLICT DO NOTHING`,
            [...values, this.host],
          );
          added += result.count ?? 0;
        }
        await tx`UPDATE depot_counters SET value = GREATEST(value, ${revocations}) WHERE name = 'ssh_revocations'`;
        return added;
      }),
    );
  }

  async find(serial: string): Promise<SshCertificateRecord | undefined> {
    const rows = (await this.guard(() => this.sql.unsafe(`SELECT ${SSH_COLUMNS} FROM ssh_certificates WHERE serial = $1`, [serial]))) as Row[];
    return rows[0] ? sshFromRow(rows[0]) : undefined;
  }

  async revoke(serial: string, reason: string, at: Date, actor: AuditActor = { requester: "library" }): Promise<SshCertificateRecord> {
    return this.guard(() =>
      this.sql.begin(async (tx) => {
        const rows = (await tx.unsafe(`SELECT ${SSH_COLUMNS} FROM ssh_certificates WHERE serial = $1 FOR UPDATE`, [serial])) as Row[];
        const row = rows[0];
        if (!row) throw new DepotError("E_NOT_FOUND", `no SSH certificate with serial ${serial} in this depot`);
        if (row.status === "revoked") throw new DepotError("E_ALREADY_REVOKED", `SSH certificate ${serial} is already revoked (since ${row.revoked_at?.toISOString()})`);
        await tx`UPDATE ssh_certificates SET status = 'revoked', revoked_at = ${at}, revocation_reason = ${reason} WHERE serial = ${serial}`;
        await tx`UPDATE depot_counters SET value = value + 1 WHERE name = 'ssh_revocations'`;
        const record = { ...sshFromRow(row), status: "revoked" as const, revokedAt: at, revocationReason: reason };
        await appendAuditWithin(tx, sshRevokeEntry(record, reason, actor), at);
        return record;
      }),
    );
  }

  async list(query: { status?: "valid" | "revoked" | "expired"; now?: Date } = {}): Promise<SshCertificateSummary[]> {
    const { where, usesNow } = sshListFilter(query.status, "$1");
    const rows = (await this.guard(() =>
      this.sql.unsafe(`SELECT ${SSH_SUMMARY_COLUMNS} FROM ssh_certificates ${where} ORDER BY valid_after, serial`, usesNow ? [query.now ?? new Date()] : []),
    )) as Omit<Row, "certificate">[];
    return rows.map((row) => sshFromRow(row));
  }

  async revocations(now: Date): Promise<SshRevocations> {
    return this.guard(() =>
      this.sql.begin("ISOLATION LEVEL REPEATABLE READ", async (tx) => {
        const [counter] = await tx`SELECT value FROM depot_counters WHERE name = 'ssh_revocations'`;
        const rows = (await tx`SELECT serial, kind FROM ssh_certificates WHERE status = 'revoked' AND valid_before > ${now}`) as { serial: string; kind: SshCertificateKind }[];
        return { count: Number(counter?.value ?? 0), serials: krlSerials(rows) };
      }),
    );
  }
}

