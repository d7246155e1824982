/**
 * @module
 * The supervisor's record of one child process (a worker or the upkeep
 * process), with an explicit state: starting (spawned, not yet ready),
 * ready, stopping (asked to exit). `exitExpected` tells an exit we asked
 * for from a crash (nginx's `exiting`, Node cluster's `exitedAfterDisconnect`).
 * Only the supervisor's loop changes these fields.
 */
import type { Child, ChildRole } from "./child.ts";

export type ChildState = "starting" | "ready" | "stopping";

export class TrackedChild {
  state: ChildState = "starting";
  exitExpected = false;
  /** Asked (by a client's `shutdown`) to be replaced: it serves until its replacement is ready. */
  retiring = false;
  /** The reason the child gave for failing, if it gave one. */
  fatal: string | undefined;

  constructor(
    readonly role: ChildRole,
    readonly generation: number,
    private readonly child: Child,
    /** When it last said anything (clock time); a silent child is hung. */
    public lastBeat: number,
  ) {}

  get pid(): number {
    return this.child.pid;
  }

  /** QUIT: finish what you accepted, then exit. */
  stop(): void {
    this.state = "stopping";
    this.exitExpected = true;
    this.child.signal("SIGQUIT");
  }

  signal(signal: NodeJS.Signals): void {
    this.child.signal(signal);
  }

  send(line: string): void {
    this.child.send(line);
  }
}
