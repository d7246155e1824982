/**
 * @module depot's ACME server for one worker: the store on the depot's
 * ledger (SQLite or PostgreSQL, whichever the depot uses), the depot as
 * issuer, and the settings from `depot start`. The HTTPS listener sends
 * every path under /acme/ to `handle`.
 */

import type { Depot } from "../ca/depot.ts";
import { depotIssuer } from "./issuer.ts";
import type { AcmeSettings } from "./options.ts";
import { type AcmeServer, createAcmeServer } from "./server.ts";
import type { AcmeStore } from "../ca/acme-store.ts";
import type { NonceBook } from "./nonce-book.ts";

export const ACME_BASE_PATH = "/acme";

/** The store lives where the ledger lives (`Ledger.acme`): on a PostgreSQL depot every host shares its accounts, orders and nonces. */
export function acmeStoreFor(depot: Depot): AcmeStore {
  return depot.ledger.acme;
}

/** `nonceBook`: the server's own (shared-nonce-book.ts); without one the ledger keeps the spent nonces. */
export function acmeForDepot(depot: Depot, settings: AcmeSettings, apiUrl = settings.apiUrl, nonceBook?: NonceBook): AcmeServer & { close(): void } {
  const store = acmeStoreFor(depot);
  const server = createAcmeServer({
    store,
    ...(nonceBook ? { nonceBook } : {}),
    issuer: depotIssuer(depot, { publishCrl: false, ...(settings.template ? { template: settings.template } : {}) }),
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
