/**
 * @module
 * A PostgreSQL ledger's URL as depot.cnf keeps it: checked (never with a
 * password in it) and shown without one. Domain rules, so `init` checks the
 * URL before any backend is loaded.
 */
import { DepotError } from "../errors.ts";

/** Refuses a URL that carries a password: it would end up in depot.cnf and in process listings. */
export function checkLedgerUrl(url: string): URL {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new DepotError("E_BAD_ARGUMENT", `'${url}' is not a ledger URL (postgres://user@host:5432/database)`);
  }
  if (parsed.protocol !== "postgres:" && parsed.protocol !== "postgresql:") {
    throw new DepotError("E_BAD_ARGUMENT", `the ledger URL must start with postgres:// (got ${parsed.protocol}//)`);
  }
  if (parsed.password) throw new DepotError("E_BAD_ARGUMENT", "the ledger URL must not hold a password; give it in PGPASSWORD or --ledger-password-file");
  if (!parsed.username || parsed.pathname.length < 2) throw new DepotError("E_BAD_ARGUMENT", `the ledger URL needs a user and a database: postgres://user@host:5432/database`);
  return parsed;
}

/** The URL as messages show it: never with a password. */
export function redactedUrl(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.password = "";
    return parsed.toString();
  } catch {
    return "(unreadable URL)";
  }
}

/** Whether depot.cnf's `ledger` names PostgreSQL. */
export function isPostgresUrl(ledger: string | undefined): boolean {
  return ledger !== undefined && /^postgres(ql)?:\/\//i.test(ledger);
}
