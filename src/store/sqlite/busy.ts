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

/** The longest wait before a retry, in milliseconds. */
const MAX_BACKOFF_MS = 4;

/**
 * The wait before retry number `attempt`, in whole milliseconds: 1 ms, then
 * 1-2, 1-4, at most 4, with jitter so two workers do not retry in step.
 *
 * Whole milliseconds because Bun's timers count nothing smaller:
 * `Bun.sleep(0.3)` resolves at once and `Bun.sleep(1.5)` after ~1.1 ms. The
 * waits of 0.05-1 ms this used to ask for were no waits at all, so a worker
 * that found the lock taken polled it turn after turn of its event loop:
 * under the line protocol's load, 1.2-1.6 failed BEGIN IMMEDIATE per
 * certificate (10-12 µs each, and a turn of the loop), where 1 ms gives
 * 0.08, 9 % less CPU per certificate and a lower p99 (docs/performance.md,
 * "the write lock"). The other worker's group commit holds the lock ~0.5
 * ms; a long CLI transaction may hold it for a second, tried every 1-4 ms.
 */
export function busyBackoffMs(attempt: number): number {
  const span = Math.min(MAX_BACKOFF_MS, 2 ** Math.min(attempt, 8));
  return 1 + Math.floor(Math.random() * span);
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
