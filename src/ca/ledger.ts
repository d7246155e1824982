import { Database, SQLiteError } from "bun:sqlite";

export type CertificateType = "client" | "server" | "ca";
export type CertificateStatus = "valid" | "revoked";

/** One issued certificate as the ledger keeps it. */
export interface CertificateRecord {
  /** The serial's magnitude in lower-case hex, no leading zero bytes (see serial.ts). */
  serial: string;
  subject: string;
  type: CertificateType;
  keyType: string;
  notBefore: Date;
  notAfter: Date;
  /** SHA-256 of the DER certificate, lower-case hex. */
  fingerprint: string;
  pem: string;
  status: CertificateStatus;
  revokedAt?: Date;
  revocationReason?: string;
}

export class SerialTakenError extends Error {}

/**
 * Where a depot records what it issued. Claiming a serial and recording the
 * certificate are one `record` call, atomic in every implementation: a
 * duplicate serial throws SerialTakenError and leaves nothing behind.
 * Asynchronous so that a networked ledger (PostgreSQL, for several hosts) can
 * implement it too.
 */
export interface Ledger {
  record(certificate: CertificateRecord): Promise<void>;
  /** Records certificates found on disk (a depot made by the original); existing serials are kept. */
  adopt(certificates: CertificateRecord[]): Promise<number>;
  /** Whether `adopt` has run to the end once, so files on disk are all recorded. */
  hasAdopted(): Promise<boolean>;
  find(serial: string): Promise<CertificateRecord | undefined>;
  list(): Promise<CertificateRecord[]>;
  count(): Promise<number>;
  close(): void;
}

interface Row {
  serial: string;
  subject: string;
  type: CertificateType;
  key_type: string;
  not_before: string;
  not_after: string;
  fingerprint: string;
  pem: string;
  status: CertificateStatus;
  revoked_at: string | null;
  revocation_reason: string | null;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS certificates (
  serial            TEXT PRIMARY KEY NOT NULL,
  subject           TEXT NOT NULL,
  type              TEXT NOT NULL CHECK (type IN ('client', 'server', 'ca')),
  key_type          TEXT NOT NULL,
  not_before        TEXT NOT NULL,
  not_after         TEXT NOT NULL,
  fingerprint       TEXT NOT NULL UNIQUE,
  pem               TEXT NOT NULL,
  status            TEXT NOT NULL DEFAULT 'valid' CHECK (status IN ('valid', 'revoked')),
  revoked_at        TEXT,
  revocation_reason TEXT
) STRICT;
CREATE TABLE IF NOT EXISTS counters (
  name  TEXT PRIMARY KEY NOT NULL,
  value INTEGER NOT NULL
) STRICT;
`;

const COLUMNS =
  "serial, subject, type, key_type, not_before, not_after, fingerprint, pem, status, revoked_at, revocation_reason";

/** The ledger in an SQLite file inside the depot, shared by every worker process. */
export class SqliteLedger implements Ledger {
  private readonly db: Database;
  private readonly insert;

  constructor(path: string) {
    this.db = new Database(path, { create: true, strict: true });
    // Several processes write at once: wait for the lock instead of failing
    // with SQLITE_BUSY, and let readers go on during a write (WAL).
    this.db.run("PRAGMA busy_timeout = 10000");
    this.db.run("PRAGMA journal_mode = WAL");
    this.db.run("PRAGMA synchronous = NORMAL");
    this.db.run(SCHEMA);
    this.insert = this.db.prepare(
      `INSERT INTO certificates (${COLUMNS}) VALUES ($serial, $subject, $type, $key_type, $not_before, $not_after, $fingerprint, $pem, $status, $revoked_at, $revocation_reason)`,
    );
  }

  async record(certificate: CertificateRecord): Promise<void> {
    try {
      this.insert.run(toRow(certificate) as never);
    } catch (error) {
      if (error instanceof SQLiteError && error.code?.startsWith("SQLITE_CONSTRAINT")) {
        throw new SerialTakenError(`serial ${certificate.serial} is taken`);
      }
      throw error;
    }
  }

  async adopt(certificates: CertificateRecord[]): Promise<number> {
    const adoptOne = this.db.prepare(
      `INSERT OR IGNORE INTO certificates (${COLUMNS}) VALUES ($serial, $subject, $type, $key_type, $not_before, $not_after, $fingerprint, $pem, $status, $revoked_at, $revocation_reason)`,
    );
    const markAdopted = this.db.prepare("INSERT OR REPLACE INTO counters (name, value) VALUES ('adopted', 1)");
    const adoptAll = this.db.transaction((records: CertificateRecord[]) => {
      let added = 0;
      for (const record of records) added += adoptOne.run(toRow(record) as never).changes;
      markAdopted.run();
      return added;
    });
    return adoptAll.immediate(certificates);
  }

  async hasAdopted(): Promise<boolean> {
    return this.db.query("SELECT 1 FROM counters WHERE name = 'adopted'").get() !== null;
  }

  async find(serial: string): Promise<CertificateRecord | undefined> {
    const row = this.db.query<Row, [string]>(`SELECT ${COLUMNS} FROM certificates WHERE serial = ?`).get(serial);
    return row ? fromRow(row) : undefined;
  }

  async list(): Promise<CertificateRecord[]> {
    return this.db
      .query<Row, []>(`SELECT ${COLUMNS} FROM certificates ORDER BY not_before, serial`)
      .all()
      .map(fromRow);
  }

  async count(): Promise<number> {
    return this.db.query<{ n: number }, []>("SELECT count(*) AS n FROM certificates").get()!.n;
  }

  close(): void {
    this.db.close();
  }
}

function toRow(c: CertificateRecord): Row {
  return {
    serial: c.serial,
    subject: c.subject,
    type: c.type,
    key_type: c.keyType,
    not_before: c.notBefore.toISOString(),
    not_after: c.notAfter.toISOString(),
    fingerprint: c.fingerprint,
    pem: c.pem,
    status: c.status,
    revoked_at: c.revokedAt?.toISOString() ?? null,
    revocation_reason: c.revocationReason ?? null,
  };
}

function fromRow(row: Row): CertificateRecord {
  return {
    serial: row.serial,
    subject: row.subject,
    type: row.type,
    keyType: row.key_type,
    notBefore: new Date(row.not_before),
    notAfter: new Date(row.not_after),
    fingerprint: row.fingerprint,
    pem: row.pem,
    status: row.status,
    ...(row.revoked_at ? { revokedAt: new Date(row.revoked_at) } : {}),
    ...(row.revocation_reason ? { revocationReason: row.revocation_reason } : {}),
  };
}
