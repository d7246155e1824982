/**
 * @module
 * Moves a depot's SQLite ledger into PostgreSQL, so more hosts can share it.
 * Every row is copied as it is (revoked ones stay revoked, recorded as
 * issued by this host), the CRL sequence is raised past the last number the
 * SQLite ledger handed out (so CRL numbers never go backwards), every row is
 * read back and compared, and only then does depot.cnf name the new ledger.
 * Run twice, it copies nothing new and verifies again. A database that
 * belongs to another CA is refused before anything is written.
 */
import { Database } from "bun:sqlite";
import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { DepotError, ioError } from "../errors.ts";
import { configWithSettings, parseConfig, settingsFromConfig } from "../ca/config.ts";
import type { CrlEntry } from "../ca/crl.ts";
import { depotLayout } from "../ca/layout.ts";
import { writeFileAtomic } from "../ca/files.ts";
import { checkLedgerUrl, type RawAuditRow, type RawTokenRow, redactedUrl } from "./postgres/ledger.ts";
import { TOKEN_COLUMNS } from "../ca/tokens.ts";
import { openPostgresLedger } from "./postgres/settings.ts";
import { ledgerKind } from "./open-ledger.ts";
import { openDepot } from "./open-depot.ts";
import { ACME_TABLES } from "./acme-rows.ts";
import { SSH_COLUMNS, sshFromRow, type SshRow } from "../ca/ssh/ssh-row.ts";
import type { SshCertificateRecord } from "../ca/ssh/store.ts";

export interface MigrateTarget {
  url: string;
  passwordFile?: string;
  pool?: number;
}

export interface MigrateReport {
  /** Rows in the SQLite ledger (the CA's own included). */
  total: number;
  revoked: number;
  /** Rows new to PostgreSQL in this run. */
  copied: number;
  /** Rows read back from PostgreSQL identical to SQLite's. */
  verified: number;
  crlNumber: number;
  /** Audit records and API tokens: how many SQLite had, how many were new to PostgreSQL. */
  audit: { total: number; copied: number };
  tokens: { total: number; copied: number };
  /** ACME rows (accounts, orders, authorizations, challenges, EAB keys, used nonces): in SQLite, new to PostgreSQL. */
  acme: { total: number; copied: number };
  /** SSH certificates: in SQLite, new to PostgreSQL. */
  ssh: { total: number; copied: number };
}

export async function migrateLedgerToPostgres(path: string, target: MigrateTarget): Promise<MigrateReport> {
  checkLedgerUrl(target.url);
  const layout = depotLayout(resolve(path));
  let sections;
  try {
    sections = parseConfig(readFileSync(layout.config, "utf8"));
  } catch (error) {
    throw ioError("read", layout.config, error);
  }
  const settings = settingsFromConfig(sections);
  if (!settings) throw new DepotError("E_NOT_A_DEPOT", `${layout.root} is not a depot (its depot.cnf names no CA)`);
  if (ledgerKind(settings) !== "sqlite") {
    throw new DepotError("E_BAD_ARGUMENT", `${layout.root} already keeps its ledger in PostgreSQL (${redactedUrl(settings.ledger!)})`);
  }
  const depot = await openDepot(layout.root);
  const records = await depot.ledger.list();
  depot.close();
  const { crlNumber, crlOnly, audit, tokens, acme, ssh } = readSqliteExtras(layout.ledger);

  const newSettings = {
    ...settings,
    ledger: target.url,
    ...(target.passwordFile ? { ledgerPasswordFile: resolve(target.passwordFile) } : {}),
    ...(target.pool ? { ledgerPool: String(target.pool) } : {}),
  };
  const pg = await openPostgresLedger(layout, { ...newSettings, path: layout.root }, true);
  try {
    const copied = await pg.adopt(records);
    // CRL numbers continue after SQLite's; serials only a CRL knew of stay listed.
    await pg.restoreRevocations(crlNumber, crlOnly);
    // The audit chain as it is (it still verifies), and the API tokens.
    const imported = await pg.importAuditAndTokens(audit, tokens);
    // ACME's accounts and orders, so clients keep their accounts after the move.
    const acmeCopied = await pg.acme.importRows(acme);
    // SSH certificates, and the revocation count their KRL's version follows.
    const sshCopied = await pg.ssh.importRecords(ssh.records, ssh.revocations);
    const chain = await pg.audit.verify();
    if (!chain.ok || chain.count < audit.length) {
      throw new DepotError("E_LEDGER", `the audit chain in ${redactedUrl(target.url)} does not verify after the copy${chain.ok ? "" : ` (${chain.problem})`}; depot.cnf still names the SQLite ledger`);
    }
    let verified = 0;
    for (const record of records) {
      const copy = await pg.find(record.serial);
      const same =
        copy &&
        copy.fingerprint === record.fingerprint &&
        copy.pem === record.pem &&
        copy.status === record.status &&
        copy.revokedAt?.getTime() === record.revokedAt?.getTime() &&
        copy.notAfter.getTime() === record.notAfter.getTime();
      if (!same) throw new DepotError("E_IO", `serial ${record.serial.toUpperCase()} differs in ${redactedUrl(target.url)} after the copy; depot.cnf still names the SQLite ledger`);
      verified++;
    }
    writeFileAtomic(layout.config, configWithSettings(sections, newSettings));
    return {
      total: records.length,
      revoked: records.filter((r) => r.status === "revoked").length,
      copied,
      verified,
      crlNumber,
      audit: { total: audit.length, copied: imported.audit },
      tokens: { total: tokens.length, copied: imported.tokens },
      acme: { total: Object.values(acme).reduce((n, rows) => n + rows.length, 0), copied: acmeCopied },
      ssh: { total: ssh.records.length, copied: sshCopied },
    };
  } finally {
    pg.close();
  }
}

/** What the SQLite ledger keeps beside the certificates: its last CRL number and revocations known only from a CRL. */
function readSqliteExtras(path: string): {
  crlNumber: number;
  crlOnly: CrlEntry[];
  audit: RawAuditRow[];
  tokens: RawTokenRow[];
  acme: Record<string, Record<string, unknown>[]>;
  ssh: { records: SshCertificateRecord[]; revocations: number };
} {
  if (!existsSync(path)) return { crlNumber: 0, crlOnly: [], audit: [], tokens: [], acme: {}, ssh: { records: [], revocations: 0 } };
  const db = new Database(path, { readonly: true });
  try {
    const crlNumber = db.query<{ value: number }, []>("SELECT value FROM counters WHERE name = 'crl_number'").get()?.value ?? 0;
    const hasCrlOnly = db.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'crl_only_revocations'").get() !== null;
    const crlOnly = hasCrlOnly
      ? db
          .query<{ serial: string; revoked_at: string; revocation_reason: string }, []>("SELECT serial, revoked_at, revocation_reason FROM crl_only_revocations")
          .all()
          .map((row) => ({ serial: row.serial, revokedAt: new Date(row.revoked_at), reason: row.revocation_reason }))
      : [];
    const has = (table: string) => db.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(table) !== null;
    const audit = has("audit") ? db.query<RawAuditRow, []>("SELECT seq, time, event, serial, body, previous, hash FROM audit ORDER BY seq").all() : [];
    const tokens = has("api_tokens")
      ? db.query<RawTokenRow, []>(`SELECT ${TOKEN_COLUMNS} FROM api_tokens`).all()
      : [];
    const acme: Record<string, Record<string, unknown>[]> = {};
    for (const table of ACME_TABLES) if (has(table)) acme[table] = db.query<Record<string, unknown>, []>(`SELECT * FROM ${table} ORDER BY rowid`).all();
    // Since step 10 SQLite keeps spent nonces by issue time, PostgreSQL by time of use: the issue
    // time stands in for it (earlier, so a copied nonce is forgotten only once its age refuses it).
    if (has("acme_spent_nonces")) acme.acme_used_nonces = db.query<Record<string, unknown>, []>("SELECT nonce, issued_at AS used_at FROM acme_spent_nonces").all();
    const ssh = has("ssh_certificates")
      ? {
          records: db.query<SshRow<string>, []>(`SELECT ${SSH_COLUMNS} FROM ssh_certificates ORDER BY valid_after, serial`).all().map((row) => sshFromRow(row)),
          revocations: db.query<{ value: number }, []>("SELECT value FROM counters WHERE name = 'ssh_revocations'").get()?.value ?? 0,
        }
      : { records: [], revocations: 0 };
    return { crlNumber, crlOnly, audit, tokens, acme, ssh };
  } finally {
    db.close();
  }
}
