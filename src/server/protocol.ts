import { parseDn } from "../ca/dn.ts";
import { DepotError } from "../errors.ts";

/**
 * The line protocol: one request line per connection, one answer, then the
 * server closes. This module turns a line into an answer; it knows nothing
 * of sockets, so every input can be tested without one.
 */
export const MAX_LINE_BYTES = 8192;
export const READ_TIMEOUT_MS = 10_000;

/** What a worker lends the protocol to do the work. */
export interface Services {
  /** A fresh private key and client certificate, PEM, for the subject. */
  generate(subject: ReturnType<typeof parseDn>): Promise<string>;
}

export interface Answer {
  text: string;
  /** `shutdown`: the worker exits once this answer is out. */
  shutdown?: true;
}

interface Command {
  help: string;
  run(argument: string, services: Services): Promise<Answer>;
}

const COMMANDS: Record<string, Command> = {
  generate: {
    help: `GENERATE
  generate <distinguished name>
  Makes a new key pair and a client certificate for it, signed by the
  depot's CA and recorded in its ledger. The name is the rest of the line,
  in OpenSSL's slash form or RFC 4514's comma form; spaces are kept.
RETURNS
  The private key (PKCS#8) and then the certificate, both PEM.
EXAMPLE
  generate /UID=12/CN=Bob Owner,emailAddress=bob@example.com
`,
    async run(argument, services) {
      if (argument.trim() === "") throw new DepotError("E_BAD_DN", "generate needs a distinguished name, e.g. generate /CN=Bob Owner");
      return { text: await services.generate(parseDn(argument)) };
    },
  },
  help: {
    help: `HELP
  help [command]
  Lists the commands, or explains one.
RETURNS
  The command names on one line, or the help text of the command.
EXAMPLE
  help generate
`,
    async run(argument) {
      const topic = argument.trim();
      if (topic === "") return { text: `${Object.keys(COMMANDS).join(" ")}\n` };
      const command = COMMANDS[topic.toLowerCase()];
      return { text: command ? command.help : `Unknown command ${topic}\n` };
    },
  },
  shutdown: {
    help: `SHUTDOWN
  shutdown
  Stops the worker that serves this connection, once its other requests are
  answered; the server starts a fresh one in its place.
RETURNS
  OK
EXAMPLE
  shutdown
`,
    async run() {
      return { text: "OK\n", shutdown: true };
    },
  },
};

/** Names in the order `help` lists them. */
export const COMMAND_NAMES = Object.keys(COMMANDS);

/** Answers one request line (without its line ending). Never throws for a client's input. */
export async function answer(line: string, services: Services, onInternalError: (error: unknown) => void): Promise<Answer> {
  const match = /^(\S+)(?: (.*))?$/s.exec(line);
  if (!match) return errorAnswer(line.trim() === "" ? "empty request" : "a request starts with a command");
  const [, name = "", argument = ""] = match;
  const command = COMMANDS[name.toLowerCase()];
  if (!command) return errorAnswer(`unknown command '${printable(name)}' (commands: ${COMMAND_NAMES.join(" ")})`);
  try {
    return await command.run(argument, services);
  } catch (error) {
    if (error instanceof DepotError) return errorAnswer(error.message);
    onInternalError(error);
    return errorAnswer("internal error; the server log has the details");
  }
}

export function errorAnswer(reason: string): Answer {
  return { text: `ERROR ${reason}\n` };
}

/** A client's bytes, made safe to echo in one line. */
function printable(text: string): string {
  const shown = text.length > 40 ? `${text.slice(0, 40)}...` : text;
  return shown.replace(/[^\x20-\x7e]/g, "?");
}
