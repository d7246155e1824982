/**
 * @module depot's ACME server: `createAcmeServer` (a `handle(Request)`
 * function to mount under /acme), its store's interface (a ledger's `acme`), the depot-backed issuer,
 * and EAB key creation for `depot acme eab`.
 */
export { createAcmeServer, DEFAULT_ACME_DAYS, DEFAULT_ORDERS_PER_HOUR, type AcmeServer, type AcmeServerOptions } from "./server.ts";
export type { AcmeStore } from "../ca/acme-store.ts";
export { depotIssuer, type AcmeIssuer } from "./issuer.ts";
export { createEabKey } from "./eab.ts";
export { certIdOf } from "./ari-cert-id.ts";
export { acmeForDepot, ACME_BASE_PATH } from "./mount.ts";
export { ACME_START_ARGS, acmeFromStartArgs, acmeSettings, parseResolver, type AcmeFlags, type AcmeSettings } from "./options.ts";
