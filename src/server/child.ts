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

/**
 * Starts a child; throws when the system will not (EAGAIN, ENOMEM).
 * `sharedFd`, an open descriptor of the supervisor's, becomes the child's
 * descriptor `SHARED_FD` (the workers' ACME nonce book).
 */
export type SpawnChild = (role: ChildRole, env: Record<string, string>, events: ChildEvents, sharedFd?: number) => Child;

/** Where a child finds the descriptor the supervisor shares with it: the first after stdin, stdout and stderr. */
export const SHARED_FD = 3;

/** The runtime settings of each kind of child (runtime-settings.ts); a setting in the supervisor's environment wins. */
const RUNTIME_SETTINGS: Record<ChildRole, Readonly<Record<string, string>>> = { worker: WORKER_SETTINGS, upkeep: SERVER_SETTINGS };

/**
 * The executable itself with a hidden command. stdin is the lifeline (the
 * child stops when it ends); stdout carries JSON lines (`messages.ts`).
 */
export const spawnChild: SpawnChild = (role, env, events, sharedFd) => {
  const child = Bun.spawn([...currentSelfCommand(), role === "worker" ? WORKER_COMMAND : UPKEEP_COMMAND], {
    stdio: ["pipe", "pipe", "inherit", ...(sharedFd !== undefined ? [sharedFd] : [])],
    env: { ...RUNTIME_SETTINGS[role], ...process.env, ...env },
    // Its own session: a Ctrl-C at the terminal reaches the supervisor,
    // which decides what the children do.
    detached: true,
  }) as Subprocess<"pipe", "pipe", "inherit">;
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
