import { describeListener } from "./listeners/types.ts";
import type { Logger } from "./log.ts";
import { tellStarter } from "./starter.ts";
import type { WorkerConfig } from "./messages.ts";
import { processStartTime, removePidFile, updateState, writePidFile, type ServerState } from "./pidfile.ts";
import { WorkerProcess } from "./worker-process.ts";

export interface SupervisorOptions {
  worker: Omit<WorkerConfig, "heartbeatMs">;
  processCount: number;
  pidFile: string;
  /** A worker silent this long is killed and replaced (--timeout). */
  timeoutMs: number;
  /** Where a daemonized server reports "ready" or its error to the command that started it. */
  readyFd: number | undefined;
  /** Upkeep of the depot itself (the CRL's validity; files after a crash), run between events. */
  upkeep?: (afterCrash: boolean) => Promise<unknown>;
}

type Event =
  | { kind: "signal"; signal: NodeJS.Signals }
  | { kind: "ready"; worker: WorkerProcess }
  | { kind: "exited"; worker: WorkerProcess; code: number | null; signal: string | null };

const SIGNALS: NodeJS.Signals[] = ["SIGQUIT", "SIGTERM", "SIGINT", "SIGHUP", "SIGTTIN", "SIGTTOU"];
const HOUSEKEEPING_MS = 250;
/** A worker that dies before it is ready this many times in a row stops the server. */
const MAX_STARTUP_FAILURES = 5;
const QUICK_STOP_MS = 2000;
const UPKEEP_EVERY_MS = 10 * 60_000;

/**
 * The supervisor: one loop that takes one queued event per turn (a signal,
 * a worker ready, a worker exited) and, when none waits, does housekeeping:
 * kill workers that stopped beating, keep the worker count. Signal handlers
 * and process callbacks only queue.
 */
export class Supervisor {
  private readonly workers = new Set<WorkerProcess>();
  private readonly events: Event[] = [];
  private wake: (() => void) | undefined;
  private target: number;
  private generation = 0;
  private startupFailures = 0;
  private nextSpawnAt = 0;
  private everReady = false;
  private stopDeadline: number | undefined;
  private exitCode = 0;
  private failure: string | undefined;
  private nextUpkeepAt = 0;
  private upkeepRunning = false;
  /** A worker died unasked since the last upkeep: files it deferred may be missing. */
  private crashedSinceUpkeep = false;

  constructor(
    private readonly options: SupervisorOptions,
    private readonly log: Logger,
  ) {
    this.target = options.processCount;
  }

  /** Runs until the server stops; returns the exit status, and why it stopped when it failed. */
  async join(): Promise<{ status: number; failure?: string }> {
    for (const signal of SIGNALS) process.on(signal, () => this.enqueue({ kind: "signal", signal }));
    writePidFile(this.options.pidFile, this.state());
    this.log.info(`Starting ${this.target} workers on ${this.options.worker.listeners.map(describeListener).join(", ")}`);

    for (;;) {
      const event = this.events.shift();
      if (event) {
        this.handle(event);
        continue;
      }
      if (this.stopDeadline !== undefined && this.workers.size === 0) break;
      this.murderLazyWorkers();
      this.maintainWorkerCount();
      this.runUpkeep();
      await this.sleep(HOUSEKEEPING_MS);
    }

    for (const signal of SIGNALS) process.removeAllListeners(signal);
    removePidFile(this.options.pidFile);
    this.log.info(this.failure ? `Stopped: ${this.failure}` : "Stopped");
    return { status: this.exitCode, failure: this.failure };
  }

  private handle(event: Event): void {
    switch (event.kind) {
      case "signal":
        return this.handleSignal(event.signal);
      case "ready":
        return this.workerReady(event.worker);
      case "exited":
        return this.reapWorker(event.worker, event.code, event.signal);
    }
  }

  private handleSignal(signal: NodeJS.Signals): void {
    switch (signal) {
      case "SIGQUIT": // graceful shutdown: in-flight requests finish
        return this.stop(true, "QUIT");
      case "SIGTERM": // quick shutdown
      case "SIGINT":
        return this.stop(false, signal.slice(3));
      case "SIGHUP": // replace every worker, new ones first
        if (this.stopDeadline !== undefined) return;
        this.generation++;
        this.log.info(`HUP: starting ${this.target} new workers; the old ones stop once the new are ready`);
        return;
      case "SIGTTIN": // one worker more
        this.target++;
        this.log.info(`TTIN: now ${this.target} workers`);
        return;
      case "SIGTTOU": // one worker fewer
        this.target = Math.max(1, this.target - 1);
        this.log.info(`TTOU: now ${this.target} workers`);
        return;
    }
  }

  private workerReady(worker: WorkerProcess): void {
    this.startupFailures = 0;
    this.log.debug(`worker ${worker.pid} ready`);
    const current = this.currentWorkers();
    if (current.length < this.target || current.some((w) => w.state !== "ready")) return;
    const old = [...this.workers].filter((w) => w.generation < this.generation && w.state !== "stopping");
    for (const w of old) w.stop();
    if (old.length) this.log.info(`All ${current.length} new workers ready; stopping ${old.length} old ones`);
    if (!this.everReady) {
      this.everReady = true;
      this.log.info(`All ${current.length} workers ready`);
      this.reportToStarter(`ready ${process.pid}`);
    }
    this.saveState();
  }

  private reapWorker(worker: WorkerProcess, code: number | null, signal: string | null): void {
    this.workers.delete(worker);
    const how = signal ? `signal ${signal}` : `status ${code}`;
    if (worker.exitExpected || this.stopDeadline !== undefined) {
      this.log.info(`worker ${worker.pid} exited (${how})`);
    } else if (worker.state === "starting") {
      this.startupFailures++;
      this.nextSpawnAt = performance.now() + Math.min(100 * 2 ** this.startupFailures, 5000);
      this.log.error(`worker ${worker.pid} failed to start (${how})${worker.fatal ? `: ${worker.fatal}` : ""}`);
      if (this.startupFailures >= MAX_STARTUP_FAILURES) this.giveUpOnNewWorkers(worker.fatal ?? how);
    } else {
      this.log.warn(`worker ${worker.pid} died (${how}); starting a new one`);
      this.crashedSinceUpkeep = true;
      this.nextUpkeepAt = 0;
    }
    if (this.stopDeadline === undefined) this.saveState();
  }

  /**
   * New workers keep dying at start-up. After a HUP, the previous generation
   * still serves: keep it and drop the new one (unicorn does the same).
   * With nothing left serving, stop with the workers' reason.
   */
  private giveUpOnNewWorkers(reason: string): void {
    const previous = [...this.workers].filter((w) => w.generation < this.generation && w.state === "ready");
    if (previous.length > 0) {
      this.log.error(`new workers keep failing at start-up (${reason}); keeping the ${previous.length} running ones`);
      for (const w of this.workers) if (w.generation === this.generation) w.stop();
      this.generation = Math.max(...previous.map((w) => w.generation));
      this.startupFailures = 0;
      return;
    }
    this.failure = `workers keep failing at start-up: ${reason}`;
    this.exitCode = 1;
    this.stop(false, "start-up failures");
  }

  /** unicorn's murder_lazy_workers: a worker without a heartbeat for --timeout is hung. */
  private murderLazyWorkers(): void {
    const now = performance.now();
    if (this.stopDeadline !== undefined) {
      if (now > this.stopDeadline) for (const worker of this.workers) worker.signal("SIGKILL");
      return;
    }
    for (const worker of this.workers) {
      if (now - worker.lastBeat <= this.options.timeoutMs) continue;
      this.log.error(`worker ${worker.pid} sent no heartbeat for ${this.options.timeoutMs / 1000} s; killing it (SIGKILL)`);
      worker.lastBeat = now; // Do not log it twice while SIGKILL lands.
      worker.signal("SIGKILL");
    }
  }

  private maintainWorkerCount(): void {
    if (this.stopDeadline !== undefined) return;
    const current = this.currentWorkers();
    if (current.length > this.target) {
      current.at(-1)!.stop();
      return;
    }
    if (current.length < this.target && performance.now() >= this.nextSpawnAt) this.spawnMissingWorkers(this.target - current.length);
  }

  private spawnMissingWorkers(count: number): void {
    for (let i = 0; i < count; i++) {
      let worker: WorkerProcess;
      try {
        worker = new WorkerProcess(this.generation, { ...this.options.worker, heartbeatMs: this.heartbeatMs() }, this.log, {
          ready: (w) => this.enqueue({ kind: "ready", worker: w }),
          exited: (w, code, signal) => this.enqueue({ kind: "exited", worker: w, code, signal }),
        });
      } catch (error) {
        // The system would not start a process (EAGAIN, ENOMEM): a start-up failure, with back-off.
        this.startupFailures++;
        this.nextSpawnAt = performance.now() + Math.min(100 * 2 ** this.startupFailures, 5000);
        this.log.error(`cannot start a worker: ${(error as Error).message}`);
        if (this.startupFailures >= MAX_STARTUP_FAILURES) this.giveUpOnNewWorkers((error as Error).message);
        return;
      }
      this.workers.add(worker);
      this.log.debug(`spawned worker ${worker.pid}`);
    }
  }

  /** The depot's own upkeep, at most every UPKEEP_EVERY_MS; its errors are logged, never fatal. */
  private runUpkeep(): void {
    const upkeep = this.options.upkeep;
    if (!upkeep || this.upkeepRunning || this.stopDeadline !== undefined || performance.now() < this.nextUpkeepAt) return;
    this.upkeepRunning = true;
    this.nextUpkeepAt = performance.now() + UPKEEP_EVERY_MS;
    const afterCrash = this.crashedSinceUpkeep;
    this.crashedSinceUpkeep = false;
    upkeep(afterCrash)
      .catch((error: unknown) => this.log.error(`depot upkeep failed: ${(error as Error)?.message ?? error}`))
      .finally(() => {
        this.upkeepRunning = false;
      });
  }

  /** The state file is for `depot status`: failing to write it (disk full) must not stop the server. */
  private saveState(): void {
    try {
      updateState(this.options.pidFile, this.state());
    } catch (error) {
      this.log.warn(`cannot update ${this.options.pidFile}.json: ${(error as Error).message}`);
    }
  }

  private stop(graceful: boolean, why: string): void {
    if (this.stopDeadline !== undefined && graceful) return;
    const waitMs = graceful ? this.options.worker.gracefulTimeoutMs + 1000 : QUICK_STOP_MS;
    // A second TERM or Ctrl-C hastens the end, never postpones it.
    this.stopDeadline = Math.min(this.stopDeadline ?? Infinity, performance.now() + waitMs);
    this.log.info(`${why}: ${graceful ? "stopping gracefully" : "stopping now"}`);
    for (const worker of this.workers) {
      worker.exitExpected = true;
      if (graceful) worker.stop();
      else worker.signal("SIGTERM");
    }
  }

  /** Workers of the current generation that are not on their way out. */
  private currentWorkers(): WorkerProcess[] {
    return [...this.workers].filter((w) => w.generation === this.generation && w.state !== "stopping");
  }

  private heartbeatMs(): number {
    return Math.max(50, Math.min(1000, this.options.timeoutMs / 4));
  }

  private state(): ServerState {
    return {
      pid: process.pid,
      startTime: processStartTime(process.pid),
      host: this.options.worker.listeners[0]!.host,
      port: this.options.worker.listeners[0]!.port,
      listeners: this.options.worker.listeners.map(({ kind, host, port }) => ({ kind, host, port })),
      depot: this.options.worker.depot,
      workers: [...this.workers].filter((w) => w.state === "ready").map((w) => w.pid),
    };
  }

  private reportToStarter(line: string): void {
    if (this.options.readyFd === undefined) return;
    tellStarter(this.options.readyFd, line);
    this.options.readyFd = undefined;
  }

  private enqueue(event: Event): void {
    this.events.push(event);
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      this.wake = done;
      function done() {
        clearTimeout(timer);
        resolve();
      }
    });
  }
}

