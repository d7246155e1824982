/**
 * @module
 * SQLite's failures in words a person acts on: "database or disk is full"
 * becomes "the disk holding the depot is full", and so on. Anything that is
 * not an SQLite failure (a DepotError, a bug) passes through unchanged.
 */
import { SQLiteError } from "bun:sqlite";
import { accessSync, constants } from "node:fs";
import { dirname } from "node:path";
import { DepotError, errnoOf, messageOf } from "../../errors.ts";

export function ledgerError(error: unknown, path: string): unknown {
  if (!(error instanceof SQLiteError)) return error;
  const code = error.code ?? "";
  const say = (message: string) => new DepotError("E_LEDGER", message, { cause: error });
  if (code.startsWith("SQLITE_FULL")) return say(`the disk holding the depot is full: cannot write the ledger ${path}`);
  if (code.startsWith("SQLITE_NOTADB")) return say(`the ledger ${path} is not a database: ${messageOf(error)}; restore it from a backup, or move it aside and run: depot ledger rebuild ${dirname(path)}`);
  if (code.startsWith("SQLITE_CORRUPT")) return say(`the ledger ${path} is damaged: ${messageOf(error)}; restore it from a backup, or move it aside and run: depot ledger rebuild ${dirname(path)}`);
  if (code.startsWith("SQLITE_READONLY") || code.startsWith("SQLITE_CANTOPEN") || code.startsWith("SQLITE_IOERR") || code.startsWith("SQLITE_PERM")) {
    if (readOnly(dirname(path))) return say(`the folder holding the depot (${dirname(path)}) is read-only: cannot write the ledger`);
    if (code.startsWith("SQLITE_CANTOPEN")) return say(`cannot open the ledger ${path}: ${messageOf(error)}`);
    return say(`cannot write the ledger ${path}: ${messageOf(error)}`);
  }
  return error;
}

function readOnly(folder: string): boolean {
  try {
    accessSync(folder, constants.W_OK);
    return false;
  } catch (error) {
    return errnoOf(error) === "EROFS" || errnoOf(error) === "EACCES";
  }
}
