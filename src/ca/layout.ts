import { join } from "node:path";

/** Where things live inside a depot folder (the original's layout, plus the ledger). */
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
  };
}
export type DepotLayout = ReturnType<typeof depotLayout>;
