/**
 * @module
 * A worker's helper threads (node:crypto's pool, where RSA keys are made;
 * JavaScriptCore's helpers) run at a lower priority than its event loop.
 *
 * Why: with one RSA key at a time per worker, a worker that happens to hold
 * no request idles its core while the other has several waiting (with 8
 * clients and random routing, each worker was idle about a ninth of the
 * time: 0.84-0.89 of the reference's rate). With as many keys at once as
 * there are cores, a worker alone with work uses both; and at nice 10 those
 * threads take little CPU from the event loops, so `help` and every
 * other answer do not wait behind key generation (nice 10: `help` p95 7 ms,
 * max 31 ms under RSA load; at nice 5 the max was 74-80 ms).
 */
import { readdirSync } from "node:fs";
import { setPriority } from "node:os";

const HELPER_NICE = 10;
const reniced = new Set<number>();
let lastScan = Number.NEGATIVE_INFINITY;

/**
 * Lowers every thread of this process but the main one to nice 10; threads
 * seen before are skipped, and a scan runs at most once a second (pools
 * start threads lazily, so callers call this as work is handed to them).
 */
export function lowerHelperThreads(now = performance.now()): number {
  if (now - lastScan < 1000) return 0;
  lastScan = now;
  let lowered = 0;
  let tasks: string[];
  try {
    tasks = readdirSync("/proc/self/task");
  } catch {
    return 0; // Not Linux: nothing to do (the server runs on Linux).
  }
  for (const entry of tasks) {
    const tid = Number(entry);
    if (tid === process.pid || reniced.has(tid)) continue;
    try {
      setPriority(tid, HELPER_NICE);
      reniced.add(tid);
      lowered++;
    } catch {
      // The thread ended meanwhile.
    }
  }
  return lowered;
}
