/**
 * @module
 * Where things live inside a depot folder (the original's layout, plus the ledger).
 */
import { join } from "node:path";

export function depotLayout(root: string) {
  return {
    root,
    config: join(root, "depot.cnf"),
    privateDir: join(root, "private"),
    caKey: join(root, "private", "ca.key"),
    certificatesDir: join(root, "certificates"),
    caCertificate: join(root, "certificates", "ca.crt"),
    crl: join(root, "crl.pem"),
    ledger: join(root, "ledger.sqlite3"),
    /** Says the depot has a ledger, so a lost one is refused (ledger/marker.ts). */
    ledgerMarker: join(root, "depot-ledger"),
  };
}
export type DepotLayout = ReturnType<typeof depotLayout>;
