/**
 * @module
 * The shape every depot command shares, so no `run` repeats it: unknown and
 * repeated options refused before anything happens (citty's `setup`), and,
 * for commands that work on a depot, the depot opened from the PATH
 * positional and closed however `run` ends.
 *
 *     export default depotCommand({ meta, args, async run({ args }, depot) { ... } });
 */
import { type ArgsDef, type CommandContext, type CommandDef, type CommandMeta, defineCommand } from "citty";
import type { Depot, OpenOptions } from "../ca/depot.ts";
import { rejectUnknownArgs } from "./_strict.ts";

export interface CommandSpec<T extends ArgsDef> {
  meta: CommandMeta;
  args: T;
  /** Words beyond the declared positionals are welcome (init's CA name). */
  extraPositionals?: boolean;
  /** Options that may be given more than once, kebab-case (`san`). */
  repeatable?: string[];
  /** Checks of the arguments that need no depot: run before it is opened (and a passphrase asked for). */
  check?(context: CommandContext<T>): void;
  run(context: CommandContext<T>): unknown | Promise<unknown>;
}

/** A command whose arguments are checked strictly before it runs. */
export function command<T extends ArgsDef>(spec: CommandSpec<T>): CommandDef<T> {
  return defineCommand({
    meta: spec.meta,
    args: spec.args,
    setup(context) {
      rejectUnknownArgs(context.rawArgs, spec.args, spec.extraPositionals, spec.repeatable);
      spec.check?.(context);
    },
    run: spec.run,
  });
}

export interface DepotCommandSpec<T extends ArgsDef> extends Omit<CommandSpec<T>, "run"> {
  /** How the depot is opened (a server's workers defer files, ...). */
  open?: OpenOptions;
  /**
   * The command signs: an encrypted CA key is opened with the passphrase
   * (its args must include `passphraseArgs`; _passphrase.ts). Otherwise an
   * encrypted key stays locked and no passphrase is asked for.
   */
  signs?: boolean;
  /** Runs with the depot named by the PATH positional, open; it is closed afterwards. */
  run(context: CommandContext<T>, depot: Depot): unknown | Promise<unknown>;
}

/** A command on the depot at `args.path`. */
export function depotCommand<T extends ArgsDef & { path: { type: "positional" } }>(spec: DepotCommandSpec<T>): CommandDef<T> {
  return command({
    ...spec,
    async run(context) {
      const path = String(context.args.path);
      if (!spec.signs) return withDepot(path, async (depot) => spec.run(context, depot), spec.open);
      const depot = await (await import("./_passphrase.ts")).openToSign(path, context.args as Record<string, unknown>, spec.open);
      try {
        return await spec.run(context, depot);
      } finally {
        depot.close();
      }
    },
  });
}

/**
 * Runs `work` on the depot at `path`, opened without signing (an encrypted
 * CA key stays locked, no passphrase is asked for), and closes it however
 * `work` ends.
 */
export async function withDepot<T>(path: string, work: (depot: Depot) => Promise<T>, options: OpenOptions = {}): Promise<T> {
  // Loaded here, not at the top: `depot --help` and `depot stop` need no CA library.
  const { openDepot } = await import("../store/open-depot.ts");
  const depot = await openDepot(path, { withoutSigning: true, ...options });
  try {
    return await work(depot);
  } finally {
    depot.close();
  }
}
