/**
 * @module
 * The child's side of the process protocol, for every child of the
 * supervisor (the workers, `worker.ts`, and the upkeep process,
 * `upkeep-process.ts`):
 *
 * - the lifeline, its stdin: a handed-over CA key first when the config
 *   says so (`key-handoff.ts`), then order lines (the upkeep's `restore`);
 *   its end (EOF or a broken pipe) means the supervisor is gone;
 * - messages to the supervisor, JSON lines on stdout (`messages.ts`):
 *   `ready`, `beat` on a timer, `log` filtered by the configured level,
 *   `fatal` with the reason it cannot start, `stopping`, `retire`, ...
 */
import { DepotError, messageOf } from "../errors.ts";
import { type HandedKeys, keysFromHandoffLine } from "./key-handoff.ts";
import { LOG_LEVELS, type LogLevel } from "./log.ts";
import type { WorkerMessage } from "./messages.ts";

/** Writes one message for the supervisor. */
export function send(message: WorkerMessage): void {
  try {
    process.stdout.write(`${JSON.stringify(message)}\n`);
  } catch {
    // The supervisor is gone; the lifeline will tell us to stop.
  }
}

/** A `log` function for this child: lines below `minimum` are not sent (the supervisor is the log's only writer). */
export function logAbove(minimum: LogLevel): (level: LogLevel, message: string) => void {
  const floor = LOG_LEVELS.indexOf(minimum);
  return (level, message) => {
    if (LOG_LEVELS.indexOf(level) >= floor) send({ t: "log", level, message });
  };
}

/** Tells the supervisor why this child cannot start, and exits: a DepotError's own message, else what failed (`attempt`) and why. */
export function fatal(error: unknown, attempt: string): never {
  send({ t: "fatal", message: error instanceof DepotError ? error.message : `${attempt}: ${messageOf(error)}` });
  process.exit(1);
}

/** Beats every `everyMs`: a child silent for the supervisor's --timeout is killed as hung. */
export function startHeartbeat(everyMs: number): void {
  setInterval(() => send({ t: "beat" }), everyMs);
}

export interface LifelineOptions {
  /** The supervisor writes the decrypted CA key as the first line (an encrypted CA key). */
  caKeyOnStdin?: boolean;
  /** Each later line, trimmed (the upkeep's `restore`; a worker is sent none). */
  order?: (line: string) => void;
  /** The supervisor is gone: stdin ended or broke. Not called when it ends before the key. */
  ended: () => void;
}

/**
 * Reads the lifeline for the child's whole life. Resolves with the
 * handed-over CA key once its line is read (at once, with undefined,
 * without `caKeyOnStdin`). If stdin ends before the key, or the first line
 * is no key, the supervisor is gone or confused and the child exits: it
 * has opened nothing yet.
 */
export function readLifeline(options: LifelineOptions): Promise<HandedKeys | undefined> {
  let keyRead: (keys: HandedKeys | undefined) => void = () => {};
  const key = new Promise<HandedKeys | undefined>((resolve) => (keyRead = resolve));
  let awaitingKey = options.caKeyOnStdin === true;
  if (!awaitingKey) keyRead(undefined);
  const line = (text: string) => {
    if (!awaitingKey) return options.order?.(text.trim());
    awaitingKey = false;
    const keys = keysFromHandoffLine(text);
    if (keys === undefined) process.exit(0);
    keyRead(keys);
  };
  void (async () => {
    const decoder = new TextDecoder();
    let pending = "";
    try {
      for await (const chunk of Bun.stdin.stream()) {
        pending += decoder.decode(chunk, { stream: true });
        let newline: number;
        while ((newline = pending.indexOf("\n")) !== -1) {
          const text = pending.slice(0, newline);
          pending = pending.slice(newline + 1);
          line(text);
        }
      }
    } catch {
      // A broken pipe means the same as its end.
    }
    if (awaitingKey) process.exit(0);
    options.ended();
  })();
  return key;
}
