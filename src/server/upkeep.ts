/**
 * @module
 * The depot's upkeep jobs, run by the upkeep process (`upkeep-process.ts`):
 * publish a new CRL when it is due, restore certificate files a crashed
 * worker had deferred. Each takes an open `Depot`.
 */
import { statSync } from "node:fs";
import type { Crl, Depot } from "../ca/depot.ts";
import { x509 } from "../ca/provider.ts";

/**
 * Decides when crl.pem needs signing again. Until the library's
 * `depot.refreshCrl()` lands (it also republishes when the ledger holds
 * revocations newer than the published CRL), this adapter re-signs once
 * less than half of the CRL's validity is left: a web server checking
 * client certificates against an expired CRL (nginx `ssl_crl`, Apache
 * `SSLCARevocationCheck`) refuses every client. The CRL is parsed only when
 * the file changed, so polling every few hundred milliseconds costs a stat.
 */
export class CrlKeeper {
  private seen: { mtimeMs: number; size: number; dueAt: number } | undefined;

  constructor(private readonly depot: Depot) {}

  /** Publishes a new CRL if one is due; returns it, or undefined. */
  async refresh(now = Date.now()): Promise<Crl | undefined> {
    // Not due by age: the ledger may still hold revocations the CRL lacks (made on another host, or by a revoke killed before its CRL).
    if (now < this.dueAt()) return this.depot.refreshCrl(now);
    const crl = await this.depot.publishCrl();
    this.seen = undefined;
    return crl;
  }

  /** When the published CRL passes half its life (0: at once, when it is missing or unreadable). */
  private dueAt(): number {
    let stat;
    try {
      stat = statSync(this.depot.layout.crl);
    } catch {
      return 0;
    }
    if (this.seen && this.seen.mtimeMs === stat.mtimeMs && this.seen.size === stat.size) return this.seen.dueAt;
    let dueAt = 0;
    try {
      const crl = new x509.X509Crl(this.depot.currentCrlPem());
      const thisUpdate = crl.thisUpdate.getTime();
      const nextUpdate = crl.nextUpdate?.getTime() ?? thisUpdate;
      dueAt = thisUpdate + (nextUpdate - thisUpdate) / 2;
    } catch {
      // Unreadable: a fresh one is due.
    }
    this.seen = { mtimeMs: stat.mtimeMs, size: stat.size, dueAt };
    return dueAt;
  }
}
