// What the commands do against the depot lives in services.ts.
import type { LineServices as Services } from "./services.ts";
import { parseReason } from "../ca/crl.ts";
import { MAX_CSR_BYTES } from "../ca/csr.ts";
import { parseDn } from "../ca/dn.ts";
import { DepotError } from "../errors.ts";
import { isServerSide, publicError, withoutPaths } from "../public-error.ts";

/**
 * The line protocol: one request per connection, one answer, then the
 * server closes. A request is one line; `sign` is followed by a PEM
 * certificate request on the next lines. This module turns a request into
 * an answer; it knows nothing of sockets, so every input can be tested
 * without one.
 */
export const MAX_LINE_BYTES = 8192;
export const MAX_BODY_BYTES = MAX_CSR_BYTES;
/** From accept to the end of the first line: an idle or trickling client holds nothing longer. */
export const FIRST_LINE_MS = 5_000;
/** For a `sign`'s PEM request after its first line; the longest a request waits for the worker; an answer's write. */
export const READ_TIMEOUT_MS = 10_000;
export const CSR_END = "-----END CERTIFICATE REQUEST-----";

export interface Answer {
  text: string;
  /** `shutdown`: the worker exits once this answer is out. */
  shutdown?: true;
}

interface Command {
  help: string;
  /** Whether lines follow the request line (sign's PEM request). */
  hasBody?: true;
  /**
   * Answered from memory, without a worker's slot for work (see Gate): it
   * must not wait behind issuances, which under RSA load hold every slot of
   * a worker for hundreds of milliseconds.
   */
  takesNoSlot?: true;
  run(argument: string, body: string, services: Services): Promise<Answer>;
}

const COMMANDS: Record<string, Command> = {
  crl: {
    help: `CRL
  crl
  The depot's current certificate revocation list.
RETURNS
  The CRL, PEM (-----BEGIN X509 CRL-----).
EXAMPLE
  crl
`,
    async run(_argument, _body, services) {
      return { text: await services.crl() };
    },
  },
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
    async run(argument, _body, services) {
      if (argument.trim() === "") throw new DepotError("E_BAD_DN", "generate needs a distinguished name, e.g. generate /CN=Bob Owner");
      return { text: await services.generate(parseDn(argument)) };
    },
  },
  help: {
    takesNoSlot: true,
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
      if (topic === "") return { text: `${COMMAND_NAMES.join(" ")}\n` };
      const command = commandNamed(topic);
      return { text: command ? command.help : `Unknown command ${topic.replace(/[^\x20-\x7e]/g, "?")}\n` };
    },
  },
  revoke: {
    help: `REVOKE
  revoke <serial> [reason]
  Revokes a certificate and republishes the CRL. Refused unless the server
  was started with --allow-revoke: anyone who can connect could otherwise
  revoke anyone's certificate. The serial is hex, as openssl prints it;
  the reason one of keyCompromise, superseded, cessationOfOperation,
  affiliationChanged, unspecified (default).
RETURNS
  OK revoked <serial>
EXAMPLE
  revoke 5E:0F:A1:22:9B:03:44:10:7C:D2:61:0A:E3:5B:88:14 keyCompromise
`,
    async run(argument, _body, services) {
      if (!services.allowRevoke) throw new DepotError("E_BAD_ARGUMENT", "revoke is disabled on this server (start it with --allow-revoke)");
      const [serial, reason, extra] = argument.trim().split(/\s+/);
      if (!serial || extra !== undefined) throw new DepotError("E_BAD_ARGUMENT", "usage: revoke <serial> [reason]");
      return { text: await services.revoke(serial, parseReason(reason ?? "unspecified")) };
    },
  },
  shutdown: {
    help: `SHUTDOWN
  shutdown
  Stops the worker that serves this connection, once its other requests are
  answered; the server starts a fresh one in its place. Refused unless the
  server was started with --allow-shutdown: anyone who can connect could
  otherwise keep recycling the workers.
RETURNS
  OK
EXAMPLE
  shutdown
`,
    async run(_argument, _body, services) {
      if (!services.allowShutdown) throw new DepotError("E_BAD_ARGUMENT", "shutdown is disabled on this server (start it with --allow-shutdown)");
      return { text: "OK\n", shutdown: true };
    },
  },
  sign: {
    help: `SIGN
  sign [template]
  <PEM certificate request>
  Signs a certificate request (PKCS#10), so the private key never leaves
  the client. The request follows on the next lines and ends with its
  -----END CERTIFICATE REQUEST----- line. Its signature is checked; its
  subject is used (and, under a server template, its names); the
  extensions are depot's client profile, or those of the template named
  (depot.cnf's [ template NAME ] sections), whatever the request asks for.
RETURNS
  The certificate, PEM.
EXAMPLE
  sign
  -----BEGIN CERTIFICATE REQUEST-----
  MIIBNjCB3QIBADBTMQswCQYDVQQ...
  -----END CERTIFICATE REQUEST-----
`,
    hasBody: true,
    async run(argument, body, services) {
      const words = argument.trim().split(/\s+/).filter(Boolean);
      if (words.length > 1) throw new DepotError("E_BAD_ARGUMENT", "usage: sign [template], then the request on the next lines");
      return { text: await services.sign(body, words[0]) };
    },
  },
};

/** Names in the order `help` lists them. */
export const COMMAND_NAMES = Object.keys(COMMANDS);

/** Whether the request is answered without waiting for a worker's slot (`help`; see Command.takesNoSlot). */
export function answersAtOnce(line: string): boolean {
  return commandNamed(line.split(" ", 1)[0]!)?.takesNoSlot === true;
}

/** Whether lines follow this request line (read up to the end of the PEM request). */
export function expectsBody(line: string): boolean {
  return commandNamed(line.split(" ", 1)[0]!)?.hasBody === true;
}

/** A command by name; only the table's own entries (a client's `constructor` is no command). */
function commandNamed(name: string): Command | undefined {
  const key = name.toLowerCase();
  return Object.hasOwn(COMMANDS, key) ? COMMANDS[key] : undefined;
}

/** Answers one request (its line without the line ending, and the lines after it). Never throws for a client's input. */
export async function answer(line: string, body: string, services: Services, onInternalError: (error: unknown) => void): Promise<Answer> {
  const match = /^(\S+)(?: (.*))?$/s.exec(line);
  if (!match) return errorAnswer(line.trim() === "" ? "empty request" : "a request starts with a command");
  const [, name = "", argument = ""] = match;
  const command = commandNamed(name);
  if (!command) return errorAnswer(`unknown command '${printable(name)}' (commands: ${COMMAND_NAMES.join(" ")})`);
  try {
    return await command.run(argument, body, services);
  } catch (error) {
    // One policy for every face (public-error.ts): the client's mistakes are answered; the server's troubles are also logged, and named without paths.
    const failure = publicError(error);
    if (isServerSide(failure.kind)) onInternalError(error);
    // "busy" first, as a worker with no free slot answers: the client may retry.
    return errorAnswer(failure.kind === "unavailable" ? `busy: ${failure.message}` : failure.message);
  }
}

/** A client learns what failed, not where the depot lives (the policy's last guard, kept here for this module's users). */
export { withoutPaths };

export function errorAnswer(reason: string): Answer {
  return { text: `ERROR ${reason}\n` };
}

/** A client's bytes, made safe to echo in one line. */
function printable(text: string): string {
  const shown = text.length > 40 ? `${text.slice(0, 40)}...` : text;
  return shown.replace(/[^\x20-\x7e]/g, "?");
}
