/**
 * @module
 * What `serve(options)` takes: a plain object (a `--daemon` start hands it
 * to its background copy as one JSON line), apart from index.ts so that
 * daemon.ts can name it without importing the server it starts.
 */
import type { CpuAffinity } from "./cpu-affinity.ts";
import type { HandedKeys } from "./key-handoff.ts";
import type { ListenerSpec } from "./listeners/types.ts";
import type { LogLevel } from "../log-level.ts";
import type { WebhookSettings } from "./webhooks/settings.ts";

export interface ServerOptions {
  /** The depot folder to serve; it must exist (the CLI creates the default one). */
  depot: string;
  /** What every worker listens on; at least one. */
  listeners: ListenerSpec[];
  /** Worker processes (--process-count). */
  processCount: number;
  /** Each worker kept on one CPU ("auto", the default) or wherever the kernel puts it ("off"): --cpu-affinity, cpu-affinity.ts. */
  cpuAffinity?: CpuAffinity;
  /** Line-protocol connections one worker holds before it answers `ERROR busy` (--max-connection-queue). */
  maxConnectionQueue: number;
  /** Key pairs each worker makes ahead while idle (--key-pool); 0 disables the pool. */
  keyPool: number;
  /** A worker silent this long is replaced; a graceful stop waits this long for requests (--timeout). */
  timeoutMs: number;
  logLevel: LogLevel;
  /**
   * Where the log goes. In the foreground: this file if given, else stderr.
   * With `daemon`: this file if given, else /var/log/depot.log if writable,
   * else ~/depot.log.
   */
  logFile?: string;
  pidFile: string;
  /** Run in the background; `serve` resolves once every worker listens. */
  daemon?: boolean;
  /** Clients may revoke over the line protocol (--allow-revoke). */
  allowRevoke?: boolean;
  /** Clients may stop a worker over the line protocol (--allow-shutdown). */
  allowShutdown?: boolean;
  /**
   * Let a line listener bind beyond loopback (--open-line-protocol): the
   * line protocol has no authentication, so whoever reaches it gets
   * certificates this CA vouches for.
   */
  openLineProtocol?: boolean;
  /** Audit records are also appended to this file as JSON lines (--audit-log). */
  auditLog?: string;
  /** The HTTPS API's base URL as clients reach it (--api-url, or depot.cnf's api_url): for ACME's absolute URLs. */
  apiUrl?: string;
  /** Test hooks in the workers and the supervisor (DEPOT_TEST_HOOKS=1). */
  testHooks?: boolean;
  /** The CA key (and the SSH CA keys), decrypted, when they are encrypted at rest: handed to each child over its stdin (key-handoff.ts). */
  handedKeys?: HandedKeys;
  /** The plain-HTTP base URL for AIA and CDP (--public-url); default: depot.cnf's public_url. */
  publicUrl?: string;
  /** Command run after each new crl.pem the server publishes (--on-crl-change); default: depot.cnf's on_crl_change. */
  onCrlChange?: string;
  /** The depot.cnf template SCEP enrolments get when their challenge names none (--scep-template). */
  scepTemplate?: string;
  /** The authorize and enrich webhooks every worker asks before issuing (--authorize-webhook, --enrich-webhook, --webhook-*). */
  webhooks?: WebhookSettings;
}
