import type { ListenerSpec } from "./listeners/types.ts";
import type { LogLevel } from "./log.ts";
import type { WebhookSettings } from "./webhooks/settings.ts";

/**
 * What a worker tells its supervisor, one JSON object per line on the
 * worker's stdout. (The supervisor's side of the lifeline is the worker's
 * stdin; it sends nothing on it, it only closes it.)
 */
export type WorkerMessage =
  | { t: "ready" }
  /** The worker is stopping on its own (lifeline gone, lost pipe): an exit to expect, not a crash. */
  | { t: "stopping"; reason: string }
  /** A client asked this worker to stop (`shutdown`): replace it, then send it QUIT. */
  | { t: "retire"; reason: string }
  | { t: "beat" }
  | { t: "log"; level: LogLevel; message: string }
  | { t: "fatal"; message: string }
  /** Upkeep: audit records for the --audit-log file, as JSON lines. */
  | { t: "audit"; lines: string[] }
  /** Upkeep: the HTTPS certificate was renewed; workers must be replaced to load it (as HUP). */
  | { t: "roll"; reason: string };

/** How the supervisor configures a worker, passed in the DEPOT_WORKER environment variable. */
export interface WorkerConfig {
  depot: string;
  /** Every listener the worker opens (each kind has its module in listeners/). */
  listeners: ListenerSpec[];
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
  /** Whether clients may stop a worker over the socket (--allow-shutdown). */
  allowShutdown: boolean;
  /** Workers the supervisor keeps (the http listener's /health says it). */
  processCount?: number;
  /** --public-url, overriding depot.cnf's public_url (AIA and CDP in what the worker issues). */
  publicUrl?: string;
  /** Lets tests make the worker hang (SIGUSR2), to prove the supervisor kills it. */
  testHooks: boolean;
  /** The CA key comes first on stdin (key-handoff.ts), never in this config. */
  caKeyOnStdin?: boolean;
  /** The template SCEP enrolments get when their challenge names none (--scep-template). */
  scepTemplate?: string;
  /** The descriptor on which the workers' shared ACME nonce book is open (shared-nonce-book.ts); none: the ledger keeps spent nonces. */
  nonceBookFd?: number;
  /** The issuance webhooks; the secret's file is named, never the secret (each worker reads the file). */
  webhooks?: WebhookSettings;
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

/** How the supervisor configures the upkeep process, passed in the DEPOT_UPKEEP environment variable. */
export interface UpkeepConfig {
  depot: string;
  logLevel: LogLevel;
  heartbeatMs: number;
  /** How often the ledger is checked for revocations the CRL does not list yet. */
  pollMs: number;
  /** The CA key comes first on stdin (key-handoff.ts), never in this config. */
  caKeyOnStdin?: boolean;
  /** The HTTPS listener's certificate to issue (before the workers start) and renew, when the depot makes it. */
  https?: { names: string[] };
  /** With --audit-log: forward audit records after this seq (-1: only those made from now on). */
  auditFrom?: number;
  /** --on-crl-change, overriding depot.cnf's on_crl_change: run after each CRL this process publishes. */
  onCrlChange?: string;
  /**
   * Templates the server's flags name (`--acme-template`): checked once the
   * depot is open, before any worker starts, so a typo stops `depot start`
   * with one line. `base`: the base the face needs (ACME issues server certificates).
   */
  templates?: { flag: string; name: string; base?: "client" | "server" }[];
}

export const UPKEEP_ENV = "DEPOT_UPKEEP";
