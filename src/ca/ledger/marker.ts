/**
 * @module
 * The `depot-ledger` file in a depot's folder says "this depot has a
 * ledger". It tells a depot that never had one (made by the original: its
 * certificates are adopted into a new ledger) from one whose ledger was lost
 * (refused: a new ledger would forget the revocations). `init`, adoption and
 * `depot ledger rebuild` write it; a depot made by depot 0.1.0 (a ledger, no
 * marker) gets it on its first open. With a PostgreSQL ledger, the
 * schema's presence plays this role.
 */
import { existsSync } from "node:fs";
import { writeFileAtomic } from "../files.ts";
import type { DepotLayout } from "../layout.ts";

const TEXT = `This depot keeps its records in a ledger (ledger.sqlite3 unless depot.cnf names another).
If the ledger is lost, depot refuses to open the depot rather than start an empty one,
which would forget every revocation. Keep this file. To recover, restore the ledger
from a backup, or run: depot ledger rebuild <this folder>
`;

export function hasLedgerMarker(layout: DepotLayout): boolean {
  return existsSync(layout.ledgerMarker);
}

export function writeLedgerMarker(layout: DepotLayout): void {
  if (!hasLedgerMarker(layout)) writeFileAtomic(layout.ledgerMarker, TEXT, 0o644);
}
