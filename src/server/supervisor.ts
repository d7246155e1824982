/**
 * @module
 * The supervisor: one loop that takes one queued event per turn (a signal,
 * a child's message, a child's exit) and, when none waits, does
 * housekeeping with unicorn's verbs: murder lazy children, kill what
 * outlives the stop deadline, keep the upkeep process and the worker count.
 * Signal handlers and process callbacks only queue; every state change
 * happens in the loop. A turn that throws is logged and the loop goes on
 * (unicorn's master loop does the same): the server must not die, leaving
 * its pid file behind, over one bad turn. It signs nothing and loads no
 * crypto: the workers and the upkeep process open the depot.
 */
import { type ChildEvents, type ChildRole, type SpawnChild, spawnChild } from "./child.ts";
import { type HandedKeys, keyHandoffLine } from "./key-handoff.ts";
import { CpuPlacement, type WorkerCpus, WorkerPinning } from "./cpu-affinity.ts";
import { type Clock, systemClock } from "../clock.ts";
import { describeListener } from "./listeners/types.ts";
import type { Logger } from "./log.ts";
import { UPKEEP_ENV, type UpkeepConfig, WORKER_ENV, type WorkerConfig, type WorkerMessage } from "./messages.ts";
import { processStartTime, removePidFile, type ServerState, updateState, writePidFile } from "./pidfile.ts";
import { TrackedChild } from "./worker-process.ts";

export interface SupervisorOptions {
  worker: Omit<WorkerConfig, "heartbeatMs">;
  /** The upkeep process's configuration; without it, none is run (unit tests). */
  upkeep?: Omit<UpkeepConfig, "heartbeatMs">;
  processCount: number;
  pidFile: string;
  /** A child silent this long is killed and replaced (--timeout). */
  timeoutMs: number;
  /** Called once, when every worker of the first generation is ready. */
  onReady?: () => void;
  /** Reopen the log (SIGUSR1, after logrotate moved it). */
  onReopenLog?: () => void;
  /** Audit records from the upkeep process, JSON lines for the --audit-log file (the supervisor is its only writer). */
  onAudit?: (lines: string[]) => void;
  /** Seams for unit tests: how children are spawned, what time it is. */
  spawn?: SpawnChild;
  clock?: Clock;
  /** Take the process's signals (off in unit tests, which call `signal()`). */
  trapSignals?: boolean;
  /** SIGUSR2 makes one turn throw, to prove the loop survives it. */
  testHooks?: boolean;
  /** A descriptor every worker gets as its SHARED_FD (child.ts): the ACME nonce book the workers share. */
  workerSharedFd?: number;
  /** The decrypted CA (and SSH CA) keys, kept only to hand to each child it spawns (key-handoff.ts); the supervisor signs nothing. */
  handedKeys?: HandedKeys;
  /** Each worker pinned to one of these CPUs, the fewest on each, its thread pool free, all of it free while the pool is busy (cpu-affinity.ts); without it the kernel places them. */
  workerCpus?: WorkerCpus;
}

type Event =
  | { kind: "signal"; signal: NodeJS.Signals }
  | { kind: "message"; child: TrackedChild; message: WorkerMessage }
  | { kind: "exited"; child: TrackedChild; code: number | null; signal: string | null };

export const SIGNALS: NodeJS.Signals[] = ["SIGQUIT", "SIGTERM", "SIGINT", "SIGHUP", "SIGTTIN", "SIGTTOU", "SIGUSR1", "SIGUSR2"];
/**
 * The longest the supervisor sleeps without an event. It wakes earlier for
 * what is due (a child's heartbeat deadline, the stop deadline, a spawn
 * after back-off): each wake-up of an idle server costs CPU (docs/performance.md,
 * "What an idle server costs").
 */
export const HOUSEKEEPING_MS = 1000;
/** A child that dies before it is ready this many times in a row stops the server. */
export const MAX_STARTUP_FAILURES = 5;
export const QUICK_STOP_MS = 2000;

export class Supervisor {
  private readonly workers = new Set<TrackedChild>();
  private upkeep: TrackedChild | undefined;
  private upkeepEverReady = false;
  private upkeepFailures = 0;
  private nextUpkeepSpawnAt = 0;
  /** A worker died unasked: the files it deferred may be missing; the upkeep process restores them. */
  private restorePending = false;
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
  private readonly spawn: SpawnChild;
  private readonly clock: Clock;
  private readonly placement: CpuPlacement | undefined;
  /** Each pinned worker's threads, by its pid. */
  private readonly pinnings = new Map<number, WorkerPinning>();
  private nextThreadSweepAt = 0;

  constructor(
    private readonly options: SupervisorOptions,
    private readonly log: Logger,
  ) {
    this.target = options.processCount;
    this.spawn = options.spawn ?? spawnChild;
    this.clock = options.clock ?? systemClock;
    this.placement = options.workerCpus && options.workerCpus.cpus.length > 1 ? new CpuPlacement(options.workerCpus.cpus) : undefined;
  }

  /** Whether a stop (graceful or quick) is under way. */
  get stopping(): boolean {
    return this.stopDeadline !== undefined;
  }

  /** Queues a signal, as the process's handlers do. */
  signal(signal: NodeJS.Signals): void {
    this.enqueue({ kind: "signal", signal });
  }

  /** Runs until the server stops; returns the exit status, and why it stopped when it failed. */
  async join(): Promise<{ status: number; failure?: string }> {
    const trap = this.options.trapSignals !== false;
    if (trap) for (const signal of SIGNALS) process.on(signal, () => this.signal(signal));
    writePidFile(this.options.pidFile, this.state());
    this.log.info(`Starting ${this.target} workers on ${this.options.worker.listeners.map(describeListener).join(", ")}`);

    for (;;) {
      const event = this.events.shift();
      try {
        if (event) {
          this.handle(event);
          continue;
        }
        if (this.stopping && this.workers.size === 0 && !this.upkeep) break;
        this.murderLazyChildren();
        this.placeThreads();
        this.killAfterStopDeadline();
        this.maintainUpkeep();
        this.maintainWorkerCount();
      } catch (error) {
        this.log.error(`supervisor: unexpected error, carrying on: ${(error as Error)?.stack ?? error}`);
      }
      if (!event) await this.sleep(this.untilNextDue());
    }

    if (trap) for (const signal of SIGNALS) process.removeAllListeners(signal);
    removePidFile(this.options.pidFile);
    this.log.info(this.failure ? `Stopped: ${this.failure}` : "Stopped");
    return { status: this.exitCode, failure: this.failure };
  }

  private handle(event: Event): void {
    switch (event.kind) {
      case "signal":
        return this.handleSignal(event.signal);
      case "message":
        return event.child.role === "worker" ? this.workerSaid(event.child, event.message) : this.upkeepSaid(event.child, event.message);
      case "exited":
        return event.child.role === "worker" ? this.reapWorker(event.child, event.code, event.signal) : this.reapUpkeep(event.child, event.code, event.signal);
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
        return this.rollWorkers("HUP");
      case "SIGTTIN": // one worker more
        this.target++;
        this.log.info(`TTIN: now ${this.target} workers`);
        return;
      case "SIGTTOU": // one worker fewer
        this.target = Math.max(1, this.target - 1);
        this.log.info(`TTOU: now ${this.target} workers`);
        return;
      case "SIGUSR1": // reopen the log (logrotate moved it)
        this.options.onReopenLog?.();
        this.log.info("USR1: reopened the log");
        return;
      case "SIGUSR2": // test hook: a turn that throws
        if (this.options.testHooks) throw new Error("test hook: this turn throws");
        return;
    }
  }

  private workerSaid(worker: TrackedChild, message: WorkerMessage): void {
    worker.lastBeat = this.clock.now();
    switch (message.t) {
      case "beat":
        return;
      case "ready":
        if (worker.state === "starting") worker.state = "ready";
        return this.workerReady(worker);
      case "stopping":
        // Replaced at once: the supervisor counts only workers not on their way out.
        worker.state = "stopping";
        worker.exitExpected = true;
        return;
      case "retire":
        // A replacement is spawned now; this one stops once every current worker is ready.
        worker.retiring = true;
        return;
      case "log":
        return this.log.write(message.level, message.message, worker.pid);
      case "fatal":
        worker.fatal = message.message;
        return this.log.write("error", message.message, worker.pid);
    }
  }

  private workerReady(worker: TrackedChild): void {
    this.startupFailures = 0;
    this.log.debug(`worker ${worker.pid} ready`);
    this.pin(worker.pid);
    const current = this.currentWorkers();
    if (current.length < this.target || current.some((w) => w.state !== "ready")) return;
    const old = [...this.workers].filter((w) => (w.generation < this.generation || w.retiring) && w.state !== "stopping");
    for (const w of old) w.stop();
    const outgoing = old.filter((w) => w.generation < this.generation).length;
    if (outgoing) this.log.info(`All ${current.length} new workers ready; stopping ${outgoing} old ones`);
    if (!this.everReady) {
      this.everReady = true;
      this.log.info(`All ${current.length} workers ready`);
      this.options.onReady?.();
    }
    this.saveState();
  }

  private reapWorker(worker: TrackedChild, code: number | null, signal: string | null): void {
    this.workers.delete(worker);
    this.placement?.leave(worker.pid);
    this.pinnings.delete(worker.pid);
    const how = signal ? `signal ${signal}` : `status ${code}`;
    if (worker.exitExpected || this.stopping) {
      this.log.info(`worker ${worker.pid} exited (${how})`);
    } else if (worker.state === "starting") {
      this.log.error(`worker ${worker.pid} failed to start (${how})${worker.fatal ? `: ${worker.fatal}` : ""}`);
      this.noteStartupFailure(worker.fatal ?? how);
    } else {
      this.log.warn(`worker ${worker.pid} died (${how}); starting a new one`);
      this.restoreFiles();
    }
    if (!this.stopping) this.saveState();
  }

  /** One more child failed before it was ready: back off (200 ms, doubling, at most 5 s), give up after MAX_STARTUP_FAILURES. */
  private noteStartupFailure(reason: string): void {
    this.startupFailures++;
    this.nextSpawnAt = this.clock.now() + Math.min(100 * 2 ** this.startupFailures, 5000);
    if (this.startupFailures >= MAX_STARTUP_FAILURES) this.giveUpOnNewWorkers(reason);
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
    this.fail(`workers keep failing at start-up: ${reason}`);
  }

  /** A new generation of workers; the old ones stop once the new are ready. */
  private rollWorkers(why: string): void {
    if (this.stopping) return;
    this.generation++;
    this.log.info(`${why}: starting ${this.target} new workers; the old ones stop once the new are ready`);
  }

  private upkeepSaid(upkeep: TrackedChild, message: WorkerMessage): void {
    upkeep.lastBeat = this.clock.now();
    switch (message.t) {
      case "ready":
        upkeep.state = "ready";
        this.upkeepEverReady = true;
        this.upkeepFailures = 0;
        if (this.restorePending) this.restoreFiles();
        return;
      case "log":
        return this.log.write(message.level, message.message, upkeep.pid);
      case "audit":
        return this.options.onAudit?.(message.lines);
      case "roll":
        return this.rollWorkers(message.reason);
      case "fatal":
        upkeep.fatal = message.message;
        // Before the first ready, the reason is why the depot cannot be served: the stop says it.
        if (this.upkeepEverReady) this.log.write("error", message.message, upkeep.pid);
        return;
      default:
        return;
    }
  }

  private reapUpkeep(upkeep: TrackedChild, code: number | null, signal: string | null): void {
    if (this.upkeep === upkeep) this.upkeep = undefined;
    const how = signal ? `signal ${signal}` : `status ${code}`;
    if (upkeep.exitExpected || this.stopping) {
      this.log.debug(`upkeep process ${upkeep.pid} exited (${how})`);
    } else if (!this.upkeepEverReady) {
      // It checks the depot before anything else: this depot cannot be served.
      this.fail(upkeep.fatal ?? `the upkeep process failed to start (${how})`);
    } else {
      this.upkeepFailures++;
      this.nextUpkeepSpawnAt = this.clock.now() + Math.min(100 * 2 ** this.upkeepFailures, 5000);
      this.log.warn(`upkeep process ${upkeep.pid} died (${how}); starting a new one`);
    }
  }

  /** After a worker crash: the upkeep process restores the certificate files it had deferred. */
  private restoreFiles(): void {
    if (!this.options.upkeep) return;
    this.restorePending = this.upkeep?.state !== "ready";
    if (!this.restorePending) this.upkeep!.send("restore");
  }

  private fail(reason: string): void {
    this.failure ??= reason;
    this.exitCode = 1;
    this.stop(false, "start-up failures");
  }

  /** unicorn's murder_lazy_workers: a child without a heartbeat for --timeout is hung. */
  private murderLazyChildren(): void {
    if (this.stopping) return;
    const now = this.clock.now();
    for (const child of this.children()) {
      if (now - child.lastBeat <= this.options.timeoutMs) continue;
      const name = child.role === "worker" ? "worker" : "upkeep process";
      this.log.error(`${name} ${child.pid} sent no heartbeat for ${this.options.timeoutMs / 1000} s; killing it (SIGKILL)`);
      child.lastBeat = now; // Do not log it twice while SIGKILL lands.
      child.signal("SIGKILL");
    }
  }

  /** Milliseconds until the housekeeping above has something to do, at most HOUSEKEEPING_MS; events wake the loop sooner. */
  private untilNextDue(): number {
    const now = this.clock.now();
    const due = [now + HOUSEKEEPING_MS];
    for (const child of this.children()) due.push(child.lastBeat + this.options.timeoutMs + 1);
    if (this.stopDeadline !== undefined) due.push(this.stopDeadline + 1);
    if (this.options.upkeep && !this.upkeep && !this.stopping) due.push(this.nextUpkeepSpawnAt);
    if (!this.stopping && this.currentWorkers().length < this.target) due.push(this.nextSpawnAt);
    // A deadline already past is waiting on an event (the upkeep's ready, a child's exit), not on time.
    return Math.min(...due.filter((at) => at > now)) - now;
  }

  /** Whatever is still running past the stop deadline is killed. */
  private killAfterStopDeadline(): void {
    if (this.stopDeadline === undefined || this.clock.now() <= this.stopDeadline) return;
    for (const child of this.children()) child.signal("SIGKILL");
  }

  private maintainUpkeep(): void {
    const config = this.options.upkeep;
    if (!config || this.stopping || this.upkeep || this.clock.now() < this.nextUpkeepSpawnAt) return;
    const upkeep = this.spawnTracked("upkeep", { [UPKEEP_ENV]: JSON.stringify({ ...config, heartbeatMs: this.heartbeatMs() }) });
    if (upkeep) this.upkeep = upkeep;
  }

  private maintainWorkerCount(): void {
    if (this.stopping) return;
    // Workers start once the upkeep process has found the depot servable.
    if (this.options.upkeep && !this.upkeepEverReady) return;
    const current = this.currentWorkers();
    if (current.length > this.target) {
      current.at(-1)!.stop();
      return;
    }
    if (current.length < this.target && this.clock.now() >= this.nextSpawnAt) this.spawnMissingWorkers(this.target - current.length);
  }

  private spawnMissingWorkers(count: number): void {
    const env = { [WORKER_ENV]: JSON.stringify({ ...this.options.worker, heartbeatMs: this.heartbeatMs() }) };
    for (let i = 0; i < count; i++) {
      const worker = this.spawnTracked("worker", env);
      if (!worker) return;
      this.workers.add(worker);
      this.log.debug(`spawned worker ${worker.pid}`);
    }
  }

  /**
   * Pins a worker to its CPU once it is ready (cpu-affinity.ts): its main
   * thread, which every thread it starts later inherits; the sweep below
   * places them all. Not at spawn: a runtime that starts pinned sizes
   * itself for one CPU (`navigator.hardwareConcurrency` 1) for good.
   */
  private pin(pid: number): void {
    if (!this.placement || this.pinnings.has(pid)) return;
    const cpu = this.placement.place(pid);
    if (!this.options.workerCpus!.pin(pid, [cpu])) {
      this.placement.leave(pid);
      return this.log.debug(`worker ${pid}: the system would not pin it to a CPU`);
    }
    this.log.debug(`worker ${pid} runs on CPU ${cpu}`);
    this.pinnings.set(pid, new WorkerPinning(pid, cpu));
  }

  /** Each second, a pinned worker's threads are placed (`WorkerPinning`: its pool free, all of it free while the pool is busy). */
  private placeThreads(): void {
    const now = this.clock.now();
    if (this.pinnings.size === 0 || now < this.nextThreadSweepAt) return;
    this.nextThreadSweepAt = now + HOUSEKEEPING_MS;
    const { cpus, pin, threads } = this.options.workerCpus!;
    for (const pinning of this.pinnings.values()) {
      for (const [tid, where] of pinning.sweep(threads(pinning.pid), now)) {
        pin(tid, where === "all" ? cpus : [pinning.cpu]);
        if (tid === pinning.pid) this.log.debug(`worker ${tid} ${where === "all" ? "runs on every CPU while its thread pool is busy" : `runs on CPU ${pinning.cpu} again`}`);
      }
    }
  }

  /** Spawns a child whose events go to the queue; undefined when the system would not start one. */
  private spawnTracked(role: ChildRole, env: Record<string, string>): TrackedChild | undefined {
    let tracked: TrackedChild | undefined;
    // Children report asynchronously (pipes, exit promises), after `tracked` is set.
    const events: ChildEvents = {
      message: (message) => this.enqueue({ kind: "message", child: tracked!, message }),
      exited: (code, signal) => this.enqueue({ kind: "exited", child: tracked!, code, signal }),
    };
    try {
      const child = this.spawn(role, env, events, role === "worker" ? this.options.workerSharedFd : undefined);
      if (this.options.handedKeys !== undefined) child.send(keyHandoffLine(this.options.handedKeys));
      tracked = new TrackedChild(role, this.generation, child, this.clock.now());
      return tracked;
    } catch (error) {
      // The system would not start a process (EAGAIN, ENOMEM): a start-up failure, with back-off.
      const reason = (error as Error)?.message ?? String(error);
      this.log.error(`cannot start ${role === "worker" ? "a worker" : "the upkeep process"}: ${reason}`);
      if (role === "worker") this.noteStartupFailure(reason);
      else this.nextUpkeepSpawnAt = this.clock.now() + 1000;
      return undefined;
    }
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
    if (this.stopping && graceful) return;
    const waitMs = graceful ? this.options.worker.gracefulTimeoutMs + 1000 : QUICK_STOP_MS;
    // A second TERM or Ctrl-C hastens the end, never postpones it.
    this.stopDeadline = Math.min(this.stopDeadline ?? Infinity, this.clock.now() + waitMs);
    this.log.info(`${why}: ${graceful ? "stopping gracefully" : "stopping now"}`);
    for (const child of this.children()) {
      child.exitExpected = true;
      if (graceful) child.stop();
      else child.signal("SIGTERM");
    }
  }

  private children(): TrackedChild[] {
    return this.upkeep ? [...this.workers, this.upkeep] : [...this.workers];
  }

  /** Workers of the current generation that are not on their way out. */
  private currentWorkers(): TrackedChild[] {
    return [...this.workers].filter((w) => w.generation === this.generation && w.state !== "stopping" && !w.retiring);
  }

  /** Six beats per --timeout, at most one each 5 s: each beat wakes the child and the supervisor, and an idle server's wake-ups are its CPU. */
  private heartbeatMs(): number {
    return Math.max(50, Math.min(5000, this.options.timeoutMs / 6));
  }

  private state(): ServerState {
    const [first] = this.options.worker.listeners;
    return {
      pid: process.pid,
      startTime: processStartTime(process.pid),
      host: first!.host,
      port: first!.port,
      listeners: this.options.worker.listeners.map(({ kind, host, port }) => ({ kind, host, port })),
      depot: this.options.worker.depot,
      workers: [...this.workers].filter((w) => w.state === "ready").map((w) => w.pid),
    };
  }

  private enqueue(event: Event): void {
    this.events.push(event);
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const cancel = this.clock.after(ms, done);
      this.wake = done;
      function done() {
        cancel();
        resolve();
      }
    });
  }
}
