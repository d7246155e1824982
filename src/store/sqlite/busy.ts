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

/** The wait before retry number `attempt`: from a fraction of a millisecond to 10 ms, with jitter so two workers do not retry in step. */
export function busyBackoffMs(attempt: number): number {
  return Math.random() * Math.min(10, 0.25 * 2 ** attempt);
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
