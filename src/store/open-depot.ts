/**
 * @module
 * `openDepot`: `Depot.open` with the ledger backends' factory, the one
 * import the CLI, the server's processes and the upkeep need to open a
 * depot whatever its ledger.
 */
import { Depot, type OpenOptions } from "../ca/depot.ts";
import { openLedger } from "./open-ledger.ts";

export { openLedger };

export function openDepot(path: string, options: OpenOptions = {}): Promise<Depot> {
  return Depot.open(path, { openLedger, ...options });
}
