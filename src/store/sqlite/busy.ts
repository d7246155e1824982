/**
 * @module
 * SQLITE_BUSY, handled without sleeping the thread: SQLite's own busy
 * handler sleeps the whole event loop while another process holds the write
 * lock, which halved throughput with two workers issuing at once. Writes
 * fail fast instead and are retried on a timer.
 */

export const BUSY_DEADLINE_MS = 10_000;

/** Whether an error is SQLite saying another connection holds the lock (nothing was written). */
export function isBusy(error: unknown): boolean {
  const code = (error as { code?: string })?.code;
  return code === "SQLITE_BUSY" || code?.startsWith("SQLITE_BUSY_") === true;
}

/**
 * The wait before retry number `attempt`: from 0.05 ms to at most 1 ms, with
 * jitter so two workers do not retry in step. The other worker's group
 * commit holds the lock for a fraction of a millisecond; waits that grew to
 * 10 ms set the tail of a loaded server (p99 7.3-8.1 ms against 5.9-6.8 with
 * this cap, same CPU per certificate, docs/performance.md). A retry is one
 * failed BEGIN IMMEDIATE, cheap even when a long CLI transaction holds the
 * lock for a second.
 */
export function busyBackoffMs(attempt: number): number {
  return Math.random() * Math.min(1, 0.05 * 2 ** attempt);
}

/**
 * Runs a write (one statement or one transaction, all or nothing) until it
 * gets the database lock: on SQLITE_BUSY nothing was written, so it is safe
 * to run again.
 */
export async function retryBusy<T>(write: () => T, deadlineMs = BUSY_DEADLINE_MS): Promise<T> {
  const deadline = performance.now() + deadlineMs;
  for (let attempt = 0; ; attempt++) {
    try {
      return write();
    } catch (error) {
      if (!isBusy(error) || performance.now() > deadline) throw error;
      await Bun.sleep(busyBackoffMs(attempt));
    }
  }
}
