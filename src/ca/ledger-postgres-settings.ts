/**
 * @module
 * From a depot's settings (depot.cnf: `ledger`, `ledger_password_file`,
 * `ledger_pool`) to an open PostgreSQL ledger. The one place `Depot.open`
 * and `createDepot` reach PostgreSQL through.
 */
import { DepotError } from "../errors.ts";
import type { DepotSettings } from "./config.ts";
import { DEFAULT_POOL, hostIdentity, PostgresLedger } from "./ledger-postgres.ts";

/** The pool size from depot.cnf, or DEPOT_LEDGER_POOL for one process, or the default. */
export function poolSize(text: string | undefined): number {
  const value = process.env.DEPOT_LEDGER_POOL ?? text;
  if (value === undefined) return DEFAULT_POOL;
  const pool = Number(value);
  if (!Number.isInteger(pool) || pool < 1 || pool > 100) throw new DepotError("E_BAD_ARGUMENT", `ledger_pool must be a whole number from 1 to 100, not '${value}'`);
  return pool;
}

export function openPostgresLedger(settings: DepotSettings, root: string, caFingerprint: string, create = false): Promise<PostgresLedger> {
  return PostgresLedger.open({
    url: settings.ledger!,
    ...(settings.ledgerPasswordFile ? { passwordFile: settings.ledgerPasswordFile } : {}),
    pool: poolSize(settings.ledgerPool),
    caFingerprint,
    host: hostIdentity(root),
    create,
  });
}
