/**
 * @module
 * What a worker lends each of its listeners, and what a listener gives back.
 */
import type { Depot } from "../../ca/depot.ts";
import type { SshCaKeys } from "../../ca/ssh/ssh-ca.ts";
import type { WorkerMetrics } from "../metrics/worker-metrics.ts";
import type { KeyType } from "../../ca/key-types.ts";
import type { KeyPair } from "../../ca/keys.ts";
import type { LogLevel } from "../log.ts";
import type { WorkerConfig } from "../messages.ts";

export interface ListenerContext {
  /** The worker's open depot (deferred certificate files). */
  depot: Depot;
  /** The SSH CA keys, decrypted by the supervisor, when the depot's keys are encrypted. */
  sshCaKeys?: SshCaKeys;
  /** The SCEP RA's key, decrypted by the supervisor, when the depot's keys are encrypted. */
  scepRaKey?: string;
  /** A key pair of this type, from the worker's pool when it holds that type. */
  makeKeys(type: KeyType): Promise<KeyPair>;
  config: WorkerConfig;
  /** The worker's counters (src/server/metrics/registry.ts), flushed to every worker's totals. */
  metrics: WorkerMetrics;
  /** A line for the supervisor's log (filtered by the worker's level). */
  log(level: LogLevel, message: string): void;
  /**
   * A request failed on the server's side: logged once per burst of the
   * same failure (a full disk fails every request), with a stack trace only
   * for the unexpected (anything but a DepotError).
   */
  logFailure(error: unknown): void;
  /**
   * Marks a request in flight; call the returned function once it is
   * answered or abandoned. A graceful stop waits until none is left.
   */
  begin(): () => void;
  /** Whether the worker is stopping (no new work should be taken). */
  readonly stopping: boolean;
  /**
   * Asks the supervisor to replace this worker (the line protocol's
   * `shutdown`): it keeps serving until its replacement is ready, then stops
   * gracefully, so the port never lacks a listener.
   */
  requestRetire(reason: string): void;
}

export interface OpenedListener {
  /** Stop accepting new connections; those accepted are answered. */
  stop(): void;
}
