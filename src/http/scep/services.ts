/**
 * @module
 * What the SCEP face needs from the process that serves it: the API's
 * services (tokens, CSR checks, signing, the ledger's certificates and the
 * renewal settings), the RA, the transactions store, and the CA
 * certificates GetCACert hands out.
 */
import type { ScepRa } from "../../ca/scep/ra.ts";
import type { ScepStore } from "../../ca/scep/store.ts";
import type { ApiServices } from "../api/services.ts";

export interface ScepServices {
  api: ApiServices;
  /** The RA; rejects (E_NOT_FOUND) when the depot has none (`depot scep init`). */
  ra(): Promise<ScepRa>;
  transactions: ScepStore;
  /** The template of enrolments whose challenge names none (`depot start --scep-template`); absent: the challenge's --type. */
  template?: string;
  /** GetCACert's CA certificates after the RA's (DER): the issuing CA, then the root in a two-tier depot. */
  caCertificateDers: Uint8Array[];
  /** A refused request's reason, for the server log (the client gets only a failInfo). */
  refused?(reason: string): void;
  /** An error that is a bug, not the client's. */
  internalError?(error: unknown): void;
}
