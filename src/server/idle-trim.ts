/**
 * @module
 * Gives memory back after a burst: once a worker has served requests and
 * then three whole ticks have passed with none served and none in flight, a full
 * garbage collection runs, so the heap a burst grew (the JavaScript objects
 * of thousands of certificates, answers and sockets) does not stay resident
 * while the server idles. Measured: see docs/performance.md (target 3).
 *
 * "Three whole ticks without requests", not "none in flight at the tick": a
 * steady trickle (lego's ACME orders, a process each, leave a worker idle
 * for tens of milliseconds between requests) otherwise paid a full
 * collection every tick on each worker, 1-2 ms of CPU per order. One quiet
 * tick was not enough either: orders a second or two apart (renewals
 * trickling in, or two workers sharing a few orders a second) found many
 * one-second windows empty, and each paid a full collection of a few
 * milliseconds; QUIET_TICKS in a row are a pause, not a gap between orders.
 *
 * It has no timer of its own: the worker calls `tick()` from the metrics
 * flush's once-a-second timer (worker-metrics.ts), so that the two share
 * one wake-up of the event loop, each of which costs an idle worker
 * ~0.15-0.3 ms of CPU here (docs/performance.md, "2026-12-07, late afternoon").
 */

/** Ticks (seconds) in a row with no request served before the collection. */
export const QUIET_TICKS = 3;

export class IdleTrim {
  /** Requests served since the last tick. */
  private servedThisTick = 0;
  /** Served since the last collection: a trim is owed once the requests stop. */
  private owed = false;
  /** Ticks in a row that found nothing served. */
  private quietTicks = 0;

  constructor(private readonly busy: () => boolean) {}

  /** One request served. */
  served(): void {
    this.servedThisTick++;
  }

  /** Once a second: collects when QUIET_TICKS in a row passed without a request after some were served. */
  tick(): void {
    if (this.servedThisTick > 0) {
      // Still serving: wait for the quiet ticks.
      this.servedThisTick = 0;
      this.owed = true;
      this.quietTicks = 0;
      return;
    }
    this.quietTicks++;
    if (!this.owed || this.quietTicks < QUIET_TICKS || this.busy()) return;
    this.owed = false;
    Bun.gc(true);
  }
}
