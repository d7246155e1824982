import type { Profile } from "./profiles.ts";
import { Database, SQLiteError } from "bun:sqlite";
import { DepotError } from "../errors.ts";

export type CertificateType = Profile | "ca";
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
  /** Marks a valid certificate revoked; an unknown or already revoked serial is an error. */
  revoke(serial: string, reason: string, at: Date): Promise<CertificateRecord>;
  /**
   * Takes the next CRL number and, in the same transaction, the certificates
   * revoked and not yet expired: a higher number always lists at least as much.
   */
  claimCrl(now: Date): Promise<{ crlNumber: number; revoked: CertificateRecord[] }>;
  /**
   * Runs `publish` (which must be synchronous: it renames the CRL file into
   * place) only if no CRL with a higher number was published, so that two
   * processes writing crl.pem at once leave the newer one.
   */
  publishIfNewest(crlNumber: number, publish: () => void): Promise<boolean>;
  list(): Promise<CertificateRecord[]>;
  /** Serials of every certificate but the CA's, without the rest of their records. */
  leafSerials(): Promise<string[]>;
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
    // Opening and the schema may meet another process's first write: let
    // SQLite wait for the lock here. Afterwards writes fail fast with
    // SQLITE_BUSY and are retried by `retryBusy`, which waits without
    // blocking the event loop (SQLite's own busy handler sleeps the thread,
    // which halved throughput with two workers issuing at once).
    this.db.run("PRAGMA busy_timeout = 10000");
    this.db.run("PRAGMA journal_mode = WAL");
    this.db.run("PRAGMA synchronous = NORMAL");
    this.db.run(SCHEMA);
    this.db.run("PRAGMA busy_timeout = 0");
    this.insert = this.db.prepare(
      `INSERT INTO certificates (${COLUMNS}) VALUES ($serial, $subject, $type, $key_type, $not_before, $not_after, $fingerprint, $pem, $status, $revoked_at, $revocation_reason)`,
    );
  }

  async record(certificate: CertificateRecord): Promise<void> {
    try {
      await retryBusy(() => this.insert.run(toRow(certificate) as never));
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
    return retryBusy(() => adoptAll.immediate(certificates));
  }

  async hasAdopted(): Promise<boolean> {
    return this.db.query("SELECT 1 FROM counters WHERE name = 'adopted'").get() !== null;
  }

  async find(serial: string): Promise<CertificateRecord | undefined> {
    const row = this.db.query<Row, [string]>(`SELECT ${COLUMNS} FROM certificates WHERE serial = ?`).get(serial);
    return row ? fromRow(row) : undefined;
  }

  async revoke(serial: string, reason: string, at: Date): Promise<CertificateRecord> {
    const revokeOne = this.db.transaction(() => {
      const changed = this.db
        .query("UPDATE certificates SET status = 'revoked', revoked_at = ?, revocation_reason = ? WHERE serial = ? AND status = 'valid' AND type != 'ca'")
        .run(at.toISOString(), reason, serial).changes;
      const row = this.db.query<Row, [string]>(`SELECT ${COLUMNS} FROM certificates WHERE serial = ?`).get(serial);
      if (!row) throw new DepotError("E_NOT_FOUND", `no certificate with serial ${serial.toUpperCase()} in this depot`);
      if (row.type === "ca") throw new DepotError("E_BAD_ARGUMENT", `serial ${serial.toUpperCase()} is the CA certificate itself; it cannot be revoked`);
      if (!changed) throw new DepotError("E_ALREADY_REVOKED", `certificate ${serial.toUpperCase()} is already revoked (since ${row.revoked_at})`);
      return fromRow(row);
    });
    return retryBusy(() => revokeOne.immediate());
  }

  async claimCrl(now: Date): Promise<{ crlNumber: number; revoked: CertificateRecord[] }> {
    const claim = this.db.transaction(() => {
      const { value } = this.db
        .query<{ value: number }, []>(
          "INSERT INTO counters (name, value) VALUES ('crl_number', 1) ON CONFLICT (name) DO UPDATE SET value = value + 1 RETURNING value",
        )
        .get()!;
      const revoked = this.db
        .query<Row, [string]>(`SELECT ${COLUMNS} FROM certificates WHERE status = 'revoked' AND not_after > ? ORDER BY revoked_at, serial`)
        .all(now.toISOString())
        .map(fromRow);
      return { crlNumber: value, revoked };
    });
    return retryBusy(() => claim.immediate());
  }

  async publishIfNewest(crlNumber: number, publish: () => void): Promise<boolean> {
    const guarded = this.db.transaction(() => {
      const published = this.db.query<{ value: number }, []>("SELECT value FROM counters WHERE name = 'crl_published'").get()?.value ?? 0;
      if (published >= crlNumber) return false;
      publish();
      this.db.query("INSERT OR REPLACE INTO counters (name, value) VALUES ('crl_published', ?)").run(crlNumber);
      return true;
    });
    return retryBusy(() => guarded.immediate());
  }

  async list(): Promise<CertificateRecord[]> {
    return this.db
      .query<Row, []>(`SELECT ${COLUMNS} FROM certificates ORDER BY not_before, serial`)
      .all()
      .map(fromRow);
  }

  async leafSerials(): Promise<string[]> {
    return this.db
      .query<{ serial: string }, []>("SELECT serial FROM certificates WHERE type != 'ca'")
      .all()
      .map((row) => row.serial);
  }

  async count(): Promise<number> {
    return this.db.query<{ n: number }, []>("SELECT count(*) AS n FROM certificates").get()!.n;
  }

  close(): void {
    this.db.close();
  }
}

const BUSY_DEADLINE_MS = 10_000;

/**
 * Runs a write (one statement or one transaction, all or nothing) until it
 * gets the database lock: on SQLITE_BUSY nothing was written, so it is safe
 * to run again. Waits grow from a fraction of a millisecond to 10 ms, with
 * jitter so that two workers do not retry in step.
 */
async function retryBusy<T>(write: () => T): Promise<T> {
  const deadline = performance.now() + BUSY_DEADLINE_MS;
  for (let attempt = 0; ; attempt++) {
    try {
      return write();
    } catch (error) {
      const busy = error instanceof SQLiteError && (error.code === "SQLITE_BUSY" || error.code?.startsWith("SQLITE_BUSY_"));
      if (!busy || performance.now() > deadline) throw error;
      await Bun.sleep(Math.random() * Math.min(10, 0.25 * 2 ** attempt));
    }
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
