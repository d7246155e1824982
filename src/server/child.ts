/**
 * @module
 * The supervisor's seam to its child processes (workers and the upkeep
 * process): how one is spawned, and what the supervisor can do with it.
 * `spawnChild` runs the real thing; unit tests pass a factory of fakes.
 */
import type { Subprocess } from "bun";
import { parseMessage, type WorkerMessage } from "./messages.ts";
import { currentSelfCommand, UPKEEP_COMMAND, WORKER_COMMAND } from "./self.ts";

export type ChildRole = "worker" | "upkeep";

export interface Child {
  readonly pid: number;
  signal(signal: NodeJS.Signals): void;
  /** Writes one line on the child's stdin (the upkeep process's orders). */
  send(line: string): void;
}

/** What a child reports. Called from process callbacks: the supervisor only queues them. */
export interface ChildEvents {
  message(message: WorkerMessage): void;
  exited(code: number | null, signal: string | null): void;
}

/** Starts a child; throws when the system will not (EAGAIN, ENOMEM). */
export type SpawnChild = (role: ChildRole, env: Record<string, string>, events: ChildEvents) => Child;

/**
 * Runtime settings of the children, each measured (docs/performance.md,
 * "ACME under lego", 2026-12-05/06):
 * - JavaScriptCore's optimizing tiers (DFG, and FTL above it) are off in the
 *   workers: a worker's time goes to native code (signatures, SQLite,
 *   sockets), and the optimized code and its compiler's memory grew each
 *   worker by 4-7 MB under load for no gain in speed.
 * - The baseline JIT waits for 20000 warm-up executions instead of 500: code
 *   that runs a few times per request stays in the interpreter rather than
 *   being compiled (2.5-3 MB less per child, ~0.5 ms less CPU per ACME order).
 * - Bun's own GC timer is off (JavaScriptCore still paces its collections by
 *   allocation, and a worker collects after each burst, idle-trim.ts): its
 *   per-wakeup heap checks cost an idle server 3 of its 10.7 ms of CPU a
 *   second, and ~0.5 ms per ACME order.
 * - mimalloc sweeps a thread's free "holes" back to the system (madvise,
 *   then page faults when they are used again) at most every 5 s instead of
 *   every 100 ms: its scavenger thread did that each time the event loop
 *   went idle, between a lego order's requests too (~0.6 ms an order; a
 *   server keeps ~1.5 MB more anonymous memory, all processes together).
 * A setting in the supervisor's environment wins.
 */
const SHARED_SETTINGS = { BUN_JSC_thresholdForJITAfterWarmUp: "20000", BUN_GC_TIMER_DISABLE: "1", MIMALLOC_PURGE_HOLES_MIN_INTERVAL: "5000" };
const RUNTIME_SETTINGS: Record<ChildRole, Record<string, string>> = {
  worker: { BUN_JSC_useDFGJIT: "false", ...SHARED_SETTINGS },
  upkeep: SHARED_SETTINGS,
};

/**
 * The executable itself with a hidden command. stdin is the lifeline (the
 * child stops when it ends); stdout carries JSON lines (`messages.ts`).
 */
export const spawnChild: SpawnChild = (role, env, events) => {
  const child: Subprocess<"pipe", "pipe", "inherit"> = Bun.spawn([...currentSelfCommand(), role === "worker" ? WORKER_COMMAND : UPKEEP_COMMAND], {
    stdin: "pipe",
    stdout: "pipe",
    stderr: "inherit",
    env: { ...RUNTIME_SETTINGS[role], ...process.env, ...env },
    // Its own session: a Ctrl-C at the terminal reaches the supervisor,
    // which decides what the children do.
    detached: true,
  });
  readMessages(child.stdout, events);
  child.exited.then(() => events.exited(child.exitCode, child.signalCode === null ? null : String(child.signalCode)));
  return {
    pid: child.pid,
    signal(signal) {
      try {
        child.kill(signal);
      } catch {
        // Already gone: its exit event is on the way.
      }
    },
    send(line) {
      try {
        child.stdin.write(`${line}\n`);
        child.stdin.flush();
      } catch {
        // Gone: its exit event is on the way.
      }
    },
  };
};

async function readMessages(stdout: ReadableStream<Uint8Array>, events: ChildEvents): Promise<void> {
  const decoder = new TextDecoder();
  let pending = "";
  try {
    for await (const chunk of stdout) {
      pending += decoder.decode(chunk, { stream: true });
      let newline: number;
      while ((newline = pending.indexOf("\n")) !== -1) {
        const message = parseMessage(pending.slice(0, newline));
        pending = pending.slice(newline + 1);
        if (message) events.message(message);
      }
    }
  } catch {
    // The pipe broke: the exit event tells the rest.
  }
}
