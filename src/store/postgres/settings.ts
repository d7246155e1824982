/**
 * @module
 * From a depot's settings (depot.cnf: `ledger = postgres://…`,
 * `ledger_password_file`, `ledger_pool`) to an open PostgreSQL ledger: the
 * one way `openLedger` reaches PostgreSQL. The database is bound to the CA
 * whose certificate is in the depot's folder.
 */
import { createHash } from "node:crypto";
import { certificateDerFromPem } from "../../ca/certificate-der.ts";
import { readFileSync } from "node:fs";
import { DepotError, ioError } from "../../errors.ts";
import type { DepotSettings } from "../../ca/config.ts";
import type { DepotLayout } from "../../ca/layout.ts";
import { DEFAULT_POOL, hostIdentity, PostgresLedger } from "./ledger.ts";

/** The pool size from depot.cnf, or DEPOT_LEDGER_POOL for one process, or the default. */
export function poolSize(text: string | undefined): number {
  const value = process.env.DEPOT_LEDGER_POOL ?? text;
  if (value === undefined) return DEFAULT_POOL;
  const pool = Number(value);
  if (!Number.isInteger(pool) || pool < 1 || pool > 100) throw new DepotError("E_BAD_ARGUMENT", `ledger_pool must be a whole number from 1 to 100, not '${value}'`);
  return pool;
}

/** SHA-256 of the CA certificate's DER, as the ledger keeps fingerprints. */
export function caFingerprintOf(layout: DepotLayout): string {
  let pem: string;
  try {
    pem = readFileSync(layout.caCertificate, "utf8");
  } catch (error) {
    throw ioError("read", layout.caCertificate, error);
  }
  let der: Uint8Array;
  try {
    der = certificateDerFromPem(pem);
  } catch {
    throw new DepotError("E_NOT_A_DEPOT", `${layout.caCertificate} is not a readable certificate`);
  }
  return createHash("sha256").update(der).digest("hex");
}

export function openPostgresLedger(layout: DepotLayout, settings: DepotSettings, create = false): Promise<PostgresLedger> {
  return PostgresLedger.open({
    url: settings.ledger!,
    ...(settings.ledgerPasswordFile ? { passwordFile: settings.ledgerPasswordFile } : {}),
    pool: poolSize(settings.ledgerPool),
    caFingerprint: caFingerprintOf(layout),
    // `init` builds the depot in a staging folder: its rows belong to the final one.
    host: hostIdentity(create && settings.path ? settings.path : layout.root),
    create,
  });
}
