/**
 * @module
 * Keeps this host's crl.pem in step with a ledger shared by several hosts:
 * a revocation made on another host changes the ledger, not our file. Every
 * second a worker asks the ledger whether a revocation came after the CRL
 * this host last published (one small query), and if so signs and publishes
 * a new one. Polling, not LISTEN/NOTIFY: it needs no connection held open
 * per worker, survives a PostgreSQL restart without re-subscribing, and a
 * missed notification cannot leave a CRL stale. With SQLite (one host) the
 * ledger has no `crlIsStale` and nothing is started.
 */
import type { Depot } from "../ca/depot.ts";

export const FOLLOW_INTERVAL_MS = 1000;

interface SharedLedger {
  crlIsStale(): Promise<boolean>;
}

function isShared(ledger: unknown): ledger is SharedLedger {
  return typeof (ledger as Partial<SharedLedger>).crlIsStale === "function";
}

/** Starts following; returns a function that stops it. `report` hears of each new CRL and of failures (once per outage). */
export function followSharedLedger(depot: Depot, report: (level: "info" | "warn", message: string) => void, intervalMs = FOLLOW_INTERVAL_MS): () => void {
  const ledger = depot.ledger;
  if (!isShared(ledger)) return () => {};
  let failing = false;
  let busy = false;
  const timer = setInterval(async () => {
    if (busy) return;
    busy = true;
    try {
      if (await ledger.crlIsStale()) {
        const crl = await depot.publishCrl();
        report("info", `published CRL ${crl.crlNumber} (${crl.revokedCount} revoked) after a revocation in the shared ledger`);
      }
      if (failing) report("info", "the ledger is reachable again; crl.pem follows it");
      failing = false;
    } catch (error) {
      if (!failing) report("warn", `cannot bring crl.pem up to date with the ledger: ${(error as Error)?.message ?? error}`);
      failing = true;
    } finally {
      busy = false;
    }
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
