/**
 * @module
 * The command line's entry: picks the command, prints help, and is the only
 * place errors become messages and exit statuses. Commands are loaded
 * lazily, so `depot --version` or `depot stop` loads no CA library.
 */
import type { CommandDef } from "citty";
import { DepotError, messageOf } from "../errors.ts";
import { publicError } from "../public-error.ts";
import { VERSION_LINE } from "../version.ts";
import { nearest, renderHelp, renderMainHelp } from "./_help.ts";

type Loader = () => Promise<CommandDef<any>>;
const load = (module: Promise<{ default: CommandDef<any> }>) => module.then((m) => m.default);

export const commands: Record<string, Loader> = {
  start: () => load(import("./start.ts")),
  stop: () => load(import("./stop.ts")),
  status: () => load(import("./status.ts")),
  init: () => load(import("./init.ts")),
  generate: () => load(import("./generate.ts")),
  sign: () => load(import("./sign.ts")),
  p12: () => load(import("./p12.ts")),
  revoke: () => load(import("./revoke.ts")),
  crl: () => load(import("./crl.ts")),
  list: () => load(import("./list.ts")),
  show: () => load(import("./show.ts")),
  config: () => load(import("./config.ts")),
  "install-ca": () => load(import("./install-ca.ts")),
  ledger: () => load(import("./ledger.ts")),
  token: () => load(import("./token.ts")),
  template: () => load(import("./template.ts")),
  ssh: () => load(import("./ssh.ts")),
  scep: () => load(import("./scep.ts")),
  audit: () => load(import("./audit.ts")),
  acme: () => load(import("./acme.ts")),
  key: () => load(import("./key.ts")),
  root: () => load(import("./root.ts")),
  intermediate: () => load(import("./intermediate.ts")),
  renew: () => load(import("./renew.ts")),
};

const DESCRIPTION = "A mini certificate authority: CA library, command line and pre-forking server.";

/** Runs the command line and returns the exit status. */
export async function main(argv: string[]): Promise<number> {
  const [first] = argv;
  try {
    if (first === "--version" || first === "-v") {
      console.log(VERSION_LINE);
      return 0;
    }
    if (first === "--help" || first === "-h" || first === "help") {
      const loaded = Object.fromEntries(await Promise.all(Object.entries(commands).map(async ([name, loader]) => [name, await loader()] as const)));
      process.stdout.write(renderMainHelp(DESCRIPTION, loaded));
      return 0;
    }
    // Bare `depot`, or `depot --process-count 4`, runs the server.
    if (first === undefined || first.startsWith("-")) argv = ["start", ...argv];
    const name = argv[0]!;
    const loader = Object.hasOwn(commands, name) ? commands[name] : undefined;
    if (!loader) {
      const guess = nearest(name, Object.keys(commands));
      throw new DepotError("E_BAD_ARGUMENT", `unknown command '${name}'${guess ? `; did you mean '${guess}'?` : ""} (commands: ${Object.keys(commands).join(", ")})`);
    }
    const rest = argv.slice(1);
    const wantsHelp = rest.includes("--help") || rest.includes("-h");
    // The server's supervisor parses its own flags: citty, and the node:util
    // it loads (6 MB), stay out of the process that runs for months.
    if (name === "start" && !wantsHelp) return await (await import("./start.ts")).runStart(rest);
    const command = await loader();
    if (wantsHelp) {
      // `depot ledger rebuild --help`: the help of the subcommand named.
      let [helpName, helpCommand, words] = [name, command, rest];
      for (;;) {
        const subCommands = (await resolveValue(helpCommand.subCommands)) as Record<string, unknown> | undefined;
        const [word] = words;
        if (!subCommands || word === undefined || !Object.hasOwn(subCommands, word)) break;
        [helpName, helpCommand, words] = [`${helpName} ${word}`, (await resolveValue(subCommands[word])) as CommandDef<any>, words.slice(1)];
      }
      process.stdout.write(await renderHelp(helpName, helpCommand));
      return 0;
    }
    const { runCommand } = await import("citty");
    const { result } = await runCommand(command, { rawArgs: rest });
    return typeof result === "number" ? result : 0;
  } catch (error) {
    console.error(`depot: ${cliMessage(error)}`);
    return 1;
  }
}

/** citty's Resolvable: a value, a promise, or a function giving either. */
async function resolveValue(value: unknown): Promise<unknown> {
  return typeof value === "function" ? await value() : await value;
}

/**
 * The one line the operator reads. The policy is every face's
 * (public-error.ts), with one difference: a DepotError's message is kept
 * whole, paths included, since the operator runs depot on the depot's own
 * machine and typed or owns those paths; a server's clients never see them.
 */
export function cliMessage(error: unknown): string {
  if (error instanceof DepotError) return error.message;
  const usage = usageMessage(error);
  if (usage !== undefined) return usage;
  const failure = publicError(error);
  if (failure.kind !== "internal") return failure.message;
  if (process.env.DEPOT_DEBUG) console.error(error);
  return `internal error: ${stripAnsi(messageOf(error))} (set DEPOT_DEBUG=1 for details)`;
}

/**
 * citty's usage errors (CLIError: an unknown subcommand as it words it;
 * a missing positional, missing option or bad enum value in depot's words).
 * citty 0.2 gives those three the one code EARG, the argument's name and
 * value only inside its English message, so the message is what there is
 * to read: the three patterns below are its three templates
 * (node_modules/citty, parseArgs), and test/cli.test.ts fails if an upgrade
 * changes them.
 */
function usageMessage(error: unknown): string | undefined {
  const { name, code, message } = (error ?? {}) as { name?: string; code?: string; message?: string };
  if (name !== "CLIError" && code !== "EARG") return undefined;
  return stripAnsi(String(message))
    .replace(/^Missing required positional argument: (\w+)/, (_, arg) => `missing ${arg}`)
    .replace(/^Missing required argument: (--\S+)/, "missing $1")
    .replace(/^Invalid value for argument: (--\S+) \((.*)\)\. Expected one of: (.*)\.$/, (_, option, value, choices) => `unknown ${option} '${value}' (${choices.split(", ").join(" or ")})`);
}

const stripAnsi = (text: string) => text.replace(/\u001b\[[0-9;]*m/g, "");
