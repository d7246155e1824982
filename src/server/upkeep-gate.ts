/**
 * @module
 * Whether the upkeep's next turn has ledger work to do. Its work (checkpoint
 * the WAL, publish a CRL or KRL that revocations made due, forward audit
 * records) follows writes to the ledger, which `Ledger.changeVersion()`
 * tells of; the rest comes due with time alone (a CRL past half its
 * validity, a crl.pem someone removed), which a look every `clockCheckMs`
 * catches. An idle server's turn thus reads one counter (two lock calls)
 * instead of a checkpoint, five counter queries and three file checks
 * (about 16 system calls, 2.5 turns a second). Most of a quiet turn's CPU
 * is the wake-up itself, which this does not change: see
 * docs/performance.md, "What an idle server costs".
 */
export class UpkeepGate {
  /** The ledger's version the last full turn started from; undefined before the first. */
  private seen: number | undefined;
  /** When time alone may have made work due. */
  private clockCheckAt = 0;

  constructor(private readonly clockCheckMs = 60_000) {}

  /** True when the ledger changed since the last full turn, or the clock check is due. */
  due(version: number, now: number): boolean {
    return version !== this.seen || now >= this.clockCheckAt;
  }

  /** A full turn ran, started when the ledger was at `version` (writes during the turn make the next one due). */
  worked(version: number, now: number): void {
    this.seen = version;
    this.clockCheckAt = now + this.clockCheckMs;
  }
}
