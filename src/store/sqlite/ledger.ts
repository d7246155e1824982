/**
 * @module
 * The ledger in an SQLite file inside the depot (bun:sqlite, WAL mode),
 * shared by every process that opens the depot.
 */
import { Database, SQLiteError, type Statement } from "bun:sqlite";
import { chmodSync, chownSync, closeSync, existsSync, fdatasyncSync, openSync, statSync } from "node:fs";
import { dirname } from "node:path";
import { DepotError } from "../../errors.ts";
import type { CrlEntry } from "../../ca/crl.ts";
import {
  type CertificateRecord,
  type CertificateSummary,
  type CrlClaim,
  type CrlState,
  type Ledger,
  type ListQuery,
  type RecordTerms,
  conditionRefused,
  orderSettled,
  SerialCollisionError,
} from "../../ca/ledger.ts";
import { type AuditActor, type AuditEntry, revokeEntry } from "../../ca/audit.ts";
import { SqliteAuditLog } from "./audit.ts";
import { SqliteTokenStore } from "./tokens.ts";
import { SqliteAcmeStore } from "./acme-store.ts";
import { MIGRATIONS, SCHEMA_VERSION, SLOW_STEP_ROWS } from "./migrations.ts";
import { ledgerError } from "./errors.ts";
import { retryBusy } from "./busy.ts";
import { GroupCommit } from "./group-commit.ts";
import { type CertificateRow, certificateFromRow } from "../certificate-row.ts";
import { CERTIFICATE_COLUMN_NAMES, CERTIFICATE_COLUMNS, listSelect, SUMMARY_COLUMNS } from "../list-query.ts";
import { SqliteSshStore } from "./ssh.ts";
import { SqliteScepStore } from "./scep.ts";

type Row = CertificateRow<string>;
/** A certificate waiting for its group's transaction. */
type Recording = { row: Row; audit: AuditEntry | undefined; terms: RecordTerms | undefined };

const COLUMNS = CERTIFICATE_COLUMNS;
const INSERT = (verb: string) => `${verb} INTO certificates (${COLUMNS}) VALUES (${CERTIFICATE_COLUMN_NAMES.map((c) => `$${c}`).join(", ")})`;

/**
 * The WAL is cut back to this size once a checkpoint has emptied it: a
 * reader that holds a transaction open (anyone who can read the ledger) pins
 * the WAL and lets it grow meanwhile, but not for good once it lets go.
 */
export const WAL_SIZE_LIMIT = 16 * 1024 * 1024;

/**
 * Past this size the checkpointing process empties the WAL outright
 * (TRUNCATE, which holds writers off for the checkpoint's fsyncs). Under a
 * steady load a PASSIVE checkpoint never lets the WAL start over: by the
 * time its fsync is done another commit has been appended, so the file grew
 * by about 21 KB a certificate (420 MB for 20,000 on this machine's disk).
 * Measured on ext4 (docs/performance.md, "depot against cfssl"): 35-90 ms
 * a truncation, once every few thousand certificates.
 */
export const WAL_TRUNCATE_SIZE = 128 * 1024 * 1024;

/**
 * How often checkpoint() copies the WAL's pages into the ledger file while
 * the WAL grows slowly; in between it only syncs the WAL, which is what
 * makes the commits so far durable (synchronous = NORMAL syncs nothing at
 * a commit). A copy costs the checkpointing process its page writes and
 * a second fsync, and each copy lets the next writer start the WAL over
 * (an fsync in a worker). Under ACME orders one after another, copying
 * every 4 s instead of every 400 ms took the upkeep's share from 0.40 to
 * 0.31 ms an order (docs/performance.md, "2026-12-07, late night").
 */
export const PAGE_COPY_EVERY_MS = 4000;

/** ... and sooner once the WAL file grew by this much since the last copy: a busy ledger is copied at every call, as before. */
export const PAGE_COPY_AFTER_GROWTH = 4 * 1024 * 1024;

/**
 * SQLite's own checkpoint in a process that leaves it to another, in pages:
 * only if that process stops doing it. Run inside a commit, its fsyncs held
 * a worker's event loop 15-80 ms at a time on a disk (the line protocol's
 * p99 was 26 ms against 10 without), so it is far past WAL_TRUNCATE_SIZE.
 */
const SAFETY_CHECKPOINT_PAGES = (4 * WAL_TRUNCATE_SIZE) / 4096;

/** How often changeVersion() reads the file's counters at most. */
export const CHANGE_READ_EVERY_MS = 5;

/** Whether the file holds a ledger: missing, zero bytes (as after a truncation), or there. */
export function sqliteLedgerPresence(path: string): "missing" | "empty" | "present" {
  const size = (file: string) => {
    try {
      return statSync(file).size;
    } catch {
      return undefined;
    }
  };
  const main = size(path);
  if (main === undefined) return "missing";
  return main > 0 || (size(`${path}-wal`) ?? 0) > 0 ? "present" : "empty";
}

export class SqliteLedger implements Ledger {
  private readonly insert: Statement;
  private readonly findOne: Statement<Row, [string]>;
  readonly tokens: SqliteTokenStore;
  readonly audit: SqliteAuditLog;
  readonly ssh: SqliteSshStore;
  readonly acme: SqliteAcmeStore;
  readonly scep: SqliteScepStore;
  /** What changeVersion() read last, and when (performance.now()). */
  private version = 0;
  private versionReadAt = -Infinity;
  private readonly readVersion: Statement<{ version: number }, []>;
  /** Certificates being recorded: each with its audit record, a group at a time in one IMMEDIATE transaction. */
  private readonly recording: GroupCommit<Recording>;

  /** When checkpoint() last copied the WAL into the ledger file (performance.now()), and how long the WAL file was then. */
  private copiedAt = Number.NEGATIVE_INFINITY;
  private walSizeAtCopy = 0;

  private constructor(
    private readonly db: Database,
    private readonly path: string,
  ) {
    this.insert = db.prepare(INSERT("INSERT"));
    this.tokens = new SqliteTokenStore(db);
    this.audit = new SqliteAuditLog(db);
    this.ssh = new SqliteSshStore(db, this.audit, (work) => this.write(work), (work) => this.read(work));
    this.acme = new SqliteAcmeStore(db);
    this.scep = new SqliteScepStore(db, (work) => this.write(work), (work) => this.read(work));
    // data_version moves when another connection commits; total_changes when this one writes.
    this.readVersion = db.query<{ version: number }, []>("SELECT (SELECT data_version FROM pragma_data_version) + total_changes() AS version");
    const tokenUnrevoked = db.query<{ one: number }, [string]>("SELECT 1 AS one FROM api_tokens WHERE hash = ? AND revoked_at IS NULL");
    const recordGroup = db.transaction((group: Recording[]) => {
      const audits: AuditEntry[] = [];
      const outcomes = group.map(({ row, audit, terms }) => {
        const condition = terms?.condition;
        // Read inside the IMMEDIATE transaction: no revocation can commit between this check and the row's.
        if (condition && !tokenUnrevoked.get(condition.tokenUnrevoked.hash)) return conditionRefused(condition);
        // Of two finalizes of one order, the second to commit records nothing (RecordTerms).
        const order = terms?.finishesAcmeOrder;
        if (order && !this.acme.orderOpenWithin(order)) return orderSettled(order);
        try {
          this.insert.run(row as never);
        } catch (error) {
          // A constraint undoes only this statement; the rest of the group still commits.
          if (!(error instanceof SQLiteError) || !error.code?.startsWith("SQLITE_CONSTRAINT")) throw error;
          return error.code === "SQLITE_CONSTRAINT_PRIMARYKEY" ? new SerialCollisionError(row.serial) : ledgerError(error, path);
        }
        if (order) this.acme.finishOrderWithin(order, row.serial);
        if (audit) audits.push(audit);
        return undefined;
      });
      // The recorded certificates' audit records, in the same order, reading the chain's head once.
      this.audit.appendAllWithin(audits);
      return outcomes;
    });
    this.recording = new GroupCommit((group) => recordGroup.immediate(group), (error) => ledgerError(error, path));
    this.findOne = db.query<Row, [string]>(`SELECT ${COLUMNS} FROM certificates WHERE serial = ?`);
  }

  /**
   * Opens (or, with `create`, makes) the ledger file, brings its schema up
   * to date, and sets its files' modes: 0600, or 0640 for `groupReadable`.
   */
  static open(path: string, options: { create: boolean; groupReadable: boolean; walCheckpoints?: "here" | "elsewhere" }): SqliteLedger {
    const mode = options.groupReadable ? 0o640 : 0o600;
    const group = options.groupReadable ? statSync(dirname(path)).gid : undefined;
    let db: Database | undefined;
    try {
      // Made here, so it is never world-readable even for a moment; SQLite
      // gives the -wal and -shm files the main file's mode.
      if (options.create && !existsSync(path)) closeSync(openSync(path, "a", mode));
      db = new Database(path, { create: false, readwrite: true, strict: true });
      // Opening and the schema may meet another process's first write: let
      // SQLite wait for the lock here. Afterwards writes fail fast with
      // SQLITE_BUSY and are retried by `retryBusy`, which waits without
      // blocking the event loop (SQLite's own busy handler sleeps the thread,
      // which halved throughput with two workers issuing at once).
      db.run("PRAGMA busy_timeout = 10000");
      db.run("PRAGMA journal_mode = WAL");
      db.run("PRAGMA synchronous = NORMAL");
      db.run(`PRAGMA journal_size_limit = ${WAL_SIZE_LIMIT}`);
      migrate(db, path);
      // Checkpointed by another process (see checkpoint()).
      if (options.walCheckpoints === "elsewhere") db.run(`PRAGMA wal_autocheckpoint = ${SAFETY_CHECKPOINT_PAGES}`);
      db.run("PRAGMA busy_timeout = 0");
      restrictModes(path, mode, group);
      return new SqliteLedger(db, path);
    } catch (error) {
      db?.close();
      throw ledgerError(error, path);
    }
  }

  /** Resolves once the row (and its audit record) is committed, in a group with whatever else this process records meanwhile. */
  record(certificate: CertificateRecord, audit?: AuditEntry, terms?: RecordTerms): Promise<void> {
    return this.recording.add({ row: toRow(certificate), audit, terms });
  }

  async adopt(certificates: CertificateRecord[]): Promise<number> {
    const adoptOne = this.db.prepare(INSERT("INSERT OR IGNORE"));
    const markAdopted = this.db.prepare("INSERT OR REPLACE INTO counters (name, value) VALUES ('adopted', 1)");
    const adoptAll = this.db.transaction((records: CertificateRecord[]) => {
      let added = 0;
      for (const record of records) added += adoptOne.run(toRow(record) as never).changes;
      markAdopted.run();
      return added;
    });
    return this.write(() => adoptAll.immediate(certificates));
  }

  async hasAdopted(): Promise<boolean> {
    return this.read(() => this.counter("adopted") !== undefined);
  }

  async find(serial: string): Promise<CertificateRecord | undefined> {
    return this.read(() => {
      const row = this.findOne.get(serial);
      return row ? certificateFromRow(row) : undefined;
    });
  }

  async revoke(serial: string, reason: string, at: Date, actor?: AuditActor): Promise<CertificateRecord> {
    const revokeOne = this.db.transaction(() => {
      const changed = this.db
        .query("UPDATE certificates SET status = 'revoked', revoked_at = ?, revocation_reason = ? WHERE serial = ? AND status = 'valid' AND type != 'ca'")
        .run(at.toISOString(), reason, serial).changes;
      const row = this.findOne.get(serial);
      if (!row) throw new DepotError("E_NOT_FOUND", `no certificate with serial ${serial.toUpperCase()} in this depot`);
      if (row.type === "ca") throw new DepotError("E_BAD_ARGUMENT", `serial ${serial.toUpperCase()} is the CA certificate itself; it cannot be revoked`);
      if (!changed) throw new DepotError("E_ALREADY_REVOKED", `certificate ${serial.toUpperCase()} is already revoked (since ${row.revoked_at})`);
      this.db.query("INSERT INTO counters (name, value) VALUES ('revocations', 1) ON CONFLICT (name) DO UPDATE SET value = value + 1").run();
      this.audit.appendWithin(revokeEntry(row, reason, actor), at);
      return certificateFromRow(row);
    });
    return this.write(() => revokeOne.immediate());
  }

  async claimCrl(now: Date): Promise<CrlClaim> {
    const claim = this.db.transaction(() => {
      const { value } = this.db
        .query<{ value: number }, []>(
          "INSERT INTO counters (name, value) VALUES ('crl_number', 1) ON CONFLICT (name) DO UPDATE SET value = value + 1 RETURNING value",
        )
        .get()!;
      // Only what a CRL entry needs: at 100,000 entries, the PEMs would be 100 MB.
      // Two queries rather than a UNION, so the first reads in index order with no sort.
      const entryOf = (row: { serial: string; revoked_at: string; revocation_reason: string | null }): CrlEntry => ({
        serial: row.serial,
        revokedAt: new Date(row.revoked_at),
        reason: row.revocation_reason ?? "unspecified",
      });
      const revoked = this.db
        .query<{ serial: string; revoked_at: string; revocation_reason: string | null }, [string]>(
          "SELECT serial, revoked_at, revocation_reason FROM certificates WHERE status = 'revoked' AND not_after > ? ORDER BY revoked_at, serial",
        )
        .all(now.toISOString())
        .map(entryOf);
      for (const row of this.db.query<{ serial: string; revoked_at: string; revocation_reason: string }, []>("SELECT serial, revoked_at, revocation_reason FROM crl_only_revocations ORDER BY revoked_at, serial").all()) {
        revoked.push(entryOf(row));
      }
      return { crlNumber: value, revocations: this.counter("revocations") ?? 0, revoked };
    });
    return this.write(() => claim.immediate());
  }

  async publishIfNewest(claim: CrlClaim, validity: { thisUpdate: Date; nextUpdate: Date }, publish: () => void): Promise<boolean> {
    const setCounter = this.db.query("INSERT OR REPLACE INTO counters (name, value) VALUES (?, ?)");
    const guarded = this.db.transaction(() => {
      if ((this.counter("crl_published") ?? 0) >= claim.crlNumber) return false;
      publish();
      setCounter.run("crl_published", claim.crlNumber);
      setCounter.run("crl_published_revocations", claim.revocations);
      setCounter.run("crl_this_update", validity.thisUpdate.getTime());
      setCounter.run("crl_next_update", validity.nextUpdate.getTime());
      return true;
    });
    return this.write(() => guarded.immediate());
  }

  async crlState(): Promise<CrlState> {
    return this.read(() => {
      const thisUpdate = this.counter("crl_this_update");
      const nextUpdate = this.counter("crl_next_update");
      return {
        revocations: this.counter("revocations") ?? 0,
        published: {
          crlNumber: this.counter("crl_published") ?? 0,
          revocations: this.counter("crl_published_revocations") ?? 0,
          ...(thisUpdate !== undefined ? { thisUpdate: new Date(thisUpdate) } : {}),
          ...(nextUpdate !== undefined ? { nextUpdate: new Date(nextUpdate) } : {}),
        },
      };
    });
  }

  async leaseCrlPublication(holder: number, now: Date, until: Date): Promise<boolean> {
    const setCounter = this.db.query("INSERT OR REPLACE INTO counters (name, value) VALUES (?, ?)");
    const lease = this.db.transaction(() => {
      const current = this.counter("crl_lease_holder");
      if (current !== undefined && current !== holder && (this.counter("crl_lease_until") ?? 0) > now.getTime()) return false;
      setCounter.run("crl_lease_holder", holder);
      setCounter.run("crl_lease_until", until.getTime());
      return true;
    });
    return this.write(() => lease.immediate());
  }

  async releaseCrlPublication(holder: number): Promise<void> {
    await this.write(() =>
      this.db.query("UPDATE counters SET value = 0 WHERE name = 'crl_lease_until' AND (SELECT value FROM counters WHERE name = 'crl_lease_holder') = ?").run(holder),
    );
  }

  async restoreRevocations(crlNumber: number, entries: CrlEntry[]): Promise<{ revoked: number; crlOnly: number }> {
    const markRevoked = this.db.query("UPDATE certificates SET status = 'revoked', revoked_at = ?, revocation_reason = ? WHERE serial = ? AND type != 'ca'");
    const keepCrlOnly = this.db.query("INSERT OR REPLACE INTO crl_only_revocations (serial, revoked_at, revocation_reason) VALUES (?, ?, ?)");
    const setCounter = this.db.query("INSERT OR REPLACE INTO counters (name, value) VALUES (?, ?)");
    const restore = this.db.transaction(() => {
      let revoked = 0;
      let crlOnly = 0;
      for (const entry of entries) {
        if (markRevoked.run(entry.revokedAt.toISOString(), entry.reason, entry.serial).changes > 0) revoked++;
        else {
          keepCrlOnly.run(entry.serial, entry.revokedAt.toISOString(), entry.reason);
          crlOnly++;
        }
      }
      const number = Math.max(crlNumber, this.counter("crl_number") ?? 0);
      setCounter.run("crl_number", number);
      setCounter.run("crl_published", number);
      setCounter.run("revocations", entries.length);
      // The published CRL lists them all, but is republished at once (its validity is not known here).
      setCounter.run("crl_published_revocations", entries.length);
      return { revoked, crlOnly };
    });
    return this.write(() => restore.immediate());
  }

  async list(query: ListQuery = {}): Promise<CertificateRecord[]> {
    const { sql, parameters } = listQuery(COLUMNS, query);
    return this.read(() => this.db.query<Row, Record<string, string | number>>(sql).all(parameters as never).map((row) => certificateFromRow(row)));
  }

  async *each(query: ListQuery = {}): AsyncIterable<CertificateSummary> {
    const { sql, parameters } = listQuery(SUMMARY_COLUMNS, query);
    let rows: IterableIterator<Omit<Row, "pem">>;
    try {
      rows = this.db.query<Omit<Row, "pem">, Record<string, string | number>>(sql).iterate(parameters as never);
    } catch (error) {
      throw ledgerError(error, this.path);
    }
    // Rows come in batches between yields: one await per row cost more than the row itself.
    let batch: CertificateSummary[] = [];
    for (const row of rows) {
      batch.push(certificateFromRow(row));
      if (batch.length === 256) {
        yield* batch;
        batch = [];
      }
    }
    yield* batch;
  }

  async leafSerials(): Promise<string[]> {
    return this.read(() =>
      this.db
        .query<{ serial: string }, []>("SELECT serial FROM certificates WHERE type != 'ca'")
        .all()
        .map((row) => row.serial),
    );
  }

  async count(): Promise<number> {
    return this.read(() => this.db.query<{ n: number }, []>("SELECT count(*) AS n FROM certificates").get()!.n);
  }

  async isEmpty(): Promise<boolean> {
    return this.read(() => this.db.query("SELECT 1 FROM certificates LIMIT 1").get() === null);
  }

  /**
   * Makes every commit so far durable, for the processes that answer
   * clients, opened with `walCheckpoints: "elsewhere"`: copies the WAL's
   * committed pages into the ledger file (PASSIVE: it waits for no reader
   * or writer; SQLite syncs the WAL before and the file after) when
   * PAGE_COPY_EVERY_MS have passed since the last copy, the WAL file grew
   * by PAGE_COPY_AFTER_GROWTH or is past `truncateAbove`; otherwise it
   * syncs the WAL file alone, as SQLite would before a copy.
   */
  async checkpoint(truncateAbove = WAL_TRUNCATE_SIZE, now = performance.now()): Promise<void> {
    const wal = `${this.path}-wal`;
    const walSize = sizeOf(wal);
    if (now - this.copiedAt < PAGE_COPY_EVERY_MS && walSize - this.walSizeAtCopy < PAGE_COPY_AFTER_GROWTH && walSize <= truncateAbove) {
      syncFile(wal);
      return;
    }
    this.read(() => this.db.run("PRAGMA wal_checkpoint(PASSIVE)"));
    this.copiedAt = now;
    this.walSizeAtCopy = walSize;
    if (walSize <= truncateAbove) return;
    // Waits up to a second for the readers of older pages (this process's
    // own thread, not a worker's); busy again, it is tried at the next turn.
    this.db.run("PRAGMA busy_timeout = 1000");
    try {
      this.read(() => this.db.run("PRAGMA wal_checkpoint(TRUNCATE)"));
    } finally {
      this.db.run("PRAGMA busy_timeout = 0");
    }
    this.walSizeAtCopy = sizeOf(wal);
  }

  /**
   * Whether anyone wrote to the ledger file: SQLite's data_version (another
   * connection committed: a worker, the CLI, another server) plus this
   * connection's own changes. Touches no table; read at most every
   * CHANGE_READ_EVERY_MS (a statement per OCSP request was a tenth of a
   * cached answer's cost).
   */
  changeVersion(): number {
    const now = performance.now();
    if (now - this.versionReadAt >= CHANGE_READ_EVERY_MS) {
      this.version = this.read(() => this.readVersion.get()!.version);
      this.versionReadAt = now;
    }
    return this.version;
  }

  close(): void {
    this.db.close();
  }

  private counter(name: string): number | undefined {
    return this.db.query<{ value: number }, [string]>("SELECT value FROM counters WHERE name = ?").get(name)?.value;
  }

  private read<T>(query: () => T): T {
    try {
      return query();
    } catch (error) {
      throw ledgerError(error, this.path);
    }
  }

  private async write<T>(write: () => T): Promise<T> {
    try {
      return await retryBusy(write);
    } catch (error) {
      throw ledgerError(error, this.path);
    }
  }
}

/** The SELECT for `list` and `each` (list-query.ts), with SQLite's named parameters: times as ISO text. */
function listQuery(columns: string, query: ListQuery): { sql: string; parameters: Record<string, string> } {
  const parameters: Record<string, string> = {};
  const sql = listSelect(columns, query, (value) => {
    const name = `p${Object.keys(parameters).length + 1}`;
    parameters[name] = value instanceof Date ? value.toISOString() : value;
    return `$${name}`;
  });
  return { sql, parameters };
}

/** Applies the missing migration steps, all in one transaction; refuses a ledger newer than this depot. */
function migrate(db: Database, path: string): void {
  const versionOf = () => db.query<{ user_version: number }, []>("PRAGMA user_version").get()!.user_version;
  if (versionOf() === SCHEMA_VERSION) return;
  db.transaction(() => {
    const version = versionOf();
    if (version > SCHEMA_VERSION) {
      throw new DepotError(
        "E_LEDGER",
        `the ledger ${path} has schema version ${version}, newer than this depot knows (${SCHEMA_VERSION}): it was written by a newer depot; use that version`,
      );
    }
    for (const step of MIGRATIONS.slice(version)) {
      for (const { table, column, definition, fill } of step.addColumns ?? []) {
        if (db.query("SELECT 1 FROM pragma_table_info(?) WHERE name = ?").get(table, column)) continue;
        db.run(`ALTER TABLE ${table} ADD COLUMN ${column} ${definition}`);
        db.run(`UPDATE ${table} SET ${column} = ${fill}`);
      }
      const rows = step.rowsCopied ? db.query<{ rows: number }, []>(step.rowsCopied).get()!.rows : 0;
      // Written, not logged: it must reach whoever is waiting, a command's user or a server's log.
      if (rows > SLOW_STEP_ROWS) process.stderr.write(`depot: updating the ledger ${path} to schema version ${step.version}: copying ${rows} rows, once; this may take a minute\n`);
      if (step.sql) db.run(step.sql);
    }
    db.run(`PRAGMA user_version = ${SCHEMA_VERSION}`);
  }).immediate();
}

/** The ledger files' modes, and with a group-readable depot their group: the folder's. */
function restrictModes(path: string, mode: number, group: number | undefined): void {
  for (const file of [path, `${path}-wal`, `${path}-shm`]) {
    try {
      const stats = statSync(file);
      if (group !== undefined && stats.gid !== group) chownSync(file, -1, group);
      if ((stats.mode & 0o777) !== mode) chmodSync(file, mode);
    } catch {
      // A file not there yet gets the main file's mode from SQLite; one we do not own stays as it is.
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
    template: c.template ?? null,
  };
}

/** A file's size, 0 when it is not there. */
/** fdatasync of a file, if it exists (a WAL appears with the first write). */
function syncFile(file: string): void {
  let fd: number;
  try {
    fd = openSync(file, "r");
  } catch {
    return;
  }
  try {
    fdatasyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function sizeOf(file: string): number {
  try {
    return statSync(file).size;
  } catch {
    return 0;
  }
}
