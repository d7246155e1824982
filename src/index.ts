/**
 * @module
 * depot as a library: create and open depots, issue certificates, revoke them.
 */
export { createDepot, type CreateOptions } from "./ca/create.ts";
export { type Crl, Depot, type IssueRequest, type Issued, type OpenOptions, type SignRequest } from "./ca/depot.ts";
export { parseDn, formatDn, type DistinguishedName } from "./ca/dn.ts";
export { KEY_TYPES, type KeyType } from "./ca/key-types.ts";
export { type CertificateRecord, type Ledger, type ListQuery, openLedger, SerialCollisionError } from "./ca/ledger.ts";
export { DepotError, type ErrorCode, messageOf } from "./errors.ts";
