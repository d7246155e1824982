/**
 * @module
 * The SCEP face's services over an opened Depot: the API's services (or a
 * listener's own), the RA loaded on first use (from the key the supervisor
 * handed over when the depot's keys are encrypted, else from its file; a
 * failed load is tried again by the next request, so `depot scep init` on
 * a running server needs no restart unless the key is encrypted), and the
 * ledger's transactions.
 */
import { certificateDerFromPem } from "../../ca/certificate-der.ts";
import type { Depot } from "../../ca/depot.ts";
import { loadScepRa, type ScepRa } from "../../ca/scep/ra.ts";
import type { ApiServices } from "../api/services.ts";
import type { ScepServices } from "./services.ts";

export interface DepotScepOptions {
  /** The API's services, with the listener's key pool and renewal settings. */
  api: ApiServices;
  /** The RA key, PKCS#8 PEM, decrypted by the supervisor (an encrypted depot in a server). */
  raKeyPem?: string;
  /** The template of enrolments whose challenge names none (`depot start --scep-template`). */
  template?: string;
  refused?(reason: string): void;
  internalError?(error: unknown): void;
}

export function depotScepServices(depot: Depot, options: DepotScepOptions): ScepServices {
  let ra: Promise<ScepRa> | undefined;
  return {
    api: options.api,
    ra() {
      if (!ra) {
        ra = loadScepRa(depot.layout.root, options.raKeyPem !== undefined ? { decryptedKeyPem: options.raKeyPem } : {});
        ra.catch(() => (ra = undefined));
      }
      return ra;
    },
    transactions: depot.ledger.scep,
    ...(options.template ? { template: options.template } : {}),
    caCertificateDers: depot.bundlePems.map(certificateDerFromPem),
    ...(options.refused ? { refused: options.refused } : {}),
    ...(options.internalError ? { internalError: options.internalError } : {}),
  };
}
