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
  run(context: CommandContext<T>): unknown | Promise<unknown>;
}

/** A command whose arguments are checked strictly before it runs. */
export function command<T extends ArgsDef>(spec: CommandSpec<T>): CommandDef<T> {
  return defineCommand({
    meta: spec.meta,
    args: spec.args,
    setup({ rawArgs }) {
      rejectUnknownArgs(rawArgs, spec.args, spec.extraPositionals, spec.repeatable);
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
      // Loaded here, not at the top: `depot --help` and `depot stop` need no CA library.
      const { Depot } = await import("../ca/depot.ts");
      const path = String(context.args.path);
      const depot = spec.signs
        ? await (await import("./_passphrase.ts")).openToSign(path, context.args as Record<string, unknown>, spec.open)
        : await Depot.open(path, { withoutSigning: true, ...spec.open });
      try {
        return await spec.run(context, depot);
      } finally {
        depot.close();
      }
    },
  });
}
