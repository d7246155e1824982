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
import { configFromSettings, parseConfig, settingsFromConfig } from "./config.ts";
import { Depot } from "./depot.ts";
import { writeFileAtomic } from "./files.ts";
import { fingerprintOf } from "./issuer.ts";
import { checkLedgerUrl, redactedUrl } from "./ledger-postgres.ts";
import { openPostgresLedger } from "./ledger-postgres-settings.ts";

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
}

export async function migrateLedgerToPostgres(path: string, target: MigrateTarget): Promise<MigrateReport> {
  checkLedgerUrl(target.url);
  const depot = await Depot.open(path);
  const { layout } = depot;
  let sections;
  try {
    sections = parseConfig(readFileSync(layout.config, "utf8"));
  } catch (error) {
    depot.close();
    throw ioError("read", layout.config, error);
  }
  const settings = settingsFromConfig(sections)!;
  if (settings.ledger) {
    depot.close();
    throw new DepotError("E_BAD_ARGUMENT", `${layout.root} already keeps its ledger in PostgreSQL (${redactedUrl(settings.ledger)})`);
  }
  const records = await depot.ledger.list();
  const crlNumber = lastSqliteCrlNumber(layout.ledger);
  const caFingerprint = fingerprintOf(depot.issuer.certificate);
  depot.close();

  const newSettings = {
    ...settings,
    ledger: target.url,
    ...(target.passwordFile ? { ledgerPasswordFile: resolve(target.passwordFile) } : {}),
    ...(target.pool ? { ledgerPool: String(target.pool) } : {}),
  };
  const pg = await openPostgresLedger(newSettings, layout.root, caFingerprint, true);
  try {
    const copied = await pg.adopt(records);
    await pg.raiseCrlNumber(crlNumber);
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
    writeFileAtomic(layout.config, configFromSettings(newSettings));
    return { total: records.length, revoked: records.filter((r) => r.status === "revoked").length, copied, verified, crlNumber };
  } finally {
    pg.close();
  }
}

/** The last CRL number the SQLite ledger handed out (0: none). */
function lastSqliteCrlNumber(path: string): number {
  if (!existsSync(path)) return 0;
  const db = new Database(path, { readonly: true });
  try {
    const row = db.query<{ value: number }, []>("SELECT value FROM counters WHERE name = 'crl_number'").get();
    return row?.value ?? 0;
  } finally {
    db.close();
  }
}
