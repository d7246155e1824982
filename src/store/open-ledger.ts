/**
 * @module
 * `openLedger`, the one place that picks a ledger backend from depot.cnf
 * (`ledger = sqlite`, the default, or `postgres://…`) and refuses to open a
 * ledger that was lost (see src/ca/ledger/marker.ts). Loading this module
 * installs it as the domain's opener (`installLedgerOpener`).
 */
import { statSync } from "node:fs";
import { DepotError } from "../errors.ts";
import type { DepotSettings } from "../ca/config.ts";
import type { DepotLayout } from "../ca/layout.ts";
import { installLedgerOpener, type Ledger, type LedgerOpening } from "../ca/ledger.ts";
import { hasLedgerMarker } from "../ca/ledger/marker.ts";
import { SqliteLedger, sqliteLedgerPresence } from "./sqlite/ledger.ts";
import { isPostgresUrl } from "../ca/ledger-url.ts";
import { openPostgresLedger } from "./postgres/settings.ts";

/** Which backend depot.cnf's `ledger` names: for the operations only one backend has (rebuild, migrate). */
export function ledgerKind(settings: DepotSettings): "sqlite" | "postgres" {
  return isPostgresUrl(settings.ledger) ? "postgres" : "sqlite";
}

/**
 * Opens the depot's ledger, of the kind depot.cnf names (`ledger = sqlite`,
 * the default; PostgreSQL comes later). A ledger is created only by `init`, by the
 * adoption of a depot made by the original (which never had one), and by
 * `depot ledger rebuild`. A depot that had a ledger (its marker says so, or
 * it has a crl.pem, which the original never wrote) and has lost it is
 * refused: a fresh ledger would silently forget every revocation.
 */
export async function openLedger(layout: DepotLayout, settings: DepotSettings, opening: LedgerOpening = {}): Promise<Ledger> {
  const kind = settings.ledger ?? "sqlite";
  if (isPostgresUrl(kind)) return openPostgresLedger(layout, settings, opening.create === true);
  if (kind !== "sqlite") throw new DepotError("E_NOT_A_DEPOT", `${layout.config} names the ledger '${kind}'; this depot knows sqlite and postgres://user@host:5432/db`);
  if (!opening.create) {
    const presence = sqliteLedgerPresence(layout.ledger);
    const hadLedger = hasLedgerMarker(layout) || presence !== "missing";
    if (presence !== "present" && hadLedger) throw lostLedger(layout, presence);
    if (presence === "missing" && !hadLedger && hasCrl(layout)) throw lostLedger(layout, presence);
  }
  const ledger = SqliteLedger.open(layout.ledger, { create: true, groupReadable: groupReadable(layout), walCheckpoints: opening.walCheckpoints ?? "here" });
  if (!opening.create && hasLedgerMarker(layout) && (await ledger.isEmpty())) {
    ledger.close();
    throw lostLedger(layout, "empty");
  }
  return ledger;
}

function lostLedger(layout: DepotLayout, presence: "missing" | "empty"): DepotError {
  return new DepotError(
    "E_LEDGER",
    `the ledger ${layout.ledger} is ${presence === "missing" ? "missing" : "empty"}, but this depot had one; depot will not start a new one, which would forget every revocation. Restore it from a backup, or rebuild it from the certificate files and crl.pem with: depot ledger rebuild ${layout.root}`,
  );
}

function hasCrl(layout: DepotLayout): boolean {
  try {
    return statSync(layout.crl).size > 0;
  } catch {
    return false;
  }
}

/**
 * Ledger files are 0600, or 0640 when the depot's folder is set-group-ID
 * (`chmod g+s`), the sign that the operator gave it a group whose members
 * may read the ledger (`depot list` without root).
 */
function groupReadable(layout: DepotLayout): boolean {
  try {
    return (statSync(layout.root).mode & 0o2000) !== 0;
  } catch {
    return false;
  }
}

installLedgerOpener(openLedger);
