import { type CommandDef, renderUsage, runCommand } from "citty";
import { DepotError } from "../errors.ts";
import { VERSION, VERSION_LINE } from "../version.ts";
import config from "./config.ts";
import generate from "./generate.ts";
import init from "./init.ts";
import start from "./start.ts";
import status from "./status.ts";
import stop from "./stop.ts";
import revoke from "./revoke.ts";
import crl from "./crl.ts";
import sign from "./sign.ts";
import list from "./list.ts";
import show from "./show.ts";
import key from "./key.ts";
import rootCommand from "./root.ts";
import intermediate from "./intermediate.ts";

export const commands: Record<string, CommandDef<any>> = { start, stop, status, init, generate, sign, revoke, crl, list, show, config, key, root: rootCommand, intermediate };

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
    const command = name.startsWith("-") ? undefined : commands[name];
    if (!name.startsWith("-") && !command) {
      throw new DepotError("E_BAD_ARGUMENT", `unknown command '${name}' (commands: ${Object.keys(commands).join(", ")})`);
    }
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
