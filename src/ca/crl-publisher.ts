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

/** This process, as a holder of the publication lease (random, so hosts sharing a ledger differ too). */
const LEASE_HOLDER = 1 + Math.floor(Math.random() * 2 ** 52);
/** Longer than any CRL takes to publish (0.6-0.8 s at 100,000 entries); a holder that died frees it after this. */
const LEASE_MS = 60_000;

export class CrlPublisher {
  /** The publication under way in this process; others wait for it rather than sign in parallel. */
  private inFlight: Promise<Crl> | undefined;
  /** The last refresh asked for in this process (they run one after another). */
  private refreshing: Promise<Crl | undefined> | undefined;
  /** The last crl.pem read and verified, by the file's identity. */
  private verified: { identity: string; pem: string } | undefined;

  constructor(
    private readonly layout: DepotLayout,
    private readonly issuer: Issuer,
    private readonly ledger: Ledger,
    private readonly crlDays: number,
    /** Told after this process renamed its CRL onto crl.pem (--on-crl-change). */
    private readonly onPublished?: (published: { path: string; crlNumber: number }) => void | Promise<void>,
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

  /**
   * Publishes only when due (see `Depot.refreshCrl`); one publication serves
   * every call that overlapped it in this process, and a lease in the ledger
   * keeps other processes' refreshes out meanwhile (they return undefined;
   * the lease holder's CRL, or their next refresh, covers their revocations).
   */
  refresh(now: number): Promise<Crl | undefined> {
    // One refresh at a time in this process: the next one checks again once
    // this one has published, and finds nothing due.
    const run = (async () => {
      await this.refreshing?.catch(() => undefined);
      return this.refreshNow(now);
    })();
    this.refreshing = run;
    return run;
  }

  private async refreshNow(now: number): Promise<Crl | undefined> {
    while (this.inFlight) await this.inFlight.catch(() => undefined);
    if (!(await this.due(now))) return undefined;
    if (this.inFlight) return this.refreshNow(now);
    if (!(await this.ledger.leaseCrlPublication(LEASE_HOLDER, new Date(), new Date(Date.now() + LEASE_MS)))) return undefined;
    try {
      return await this.publish(this.crlDays);
    } finally {
      await this.ledger.releaseCrlPublication(LEASE_HOLDER).catch(() => undefined);
    }
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
      if (await this.ledger.publishIfNewest(claim, { thisUpdate, nextUpdate }, () => renameSync(staged, this.layout.crl))) {
        await this.onPublished?.({ path: this.layout.crl, crlNumber: claim.crlNumber });
      }
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
