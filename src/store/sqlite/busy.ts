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

/** How long a writer retries on every turn of its event loop before it waits on timers. */
const RETRY_EVERY_TURN_MS = 2;
/** The longest timed wait before a retry, in milliseconds. */
const MAX_BACKOFF_MS = 4;

/**
 * The wait before the next try, in whole milliseconds, for a writer that
 * has found the lock taken for `busyForMs`: none (the next turn of the event
 * loop) for the first 2 ms, then 1-4 ms with jitter so two workers do not
 * retry in step.
 *
 * Bun's timers count whole milliseconds: `Bun.sleep(0.3)` resolves at once
 * and `Bun.sleep(1.5)` after ~1.1 ms, so nothing between the two exists.
 * The other worker's group commit holds the lock ~0.5 ms, and trying again
 * on each turn (between which the loop serves its other requests) answers
 * sooner than a 1 ms timer: waiting 1 ms instead cut the line protocol's CPU
 * by 7-9 % (1.2-1.6 failed BEGIN IMMEDIATE a certificate, 10-12 µs each)
 * but the HTTPS API's rate at c=8 by 22 % (docs/performance.md, "the write
 * lock"). A holder that stays longer (a CLI transaction, a checkpoint) is
 * then tried every 1-4 ms instead of on every turn for up to 10 s.
 */
export function busyBackoffMs(busyForMs: number): number {
  if (busyForMs < RETRY_EVERY_TURN_MS) return 0;
  return 1 + Math.floor(Math.random() * MAX_BACKOFF_MS);
}

/**
 * Runs a write (one statement or one transaction, all or nothing) until it
 * gets the database lock: on SQLITE_BUSY nothing was written, so it is safe
 * to run again.
 */
export async function retryBusy<T>(write: () => T, deadlineMs = BUSY_DEADLINE_MS): Promise<T> {
  const started = performance.now();
  for (;;) {
    try {
      return write();
    } catch (error) {
      const busyFor = performance.now() - started;
      if (!isBusy(error) || busyFor > deadlineMs) throw error;
      await Bun.sleep(busyBackoffMs(busyFor));
    }
  }
}
