/**
 * @module depot's ACME server for one worker: the store on the depot's
 * ledger, the depot as issuer, and the settings from `depot start`. The
 * HTTPS listener sends every path under /acme/ to `handle`.
 */

import type { Depot } from "../ca/depot.ts";
import { depotIssuer } from "./issuer.ts";
import type { AcmeSettings } from "./options.ts";
import { type AcmeServer, createAcmeServer } from "./server.ts";
import { SqliteAcmeStore } from "./store.ts";
import { PostgresLedger } from "../ca/ledger/postgres.ts";
import { DepotError } from "../errors.ts";

export const ACME_BASE_PATH = "/acme";

export function acmeForDepot(depot: Depot, settings: AcmeSettings, apiUrl = settings.apiUrl): AcmeServer & { close(): void } {
  // ACME's accounts, orders and nonces have no PostgreSQL store yet: say so, rather than open a ledger.sqlite3 that is not this depot's ledger.
  if (depot.ledger instanceof PostgresLedger) {
    throw new DepotError("E_BAD_ARGUMENT", "ACME keeps its accounts, orders and nonces in the SQLite ledger only, and this depot's ledger is in PostgreSQL; run ACME on a SQLite depot");
  }
  const store = new SqliteAcmeStore(depot.layout.ledger);
  const server = createAcmeServer({
    store,
    issuer: depotIssuer(depot, { publishCrl: false }),
    basePath: ACME_BASE_PATH,
    ...(apiUrl ? { apiUrl } : {}),
    allow: settings.allow,
    days: settings.days,
    requireEab: settings.requireEab,
    ordersPerHour: settings.ordersPerHour,
    validators: { httpPort: settings.httpPort, tlsPort: settings.tlsPort, ...(settings.resolver ? { resolver: settings.resolver } : {}) },
  });
  return { ...server, handle: server.handle, queue: server.queue, close: () => store.close() };
}
