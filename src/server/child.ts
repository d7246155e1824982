/**
 * @module
 * The supervisor's seam to its child processes (workers and the upkeep
 * process): how one is spawned, and what the supervisor can do with it.
 * `spawnChild` runs the real thing; unit tests pass a factory of fakes.
 */
import type { Subprocess } from "bun";
import { parseMessage, type WorkerMessage } from "./messages.ts";
import { SERVER_SETTINGS, WORKER_SETTINGS } from "./runtime-settings.ts";
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

/** The runtime settings of each kind of child (runtime-settings.ts); a setting in the supervisor's environment wins. */
const RUNTIME_SETTINGS: Record<ChildRole, Readonly<Record<string, string>>> = { worker: WORKER_SETTINGS, upkeep: SERVER_SETTINGS };

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
