/**
 * @module
 * Publishing the depot's CRL (crl.pem) and reading it back for a server.
 *
 * The ledger counts revocations, and records what the published CRL
 * covers only once crl.pem is in place; so a revoke killed between its
 * commit and its CRL, or a CRL that failed to be written, leaves the ledger
 * ahead of the CRL, and any later publication (`refresh`: the next revoke,
 * `depot crl`, a server start, the server's upkeep) catches up.
 */
import { closeSync, constants, fstatSync, lstatSync, openSync, readFileSync, renameSync, rmSync } from "node:fs";
import { DepotError, reasonOf } from "../errors.ts";
import { buildCrl, crlDerOf, isSignedBy } from "./crl.ts";
import { writeFileAtomic } from "./files.ts";
import { BACKDATE_MS, DAY_MS, type Issuer } from "./issuer.ts";
import type { DepotLayout } from "./layout.ts";
import type { Ledger } from "./ledger.ts";

export interface Crl {
  crlNumber: number;
  pem: string;
  revokedCount: number;
}

export class CrlPublisher {
  /** The publication under way in this process; others wait for it rather than sign in parallel. */
  private inFlight: Promise<Crl> | undefined;
  /** The last crl.pem read and verified, by the file's identity. */
  private verified: { identity: string; pem: string } | undefined;

  constructor(
    private readonly layout: DepotLayout,
    private readonly issuer: Issuer,
    private readonly ledger: Ledger,
    private readonly crlDays: number,
  ) {}

  /** Signs and publishes a new CRL now, after any publication under way in this process. */
  publish(crlDays: number): Promise<Crl> {
    const previous = this.inFlight;
    const run = (async () => {
      await previous?.catch(() => undefined);
      return this.publishNow(crlDays);
    })();
    this.inFlight = run;
    const clear = () => {
      if (this.inFlight === run) this.inFlight = undefined;
    };
    run.then(clear, clear);
    return run;
  }

  /** Publishes only when due (see `Depot.refreshCrl`); one publication serves every call that overlapped it. */
  async refresh(now: number): Promise<Crl | undefined> {
    while (this.inFlight) await this.inFlight.catch(() => undefined);
    if (!(await this.due(now))) return undefined;
    if (this.inFlight) return this.refresh(now);
    return this.publish(this.crlDays);
  }

  private async due(now: number): Promise<boolean> {
    const { revocations, published } = await this.ledger.crlState();
    if (revocations > published.revocations) return true;
    if (!this.crlFileThere()) return true;
    if (!published.thisUpdate || !published.nextUpdate) return true; // a depot 0.1.0 CRL: its validity is not recorded
    const thisUpdate = published.thisUpdate.getTime();
    return now >= thisUpdate + (published.nextUpdate.getTime() - thisUpdate) / 2;
  }

  private crlFileThere(): boolean {
    try {
      const stats = lstatSync(this.layout.crl);
      return stats.isFile() && stats.size > 0;
    } catch {
      return false;
    }
  }

  /**
   * Takes the CRL number and the entries in one transaction, signs, stages
   * the file, and renames it onto crl.pem only if no newer CRL was published
   * meanwhile. thisUpdate is backdated as certificates are, so a web server
   * whose clock runs a little behind does not refuse a brand-new CRL.
   */
  private async publishNow(crlDays: number): Promise<Crl> {
    const now = Math.floor(Date.now() / 1000) * 1000;
    const thisUpdate = new Date(now - BACKDATE_MS);
    const nextUpdate = new Date(now + crlDays * DAY_MS); // `crlDays` from now, as --crl-days says

    const claim = await this.ledger.claimCrl(new Date(now));
    const pem = await buildCrl(this.issuer, claim.crlNumber, claim.revoked, thisUpdate, nextUpdate);
    const staged = `${this.layout.crl}.${process.pid}.${claim.crlNumber}.tmp`;
    try {
      writeFileAtomic(staged, pem);
      await this.ledger.publishIfNewest(claim, { thisUpdate, nextUpdate }, () => renameSync(staged, this.layout.crl));
    } finally {
      rmSync(staged, { force: true }); // Left only when a newer CRL won, or the publish failed.
    }
    return { crlNumber: claim.crlNumber, pem, revokedCount: claim.revoked.length };
  }

  /** crl.pem, if it is a regular file holding a CRL this CA signed (see `Depot.currentCrlPem`). */
  published(): string {
    let fd: number;
    try {
      fd = openSync(this.layout.crl, constants.O_RDONLY | constants.O_NOFOLLOW);
    } catch (error) {
      throw new DepotError("E_IO", `cannot read the depot's crl.pem: ${reasonOf(error)}`, { cause: error });
    }
    try {
      const stats = fstatSync(fd);
      if (!stats.isFile()) throw new DepotError("E_IO", "cannot read the depot's crl.pem: it is not a regular file");
      const identity = `${stats.dev}:${stats.ino}:${stats.size}:${stats.mtimeMs}`;
      if (this.verified?.identity === identity) return this.verified.pem;
      const pem = readFileSync(fd, "utf8");
      const der = crlDerOf(pem);
      if (!der || !isSignedBy(this.issuer, der)) {
        throw new DepotError("E_IO", "the depot's crl.pem is not a CRL signed by this CA; publish a new one with depot crl");
      }
      this.verified = { identity, pem };
      return pem;
    } finally {
      closeSync(fd);
    }
  }
}
