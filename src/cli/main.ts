import { type CommandDef, renderUsage, runCommand } from "citty";
import { DepotError } from "../errors.ts";
import { VERSION, VERSION_LINE } from "../version.ts";

type LazyCommand = () => Promise<CommandDef<any>>;

/**
 * Each command is loaded when it runs, so `--version`, `status` and the
 * server's supervisor never load the CA library they do not use.
 */
export const commands: Record<string, LazyCommand> = {
  start: () => import("./start.ts").then((m) => m.default),
  stop: () => import("./stop.ts").then((m) => m.default),
  status: () => import("./status.ts").then((m) => m.default),
  init: () => import("./init.ts").then((m) => m.default),
  generate: () => import("./generate.ts").then((m) => m.default),
  sign: () => import("./sign.ts").then((m) => m.default),
  revoke: () => import("./revoke.ts").then((m) => m.default),
  crl: () => import("./crl.ts").then((m) => m.default),
  list: () => import("./list.ts").then((m) => m.default),
  show: () => import("./show.ts").then((m) => m.default),
  config: () => import("./config.ts").then((m) => m.default),
  ledger: () => import("./ledger.ts").then((m) => m.default),
  token: () => import("./token.ts").then((m) => m.default),
  audit: () => import("./audit.ts").then((m) => m.default),
  acme: () => import("./acme.ts").then((m) => m.default),
  key: () => import("./key.ts").then((m) => m.default),
  root: () => import("./root.ts").then((m) => m.default),
  intermediate: () => import("./intermediate.ts").then((m) => m.default),
};

const root: CommandDef = {
  meta: { name: "depot", version: VERSION, description: "A mini certificate authority: CA library, command line and pre-forking server." },
  subCommands: commands,
};

/** Runs the command line and returns the exit status; the only place errors become messages. */
export async function main(argv: string[]): Promise<number> {
  const [first] = argv;
  // Bare `depot`, or `depot --process-count 4`, runs the server.
  if (first === undefined || (first.startsWith("-") && !["--help", "-h", "--version", "-v"].includes(first))) argv = ["start", ...argv];
  try {
    if (first === "--version" || first === "-v") {
      console.log(VERSION_LINE);
      return 0;
    }
    const name = argv[0]!;
    const load = name.startsWith("-") || !Object.hasOwn(commands, name) ? undefined : commands[name];
    if (!name.startsWith("-") && !load) {
      throw new DepotError("E_BAD_ARGUMENT", `unknown command '${name}' (commands: ${Object.keys(commands).join(", ")})`);
    }
    const command = await load?.();
    if (argv.includes("--help") || argv.includes("-h")) {
      const usage = await renderUsage(command ?? root, command ? root : undefined);
      process.stdout.write(`${process.stdout.isTTY ? usage : stripAnsi(usage)}\n`);
      return 0;
    }
    const { result } = await runCommand(command ?? root, { rawArgs: command ? argv.slice(1) : argv });
    return typeof result === "number" ? result : 0;
  } catch (error) {
    console.error(`depot: ${messageOf(error)}`);
    return 1;
  }
}

function messageOf(error: unknown): string {
  if (error instanceof DepotError) return error.message;
  // citty's own usage errors (missing positional, bad enum) carry a code.
  const { name, code, message } = (error ?? {}) as { name?: string; code?: string; message?: string };
  if (name === "CLIError" || code === "EARG") return stripAnsi(String(message)).replace(/^Missing required positional argument: (\w+)/, (_, arg) => `missing ${arg}`);
  if (process.env.DEPOT_DEBUG) console.error(error);
  return `internal error: ${stripAnsi(String(message ?? error))} (set DEPOT_DEBUG=1 for details)`;
}

const stripAnsi = (text: string) => text.replace(/\u001b\[[0-9;]*m/g, "");
