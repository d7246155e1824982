/**
 * @module
 * What a worker lends each of its listeners, and what a listener gives back.
 */
import type { Depot } from "../../ca/depot.ts";
import type { LogLevel } from "../log.ts";
import type { WorkerConfig } from "../messages.ts";
import type { Services } from "../protocol.ts";

export interface ListenerContext {
  /** The worker's open depot (deferred certificate files). */
  depot: Depot;
  /** The operations the line protocol offers, shared so other faces can reuse them. */
  services: Services;
  config: WorkerConfig;
  /** A line for the supervisor's log (filtered by the worker's level). */
  log(level: LogLevel, message: string): void;
  /**
   * Marks a request in flight; call the returned function once it is
   * answered or abandoned. A graceful stop waits until none is left.
   */
  begin(): () => void;
  /** Whether the worker is stopping (no new work should be taken). */
  readonly stopping: boolean;
  /** Asks the worker to stop gracefully (the line protocol's `shutdown`). */
  requestStop(reason: string): void;
}

export interface OpenedListener {
  /** Stop accepting new connections; those accepted are answered. */
  stop(): void;
}
