import { readFileSync } from "node:fs";
import { Depot } from "../ca/depot.ts";
import { x509 } from "../ca/provider.ts";
import type { Logger } from "./log.ts";

/**
 * The depot's upkeep while the server runs, done by the supervisor between
 * events: keep the CRL from expiring, and after a worker crashed, restore
 * the certificate files it may not have written (the ledger has them).
 */
export async function depotUpkeep(depotPath: string, log: Logger, afterCrash: boolean): Promise<void> {
  await refreshCrlIfDue(depotPath, log);
  if (!afterCrash) return;
  const depot = await Depot.open(depotPath);
  try {
    const restored = await depot.restoreMissingFiles();
    if (restored > 0) log.info(`restored ${restored} certificate file(s) from the ledger after a worker crash`);
  } finally {
    depot.close();
  }
}

/**
 * Keeps crl.pem from expiring while the server runs: a web server checking
 * client certificates against an expired CRL (nginx `ssl_crl`, Apache
 * `SSLCARevocationCheck`) refuses every client. When less than half of the
 * CRL's validity is left, it is signed again (a new CRL number, the same
 * entries). Returns whether it re-signed.
 */
export async function refreshCrlIfDue(depotPath: string, log: Logger, now = Date.now()): Promise<boolean> {
  const depot = await Depot.open(depotPath);
  try {
    let due = true;
    try {
      const crl = new x509.X509Crl(readFileSync(depot.layout.crl, "utf8"));
      const thisUpdate = crl.thisUpdate.getTime();
      const nextUpdate = crl.nextUpdate?.getTime() ?? thisUpdate;
      due = now >= thisUpdate + (nextUpdate - thisUpdate) / 2;
    } catch {
      // Missing or unreadable: a fresh one is due.
    }
    if (!due) return false;
    const crl = await depot.publishCrl();
    log.info(`re-signed the CRL (number ${crl.crlNumber}, ${crl.revokedCount} revoked) before it expires`);
    return true;
  } finally {
    depot.close();
  }
}
