/**
 * @module
 * Bun and JavaScriptCore settings for a server's processes, which the
 * runtime reads only from the environment at start-up. Each was measured
 * (docs/performance.md, "ACME under lego" and "What an idle server costs"):
 *
 * - The baseline JIT waits for 200000 warm-up executions instead of 500: code
 *   that runs a few times per request stays in the interpreter rather than
 *   being compiled. 20000 gave 2.5-3 MB less per child and ~0.5 ms less CPU
 *   per ACME order; 200000 another ~4.5 % per order and ~2 MB less in all
 *   ("2026-12-07, late afternoon"), with the HTTPS API, the line protocol
 *   and OCSP unchanged. Earlier (3000) was worse each time it was tried.
 * - Bun's own GC timer is off (JavaScriptCore still paces its collections by
 *   allocation, and a worker collects after each burst, idle-trim.ts): its
 *   per-wakeup heap checks cost an idle server 3 of its 10.7 ms of CPU a
 *   second, and ~0.5 ms per ACME order.
 * - mimalloc sweeps a thread's free "holes" back to the system (madvise,
 *   then page faults when they are used again) at most every 5 s instead of
 *   every 100 ms: its scavenger thread did that each time the event loop
 *   went idle, between a lego order's requests too (~0.6 ms an order; a
 *   server keeps ~1.5 MB more anonymous memory, all processes together).
 * - JavaScriptCore's "warm-up" helper thread (JSCWarmUp) is off. It keeps a
 *   supply of GC blocks whose pages it has already touched, refilled after
 *   each burst of allocation, so that the page faults land on it rather
 *   than on the event loop. Here both its wake-ups and its faults cost more
 *   than the faults it spares: bench/cfssl.ts's ratio went 1.20 -> 1.28
 *   (medians of nine runs each, alternating; CPU per certificate ~0.38 ->
 *   ~0.34 ms), PSS ~2-4 MB lower; ACME orders did not change.
 * - One GC marker (JavaScriptCore's default is one per core): a server's
 *   live heap is small, and a helper thread woken for each collection cost
 *   more than it saved: ~2.5 % less CPU per ACME order and 2-3 MB less
 *   anonymous memory, the HTTPS API and the line protocol unchanged
 *   ("2026-12-07, late afternoon").
 * - Workers only: JavaScriptCore's optimizing tiers (DFG, and FTL above it)
 *   are off. A worker's time goes to native code (signatures, SQLite,
 *   sockets), and the optimized code and its compiler's memory grew each
 *   worker by 4-7 MB under load for no gain in speed.
 *
 * A setting already in the environment wins: whoever starts the server can
 * try another value without a new build. JavaScriptCore's options change
 * between Bun releases, and Bun refuses to start with one it does not know:
 * a Bun upgrade that drops one fails every server test at once.
 */

/** What every process of a server runs with: the supervisor, the workers, the upkeep process. */
export const SERVER_SETTINGS: Readonly<Record<string, string>> = {
  BUN_JSC_thresholdForJITAfterWarmUp: "200000",
  BUN_GC_TIMER_DISABLE: "1",
  MIMALLOC_PURGE_HOLES_MIN_INTERVAL: "5000",
  BUN_JSC_useWarmUpMarkedBlocks: "false",
  BUN_JSC_numberOfGCMarkers: "1",
};

/** A worker's settings: the server's, and no optimizing JIT. */
export const WORKER_SETTINGS: Readonly<Record<string, string>> = { BUN_JSC_useDFGJIT: "false", ...SERVER_SETTINGS };

/** `env` with every setting it lacks added, or undefined when it lacks none. */
export function withSettings(env: Record<string, string | undefined>, settings: Readonly<Record<string, string>>): Record<string, string> | undefined {
  const missing = Object.keys(settings).filter((name) => env[name] === undefined);
  if (missing.length === 0) return undefined;
  const complete: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) if (value !== undefined) complete[name] = value;
  for (const name of missing) complete[name] = settings[name]!;
  return complete;
}
