/**
 * @module
 * How to run this program again: the compiled executable runs itself; from
 * source, it is Bun plus the entry script. Pure, so it can be table-tested.
 */
export function selfCommand(compiled: boolean, execPath: string, argv: string[]): string[] {
  if (compiled) return [execPath];
  const script = argv[1];
  if (!script) throw new Error("cannot tell which script to run again");
  return [execPath, script];
}

export function currentSelfCommand(): string[] {
  return selfCommand(Bun.isStandaloneExecutable, process.execPath, process.argv);
}

/** The hidden command that starts a worker process. */
export const WORKER_COMMAND = "__worker";

/** The hidden command that runs a `--daemon` server in the background (`daemon.ts`). */
export const SERVE_COMMAND = "__serve";

/** The hidden command that starts the upkeep process (`upkeep-process.ts`). */
export const UPKEEP_COMMAND = "__upkeep";
