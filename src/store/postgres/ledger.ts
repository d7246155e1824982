/**
 * @module
 * The ledger in PostgreSQL, for several depot hosts sharing one CA. Every
 * host opens the same database; what must be unique or ordered across hosts
 * is decided by PostgreSQL: the serial is the primary key (a clash fails the
 * insert, and `Depot.signPublicKey` signs again with a new serial), the CRL number is
 * a sequence (never goes backwards, whichever host takes one), a revocation
 * is one committed row update that every host reads.
 *
 * Each row names the host that issued it, so a host restores from the
 * ledger only the certificate files it wrote itself; `list` and `find` see
 * every host's certificates. The schema's presence plays the role of
 * SQLite's "adopted" marker: a database gets it from `depot init --ledger`
 * or `depot ledger migrate`, and opening a database without it (or with
 * another CA's) is refused.
 *
 * The password never comes from depot.cnf: PGPASSWORD, or the file named by
 * `ledger_password_file` (Bun.SQL does not read ~/.pgpass).
 */
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { SQL } from "bun";
import { DepotError } from "../../errors.ts";
import { checkLedgerUrl, redactedUrl } from "../../ca/ledger-url.ts";

export { checkLedgerUrl, redactedUrl };
import type { CrlEntry } from "../../ca/crl.ts";
import {
  type CertificateRecord,
  type CertificateSummary,
  conditionRefused,
  orderSettled,
  type CrlClaim,
  type CrlState,
  type Ledger,
  type ListQuery,
  type RecordTerms,
  SerialCollisionError,
} from "../../ca/ledger.ts";
import { type AuditActor, type AuditEntry, revokeEntry } from "../../ca/audit.ts";
import { appendAuditSql, appendAuditWithin, PostgresAuditLog } from "./audit.ts";
import { migrateSchema, SCHEMA_VERSION } from "./schema.ts";
import { PostgresTokenStore } from "./tokens.ts";
import { PostgresAcmeStore } from "./acme-store.ts";
import type { TokenRow } from "../../ca/tokens.ts";
import { type CertificateRow, certificateFromRow } from "../certificate-row.ts";
import { CERTIFICATE_COLUMNS, listSelect, SUMMARY_COLUMNS } from "../list-query.ts";
import { PostgresSshStore } from "./ssh.ts";
import { PostgresScepStore } from "./scep.ts";
import { settleWithin } from "../../settle-within.ts";

/** Connections each process keeps at most: 2 hosts x 8 workers x 4 stay well under PostgreSQL's default 100. */
export const DEFAULT_POOL = 4;
/** How long a query waits for a connection before the ledger counts as unavailable. */
const CONNECT_TIMEOUT_S = 3;
/**
 * How long one ledger operation may take before it counts as unavailable: a
 * network that drops packets leaves a query waiting with no error at all.
 * A record() given up on may still commit; a row without an answer is
 * allowed, an answer without a row never.
 */
const OPERATION_TIMEOUT_MS = 10_000;

export interface PostgresLedgerOptions {
  /** postgres://user@host:port/db, without a password. */
  url: string;
  /** A file holding the password (first line); else PGPASSWORD; else none. */
  passwordFile?: string;
  /** Connections in this process's pool (DEFAULT_POOL). */
  pool?: number;
  /** SHA-256 of the depot's CA certificate: the database must belong to this CA. */
  caFingerprint: string;
  /** Who issues here (see hostIdentity); rows carry it so restores stay local. */
  host: string;
  /** Create the schema in an empty database (init, migrate); otherwise its absence is an error. */
  create?: boolean;
}

/** A host's name in the ledger: the machine and the depot's folder, so two depots on one machine differ too. */
export function hostIdentity(root: string): string {
  return `${hostname()}:${root}`;
}

function passwordOf(passwordFile: string | undefined): string | undefined {
  if (passwordFile) {
    try {
      return readFileSync(passwordFile, "utf8").split(/\r?\n/)[0];
    } catch (error) {
      throw new DepotError("E_IO", `cannot read the ledger password file ${passwordFile}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
    }
  }
  return process.env.PGPASSWORD;
}

type Row = CertificateRow<Date>;

const COLUMNS = CERTIFICATE_COLUMNS;

/**
 * The ACME order a recorded certificate finishes (RecordTerms), as a
 * data-modifying CTE after `inserted`: PostgreSQL runs it whether or not the
 * statement reads it, and it changes the order only when the row went in.
 */
const FINISH_ORDER = (orderId: string) =>
  `finished AS (UPDATE acme_orders SET status = 'valid', certificate_serial = inserted.serial, processing_since = NULL FROM inserted WHERE acme_orders.id = ${orderId})`;

/** The SQL types of rowValues() and the host, in order: what an INSERT ... SELECT of parameters casts them to. */
const INSERT_TYPES = ["text", "text", "text", "text", "timestamptz", "timestamptz", "text", "text", "text", "timestamptz", "text", "text", "text"];
/** A record's values in CERTIFICATE_COLUMNS' order ($1 to $12; the host follows). */
function rowValues(c: CertificateRecord): unknown[] {
  return [c.serial, c.subject, c.type, c.keyType, c.notBefore, c.notAfter, c.fingerprint, c.pem, c.status, c.revokedAt ?? null, c.revocationReason ?? null, c.template ?? null];
}
/** pg_advisory_xact_lock key serialising CRL claims, so a higher number never lists less. */
const CRL_LOCK = 0x64_65_70_02;
const PAGE = 1000;
/** How stale a cached OCSP answer may be on this ledger (see changeVersion). */
const CHANGE_WATCH_MS = 500;

export class PostgresLedger implements Ledger {
  /** Set once the schema and the CA were checked; until then every operation checks first. */
  private checked: Promise<void> | undefined;

  readonly tokens: PostgresTokenStore;
  readonly audit: PostgresAuditLog;
  /** ACME's accounts, orders and nonces, on the same pool (schema step 4). */
  readonly acme: PostgresAcmeStore;
  /** SSH certificates (schema step 5). */
  readonly ssh: PostgresSshStore;
  /** SCEP transactions (schema step 6). */
  readonly scep: PostgresScepStore;

  private constructor(
    private readonly sql: SQL,
    readonly host: string,
    readonly url: string,
    private readonly check: () => Promise<void>,
  ) {
    const guard = <T>(operation: () => Promise<T>) => this.guard(operation);
    this.tokens = new PostgresTokenStore(sql, guard);
    this.audit = new PostgresAuditLog(sql, guard);
    this.acme = new PostgresAcmeStore(sql, guard);
    this.ssh = new PostgresSshStore(sql, host, guard);
    this.scep = new PostgresScepStore(sql, guard);
  }

  /** Connects, checks (or, with `create`, makes) the schema and the CA it belongs to. */
  static async open(options: PostgresLedgerOptions): Promise<PostgresLedger> {
    checkLedgerUrl(options.url);
    const password = passwordOf(options.passwordFile);
    const sql = new SQL({
      url: options.url,
      ...(password !== undefined ? { password } : {}),
      max: options.pool ?? DEFAULT_POOL,
      connectionTimeout: CONNECT_TIMEOUT_S,
      idleTimeout: 60,
      connection: { statement_timeout: OPERATION_TIMEOUT_MS, application_name: "depot" },
      // The pool reconnects on its own after an outage; a query in between fails and is reported.
      onclose: () => {},
    });
    const create = options.create === true;
    const ledger: PostgresLedger = new PostgresLedger(sql, options.host, options.url, async () => {
      await migrateSchema(sql, { create, url: redactedUrl(options.url) });
      await ledger.checkCa(options.caFingerprint, create);
    });
    try {
      await ledger.guard(async () => {});
    } catch (error) {
      // PostgreSQL down while a worker (re)starts: open anyway, so the host
      // answers "ledger unavailable" and recovers by itself; the checks run
      // before the first operation that reaches the database.
      if (!create && error instanceof DepotError && error.code === "E_LEDGER_UNAVAILABLE") return ledger;
      await sql.close().catch(() => {});
      throw error;
    }
    return ledger;
  }

  /** Binds the database to this CA on first use; afterwards refuses any other CA. */
  private async checkCa(caFingerprint: string, create: boolean): Promise<void> {
    const [row] = await this.sql`SELECT value FROM depot_meta WHERE name = 'ca_fingerprint'`;
    if (!row) {
      if (!create) throw new DepotError("E_LEDGER", `the ledger ${redactedUrl(this.url)} belongs to no CA yet; make it with depot init --ledger or depot ledger migrate`);
      await this.sql`INSERT INTO depot_meta (name, value) VALUES ('ca_fingerprint', ${caFingerprint}) ON CONFLICT (name) DO NOTHING`;
      return this.checkCa(caFingerprint, false);
    }
    if (row.value !== caFingerprint) {
      throw new DepotError("E_LEDGER", `the ledger ${redactedUrl(this.url)} holds another CA's certificates (CA fingerprint ${String(row.value).slice(0, 16)}…, this depot's ${caFingerprint.slice(0, 16)}…)`);
    }
  }

  /**
   * Runs a ledger operation; a lost or refused connection becomes
   * `ledger unavailable` (an ERROR line, a 503), never a half-done issuance:
   * a certificate is only answered after its INSERT returned.
   */
  async guard<T>(operation: () => Promise<T>): Promise<T> {
    try {
      if (!this.checked) {
        this.checked = this.check();
        this.checked.catch(() => (this.checked = undefined));
      }
      await this.checked;
      return await withDeadline(operation());
    } catch (error) {
      if (isUnavailable(error)) throw new DepotError("E_LEDGER_UNAVAILABLE", "ledger unavailable");
      throw error;
    }
  }

  /** The row and its audit record commit together; the audit lock is taken last, so it is held only for the commit. */
  async record(certificate: CertificateRecord, audit?: AuditEntry, terms?: RecordTerms): Promise<void> {
    try {
      await this.guard(async () => {
        if (terms?.condition || terms?.finishesAcmeOrder) return void (await this.insertIf(certificate, audit, terms));
        if (!audit) return void (await this.insert(this.sql, certificate, false));
        // One statement, one implicit transaction, one round trip: the insert, then the audit append (which takes the chain's lock).
        const append = appendAuditSql(audit);
        await this.sql.unsafe(
          `WITH inserted AS (INSERT INTO certificates (${COLUMNS}, host) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING serial)
           SELECT appended.o_seq FROM inserted, LATERAL depot_audit_append($14, $15, $16, $17) AS appended`,
          [...rowValues(certificate), this.host, ...append.values],
        );
      });
    } catch (error) {
      if (error instanceof SQL.PostgresError && error.errno === "23505" && error.constraint === "certificates_pkey") throw new SerialCollisionError(certificate.serial);
      throw error;
    }
  }

  /**
   * `record` with terms, still one statement. The token's row (a condition)
   * is read FOR SHARE: a revocation waits for this commit, or this insert
   * sees it. The order's row (finishesAcmeOrder) is locked FOR UPDATE while
   * it is still open: of two finalizes, the second waits, then finds it
   * valid. The insert happens only if both hold, the order's update and the
   * audit record only for a row inserted (the lateral subquery runs once per
   * inserted row). When nothing was inserted, a read says which failed.
   */
  private async insertIf(c: CertificateRecord, audit: AuditEntry | undefined, terms: RecordTerms): Promise<void> {
    const parameters: unknown[] = [...rowValues(c), this.host];
    const next = (value: unknown) => `$${parameters.push(value)}`;
    const selected = INSERT_TYPES.map((type, i) => `$${i + 1}::${type}`).join(", ");
    const { condition, finishesAcmeOrder: order } = terms;
    const checks: string[] = [];
    const holds: string[] = [];
    if (condition) {
      checks.push(`token AS (SELECT 1 FROM api_tokens WHERE hash = ${next(condition.tokenUnrevoked.hash)} AND revoked_at IS NULL FOR SHARE)`);
      holds.push("EXISTS (SELECT 1 FROM token)");
    }
    let finish = "";
    if (order) {
      const orderId = next(order);
      checks.push(`open_order AS (SELECT 1 FROM acme_orders WHERE id = ${orderId} AND status IN ('pending', 'processing') FOR UPDATE)`);
      holds.push("EXISTS (SELECT 1 FROM open_order)");
      finish = `, ${FINISH_ORDER(orderId)}`;
    }
    const append = audit ? appendAuditSql(audit) : undefined;
    const call = append ? `depot_audit_append(${append.values.map(next).join(", ")})` : "";
    const rows = await this.sql.unsafe(
      `WITH ${checks.join(", ")},
       inserted AS (INSERT INTO certificates (${COLUMNS}, host) SELECT ${selected} WHERE ${holds.join(" AND ")} RETURNING serial)
       ${finish}
       ${append ? `SELECT appended.o_seq FROM inserted CROSS JOIN LATERAL (SELECT * FROM ${call} WHERE inserted.serial IS NOT NULL) AS appended` : "SELECT serial FROM inserted"}`,
      parameters,
    );
    if (rows.length > 0) return;
    if (order) {
      const [open] = await this.sql`SELECT 1 FROM acme_orders WHERE id = ${order} AND status IN ('pending', 'processing')`;
      if (!open) throw orderSettled(order);
    }
    throw conditionRefused(condition!);
  }

  private async insert(sql: SQL, c: CertificateRecord, ignoreExisting: boolean): Promise<number> {
    const result = await sql.unsafe(
      `INSERT INTO certificates (${COLUMNS}, host) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)${ignoreExisting ? " ON CONFLICT DO NOTHING" : ""}`,
      [...rowValues(c), this.host],
    );
    return result.count ?? 0;
  }

  /** Copies records as they are (revoked ones stay revoked); existing serials are kept. Returns how many were new. */
  async adopt(certificates: CertificateRecord[]): Promise<number> {
    return this.guard(() =>
      this.sql.begin(async (tx) => {
        let added = 0;
        for (const record of certificates) added += await this.insert(tx, record, true);
        // A revocation copied onto a row that was valid here (a migrate run again) counts too.
        for (const record of certificates.filter((r) => r.status === "revoked")) {
          await tx`UPDATE certificates SET status = 'revoked', revoked_at = ${record.revokedAt ?? null}, revocation_reason = ${record.revocationReason ?? null}
                   WHERE serial = ${record.serial} AND status = 'valid'`;
        }
        // Every host's CRL must be signed again to cover what came in.
        if (certificates.some((r) => r.status === "revoked")) await tx`UPDATE depot_counters SET value = value + 1 WHERE name = 'revocations'`;
        return added;
      }),
    );
  }

  /** The schema is the marker: a database without it was refused at open. */
  async hasAdopted(): Promise<boolean> {
    return true;
  }

  async find(serial: string): Promise<CertificateRecord | undefined> {
    const rows = await this.guard(() => this.sql.unsafe(`SELECT ${COLUMNS} FROM certificates WHERE serial = $1`, [serial]));
    return rows[0] ? certificateFromRow(rows[0] as Row) : undefined;
  }

  async revoke(serial: string, reason: string, at: Date, actor?: AuditActor): Promise<CertificateRecord> {
    return this.guard(() =>
      this.sql.begin(async (tx) => {
        const rows = (await tx.unsafe(`SELECT ${COLUMNS} FROM certificates WHERE serial = $1 FOR UPDATE`, [serial])) as Row[];
        const row = rows[0];
        if (!row) throw new DepotError("E_NOT_FOUND", `no certificate with serial ${serial.toUpperCase()} in this depot`);
        if (row.type === "ca") throw new DepotError("E_BAD_ARGUMENT", `serial ${serial.toUpperCase()} is the CA certificate itself; it cannot be revoked`);
        if (row.status === "revoked") throw new DepotError("E_ALREADY_REVOKED", `certificate ${serial.toUpperCase()} is already revoked (since ${row.revoked_at?.toISOString()})`);
        await tx`UPDATE certificates SET status = 'revoked', revoked_at = ${at}, revocation_reason = ${reason} WHERE serial = ${serial}`;
        // Other hosts watch this counter to re-sign their crl.pem.
        await tx`UPDATE depot_counters SET value = value + 1 WHERE name = 'revocations'`;
        await appendAuditWithin(tx, revokeEntry(row, reason, actor), at);
        return certificateFromRow({ ...row, status: "revoked", revoked_at: at, revocation_reason: reason });
      }),
    );
  }

  async claimCrl(now: Date): Promise<CrlClaim> {
    return this.guard(() =>
      this.sql.begin(async (tx) => {
        // Under the lock, a later number's SELECT starts later and sees every revocation an earlier one saw.
        await tx`SELECT pg_advisory_xact_lock(${CRL_LOCK})`;
        const [{ crl_number }] = await tx`SELECT nextval('crl_number') AS crl_number`;
        // Read before the entries: the claim covers at least this many revocations.
        const [{ value }] = await tx`SELECT value FROM depot_counters WHERE name = 'revocations'`;
        const rows = (await tx`
          SELECT serial, revoked_at, revocation_reason FROM certificates WHERE status = 'revoked' AND not_after > ${now}
          UNION ALL SELECT serial, revoked_at, revocation_reason FROM crl_only_revocations
          ORDER BY revoked_at, serial`) as { serial: string; revoked_at: Date; revocation_reason: string | null }[];
        const revoked = rows.map((row): CrlEntry => ({ serial: row.serial, revokedAt: new Date(row.revoked_at), reason: row.revocation_reason ?? "unspecified" }));
        return { crlNumber: Number(crl_number), revocations: Number(value), revoked };
      }),
    );
  }

  /** crl.pem is this host's file: the guard is per host, a row lock on its line of crl_published. */
  async publishIfNewest(claim: CrlClaim, validity: { thisUpdate: Date; nextUpdate: Date }, publish: () => void): Promise<boolean> {
    return this.guard(() =>
      this.sql.begin(async (tx) => {
        await tx`INSERT INTO crl_published (host, crl_number) VALUES (${this.host}, 0) ON CONFLICT (host) DO NOTHING`;
        const [row] = await tx`SELECT crl_number FROM crl_published WHERE host = ${this.host} FOR UPDATE`;
        if (Number(row.crl_number) >= claim.crlNumber) return false;
        publish();
        await tx`UPDATE crl_published SET crl_number = ${claim.crlNumber}, revocations = ${claim.revocations},
                   this_update = ${validity.thisUpdate}, next_update = ${validity.nextUpdate} WHERE host = ${this.host}`;
        return true;
      }),
    );
  }

  /**
   * The revocations anywhere, against what this host's crl.pem covers: a
   * revoke on another host makes this host's CRL due, and its upkeep
   * publishes a new one on its next turn.
   */
  async crlState(): Promise<CrlState> {
    return this.guard(async () => {
      const [row] = await this.sql`
        SELECT (SELECT value FROM depot_counters WHERE name = 'revocations') AS revocations, p.crl_number, p.revocations AS covered, p.this_update, p.next_update
        FROM (SELECT 1) AS one LEFT JOIN crl_published p ON p.host = ${this.host}`;
      return {
        revocations: Number(row.revocations),
        published: {
          crlNumber: Number(row.crl_number ?? 0),
          revocations: Number(row.covered ?? -1),
          ...(row.this_update ? { thisUpdate: new Date(row.this_update) } : {}),
          ...(row.next_update ? { nextUpdate: new Date(row.next_update) } : {}),
        },
      };
    });
  }

  /** For `depot ledger migrate` and a rebuild: revocations the CRL listed, kept as the SQLite ledger keeps them. */
  async restoreRevocations(crlNumber: number, entries: CrlEntry[]): Promise<{ revoked: number; crlOnly: number }> {
    return this.guard(() =>
      this.sql.begin(async (tx) => {
        let revoked = 0;
        let crlOnly = 0;
        for (const entry of entries) {
          const result = await tx`UPDATE certificates SET status = 'revoked', revoked_at = ${entry.revokedAt}, revocation_reason = ${entry.reason}
                                  WHERE serial = ${entry.serial} AND type != 'ca' AND status = 'valid'`;
          if ((result.count ?? 0) > 0) revoked++;
          else if ((await tx`SELECT 1 FROM certificates WHERE serial = ${entry.serial}`).length === 0) {
            await tx`INSERT INTO crl_only_revocations (serial, revoked_at, revocation_reason) VALUES (${entry.serial}, ${entry.revokedAt}, ${entry.reason})
                     ON CONFLICT (serial) DO NOTHING`;
            crlOnly++;
          }
        }
        if (revoked > 0) await tx`UPDATE depot_counters SET value = value + ${revoked} WHERE name = 'revocations'`;
        await tx`SELECT setval('crl_number', GREATEST(${crlNumber}::bigint, (SELECT last_value FROM crl_number)))`;
        return { revoked, crlOnly };
      }),
    );
  }

  async list(query: ListQuery = {}): Promise<CertificateRecord[]> {
    const records: CertificateRecord[] = [];
    for await (const row of this.pages(CERTIFICATE_COLUMNS, query)) records.push(certificateFromRow(row));
    return records;
  }

  async *each(query: ListQuery = {}): AsyncIterable<CertificateSummary> {
    for await (const row of this.pages(SUMMARY_COLUMNS, query)) yield certificateFromRow(row as Omit<Row, "pem">);
  }

  /**
   * The rows `query` selects, read in pages of at most 1,000 by (not_before,
   * serial) from its own cursor on, and no more than its limit: memory stays
   * flat and no transaction is held open meanwhile.
   */
  private async *pages(columns: string, query: ListQuery): AsyncIterable<Row> {
    let left = query.limit ?? Number.POSITIVE_INFINITY;
    let after = query.after;
    // One moment for every page: valid and expired must not move between pages.
    const now = query.now ?? new Date();
    while (left > 0) {
      const values: unknown[] = [];
      const page = Math.min(PAGE, left);
      const text = listSelect(columns, { ...query, now, ...(after ? { after } : {}) }, (value) => `$${values.push(value)}`, page);
      const rows = (await this.guard(() => this.sql.unsafe(text, values))) as Row[];
      yield* rows;
      if (rows.length < page) return;
      left -= rows.length;
      const last = rows[rows.length - 1]!;
      after = { notBefore: new Date(last.not_before), serial: last.serial };
    }
  }

  /** Only this host's: another host's certificate files are its own to keep. */
  async leafSerials(): Promise<string[]> {
    const rows = await this.guard(() => this.sql`SELECT serial FROM certificates WHERE type != 'ca' AND host = ${this.host}`);
    return (rows as { serial: string }[]).map((row) => row.serial);
  }

  async count(): Promise<number> {
    const [row] = await this.guard(() => this.sql`SELECT count(*) AS n FROM certificates`);
    return Number(row.n);
  }

  async isEmpty(): Promise<boolean> {
    const rows = await this.guard(() => this.sql`SELECT 1 FROM certificates LIMIT 1`);
    return (rows as unknown[]).length === 0;
  }

  /**
   * The CRL publication lease of this host (each host writes its own
   * crl.pem): taken when free, expired, or already ours; the advisory lock
   * makes the check and the take one step across this host's processes.
   */
  async leaseCrlPublication(holder: number, now: Date, until: Date): Promise<boolean> {
    const holderKey = `crl_lease_holder:${this.host}`;
    const untilKey = `crl_lease_until:${this.host}`;
    return this.guard(() =>
      this.sql.begin(async (tx) => {
        await tx`SELECT pg_advisory_xact_lock(hashtext(${holderKey}))`;
        const rows = (await tx`SELECT name, value FROM depot_counters WHERE name IN (${holderKey}, ${untilKey})`) as { name: string; value: string | number }[];
        const value = (name: string) => rows.find((row) => row.name === name)?.value;
        const current = value(holderKey);
        if (current !== undefined && Number(current) !== holder && Number(value(untilKey) ?? 0) > now.getTime()) return false;
        for (const [name, v] of [[holderKey, holder], [untilKey, until.getTime()]] as const) {
          await tx`INSERT INTO depot_counters (name, value) VALUES (${name}, ${v}) ON CONFLICT (name) DO UPDATE SET value = EXCLUDED.value`;
        }
        return true;
      }),
    );
  }

  async releaseCrlPublication(holder: number): Promise<void> {
    const holderKey = `crl_lease_holder:${this.host}`;
    const untilKey = `crl_lease_until:${this.host}`;
    await this.guard(
      () => this.sql`UPDATE depot_counters SET value = 0 WHERE name = ${untilKey} AND (SELECT value FROM depot_counters WHERE name = ${holderKey}) = ${holder}`,
    );
  }

  /**
   * For `depot ledger migrate`: the SQLite ledger's audit records as they
   * are (same seq, hashes and bodies, so the chain still verifies) and its
   * token rows. Records already there are kept; one that differs at the same
   * seq means another history, and is refused. Returns how many were new.
   */
  async importAuditAndTokens(audit: RawAuditRow[], tokens: RawTokenRow[]): Promise<{ audit: number; tokens: number }> {
    return this.guard(() =>
      this.sql.begin(async (tx) => {
        let auditAdded = 0;
        let tokensAdded = 0;
        for (const row of audit) {
          const result = await tx`INSERT INTO audit (seq, time, event, serial, body, previous, hash)
                                  VALUES (${row.seq}, ${row.time}, ${row.event}, ${row.serial}, ${row.body}, ${row.previous}, ${row.hash}) ON CONFLICT (seq) DO NOTHING`;
          if ((result.count ?? 0) > 0) auditAdded++;
          else {
            const [there] = await tx`SELECT hash FROM audit WHERE seq = ${row.seq}`;
            if (there.hash !== row.hash) throw new DepotError("E_LEDGER", `the ledger ${redactedUrl(this.url)} holds another audit record ${row.seq}; it is not this depot's history`);
          }
        }
        for (const row of tokens) {
          const result = await tx`INSERT INTO api_tokens (name, hash, policy, created_at, expires_at, uses, uses_left, rate_limit, rate_window, revoked_at)
                                  VALUES (${row.name}, ${row.hash}, ${row.policy}, ${new Date(row.created_at)}, ${row.expires_at ? new Date(row.expires_at) : null},
                                          ${row.uses}, ${row.uses_left}, ${row.rate_limit}, ${row.rate_window}, ${row.revoked_at ? new Date(row.revoked_at) : null})
                                  ON CONFLICT (name) DO NOTHING`;
          tokensAdded += result.count ?? 0;
        }
        return { audit: auditAdded, tokens: tokensAdded };
      }),
    );
  }

  /**
   * PostgreSQL tells no process of another's commit: the version moves
   * every CHANGE_WATCH_MS, so a cached OCSP answer is re-read at least that
   * often (what bounded it before this method existed).
   */
  changeVersion(): number {
    return Math.floor(Date.now() / CHANGE_WATCH_MS);
  }

  /** The schema version this binary writes. */
  static readonly schemaVersion = SCHEMA_VERSION;

  close(): void {
    void this.sql.close({ timeout: 1 }).catch(() => {});
  }
}

class DeadlineError extends Error {
  readonly code = "ERR_DEPOT_LEDGER_TIMEOUT";
}

function withDeadline<T>(work: Promise<T>): Promise<T> {
  return settleWithin(work, OPERATION_TIMEOUT_MS, (): never => {
    throw new DeadlineError(`no answer from the ledger in ${OPERATION_TIMEOUT_MS} ms`);
  });
}

/** An audit row of the SQLite ledger, as stored. */
export interface RawAuditRow {
  seq: number;
  time: string;
  event: string;
  serial: string | null;
  body: string;
  previous: string;
  hash: string;
}

/** A token row of the SQLite ledger, as stored (times as ISO text). */
export type RawTokenRow = TokenRow<string>;

/** Errors that mean "cannot reach PostgreSQL now", as opposed to a bad query. */
export function isUnavailable(error: unknown): boolean {
  const code = (error as { code?: string })?.code ?? "";
  const errno = (error as { errno?: string })?.errno ?? "";
  if (/CONNECTION|TIMEOUT|TLS|SOCKET|ECONNREFUSED|ECONNRESET|EPIPE|ENOTCONN|ETIMEDOUT/.test(code) && !/AUTH/.test(code)) return true;
  // SQLSTATE class 08 (connection exception), 57P01-57P03 (shutdown, cannot connect now),
  // 53300 (too many connections), 57014 (statement_timeout: too slow to count on).
  return /^08|^57P0[123]$|^53300$|^57014$/.test(errno);
}
