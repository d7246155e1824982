/**
 * @module
 * depot as a library: create and open depots, issue certificates, revoke them.
 */
export { createDepot, type CreateOptions } from "./ca/create.ts";
export { type Crl, Depot, type IssueRequest, type Issued, type OpenOptions, type SignRequest } from "./ca/depot.ts";
export { parseDn, formatDn, type DistinguishedName } from "./ca/dn.ts";
export {
  type GateDecision,
  type GateExtension,
  type GateRequest,
  GateUnavailable,
  IssuanceDenied,
  type IssuanceFace,
  type IssuanceGate,
} from "./ca/issuance-gate.ts";
export { KEY_TYPES, type KeyType } from "./ca/key-types.ts";
export { type Template, type TemplateExtension, Templates } from "./ca/templates.ts";
export { type CertificateRecord, type Ledger, type ListQuery, SerialCollisionError } from "./ca/ledger.ts";
// Loading the factory installs it: Depot.open and createDepot then open the ledger depot.cnf names.
export { openLedger } from "./store/open-ledger.ts";
export { openDepot } from "./store/open-depot.ts";
export { DepotError, type ErrorCode, messageOf } from "./errors.ts";
