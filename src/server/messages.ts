import type { HttpListenerConfig } from "../http/public/options.ts";
import type { LogLevel } from "./log.ts";

/**
 * What a worker tells its supervisor, one JSON object per line on the
 * worker's stdout. (The supervisor's side of the lifeline is the worker's
 * stdin; it sends nothing on it, it only closes it.)
 */
export type WorkerMessage =
  | { t: "ready" }
  /** The worker decided to stop (a client's `shutdown`): an exit to expect, not a crash. */
  | { t: "stopping"; reason: string }
  | { t: "beat" }
  | { t: "log"; level: LogLevel; message: string }
  | { t: "fatal"; message: string };

/** How the supervisor configures a worker, passed in the DEPOT_WORKER environment variable. */
export interface WorkerConfig {
  depot: string;
  host: string;
  port: number;
  maxConnectionQueue: number;
  logLevel: LogLevel;
  heartbeatMs: number;
  /** How long a graceful stop waits for requests in flight. */
  gracefulTimeoutMs: number;
  /** Key pairs of the depot's default type kept ready (--key-pool); 0 disables the pool. */
  keyPool: number;
  /** Keys one worker makes at once: the cores shared out among the workers. */
  keyConcurrency: number;
  /** Whether clients may revoke over the socket (--allow-revoke). */
  allowRevoke: boolean;
  /** The plain-HTTP listener (--http-port), if any. */
  http?: HttpListenerConfig;
  /** --public-url, overriding depot.cnf's. */
  publicUrl?: string;
  /** --on-crl-change, overriding depot.cnf's. */
  onCrlChange?: string;
  /** Workers the supervisor keeps (for /health). */
  processCount?: number;
  /** Lets tests make the worker hang (SIGUSR2), to prove the supervisor kills it. */
  testHooks: boolean;
}

export const WORKER_ENV = "DEPOT_WORKER";

export function parseMessage(line: string): WorkerMessage | undefined {
  try {
    const message = JSON.parse(line) as WorkerMessage;
    return typeof message === "object" && message !== null && typeof message.t === "string" ? message : undefined;
  } catch {
    return undefined;
  }
}
