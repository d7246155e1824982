/** depot as a library: create and open depots, issue certificates. */
export { createDepot, type CreateOptions } from "./ca/create.ts";
export { Depot, type IssueRequest, type Issued, type SignRequest } from "./ca/depot.ts";
export { parseDn, formatDn, type DistinguishedName } from "./ca/dn.ts";
export { KEY_TYPES, type KeyType } from "./ca/key-types.ts";
export type { CertificateRecord, Ledger } from "./ca/ledger.ts";
export { DepotError, type ErrorCode } from "./errors.ts";
