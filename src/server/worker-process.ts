import type { Subprocess } from "bun";
import type { Logger } from "./log.ts";
import { parseMessage, WORKER_ENV, type WorkerConfig } from "./messages.ts";
import { currentSelfCommand, WORKER_COMMAND } from "./self.ts";

/**
 * The supervisor's view of one worker process, with an explicit state:
 * starting (spawned, not yet listening), ready (listening), stopping (asked
 * to exit). `exitExpected` tells an exit we asked for from a crash.
 */
export type WorkerState = "starting" | "ready" | "stopping";

export interface WorkerEvents {
  ready(worker: WorkerProcess): void;
  exited(worker: WorkerProcess, code: number | null, signal: string | null): void;
}

export class WorkerProcess {
  state: WorkerState = "starting";
  exitExpected = false;
  lastBeat = performance.now();
  /** The reason the worker gave for failing to start, if it gave one. */
  fatal: string | undefined;
  private readonly process: Subprocess<"pipe", "pipe", "inherit">;

  constructor(
    readonly generation: number,
    config: WorkerConfig,
    private readonly log: Logger,
    events: WorkerEvents,
  ) {
    this.process = Bun.spawn([...currentSelfCommand(), WORKER_COMMAND], {
      // stdin is the lifeline: the worker exits when it ends.
      stdin: "pipe",
      stdout: "pipe",
      stderr: "inherit",
      env: { ...process.env, [WORKER_ENV]: JSON.stringify(config) },
      // Its own session: a Ctrl-C at the terminal reaches the supervisor,
      // which decides what the workers do.
      detached: true,
    });
    this.readMessages(events);
    this.process.exited.then(() => events.exited(this, this.process.exitCode, this.process.signalCode === null ? null : String(this.process.signalCode)));
  }

  get pid(): number {
    return this.process.pid;
  }

  /** QUIT: finish what you accepted, then exit. */
  stop(): void {
    this.state = "stopping";
    this.exitExpected = true;
    this.signal("SIGQUIT");
  }

  signal(signal: NodeJS.Signals): void {
    try {
      this.process.kill(signal);
    } catch {
      // Already gone: its exit event is on the way.
    }
  }

  private async readMessages(events: WorkerEvents): Promise<void> {
    const decoder = new TextDecoder();
    let pending = "";
    try {
      for await (const chunk of this.process.stdout) {
        pending += decoder.decode(chunk, { stream: true });
        let newline: number;
        while ((newline = pending.indexOf("\n")) !== -1) {
          this.handle(pending.slice(0, newline), events);
          pending = pending.slice(newline + 1);
        }
      }
    } catch {
      // The pipe broke: the exit event tells the rest.
    }
  }

  private handle(line: string, events: WorkerEvents): void {
    const message = parseMessage(line);
    if (!message) return;
    this.lastBeat = performance.now();
    switch (message.t) {
      case "beat":
        break;
      case "ready":
        if (this.state === "starting") this.state = "ready";
        events.ready(this);
        break;
      case "stopping":
        // Replaced at once: the supervisor counts only workers not on their way out.
        this.state = "stopping";
        this.exitExpected = true;
        break;
      case "log":
        this.log.write(message.level, message.message, this.pid);
        break;
      case "fatal":
        this.fatal = message.message;
        this.log.write("error", message.message, this.pid);
        break;
    }
  }
}
