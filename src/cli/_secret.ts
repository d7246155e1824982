/**
 * @module
 * Reading a secret (a PKCS#12 password, the CA key's passphrase) the three
 * ways depot allows: from a file (`--password-file`), from an environment
 * variable the user names (`--password-env`), or from a prompt without echo
 * on a terminal. Never from argv: every local user can read a process's
 * command line in /proc.
 */
import { readFileSync } from "node:fs";
import { DepotError, ioError } from "../errors.ts";

export interface SecretSource {
  /** What is asked for, in words: "PKCS#12 password", "CA key passphrase". Every prompt and message says it. */
  what: string;
  /** A file whose first line is the secret (`--password-file FILE`). */
  file?: string;
  /** The name of an environment variable holding the secret (`--password-env NAME`). */
  env?: string;
  /** On a terminal, ask twice and insist on the same answer (for a new secret). */
  confirm?: boolean;
}

/** Longest secret file read: a passphrase, not a document. */
const MAX_SECRET_FILE_BYTES = 64 * 1024;

/**
 * The secret, from the file if one is named, else the environment variable
 * if one is named, else a prompt on the terminal. Without any of them (no
 * terminal), an error that says which options give it.
 */
export async function readSecret(options: SecretSource): Promise<string> {
  const { what } = options;
  let secret: string;
  if (options.file !== undefined) secret = fromFile(options.file, what);
  else if (options.env !== undefined) secret = fromEnv(options.env, what);
  else if (process.stdin.isTTY) secret = await fromPrompt(what, options.confirm === true);
  else throw new DepotError("E_BAD_ARGUMENT", `no terminal to ask for the ${what}: give it in a file or an environment variable (see --help)`);
  if (secret === "") throw new DepotError("E_BAD_ARGUMENT", `the ${what} is empty`);
  return secret;
}

function fromFile(path: string, what: string): string {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path === "-" ? 0 : path);
  } catch (error) {
    throw ioError(`read the ${what} from`, path, error);
  }
  if (bytes.length > MAX_SECRET_FILE_BYTES) throw new DepotError("E_BAD_ARGUMENT", `${path} is too large to hold the ${what}`);
  // The first line, as `openssl -passin file:` reads it.
  return bytes.toString("utf8").split(/\r?\n/)[0]!;
}

function fromEnv(name: string, what: string): string {
  const value = process.env[name];
  if (value === undefined) throw new DepotError("E_BAD_ARGUMENT", `environment variable ${name} (the ${what}) is not set`);
  return value;
}

async function fromPrompt(what: string, confirm: boolean): Promise<string> {
  const first = await promptHidden(`${capitalise(what)}: `, what);
  if (!confirm) return first;
  const second = await promptHidden(`${capitalise(what)} again: `, what);
  if (first !== second) throw new DepotError("E_BAD_ARGUMENT", `the two ${what}s differ`);
  return first;
}

const capitalise = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);

/** One line typed on the terminal in raw mode, so nothing is echoed. */
function promptHidden(prompt: string, what: string): Promise<string> {
  const stdin = process.stdin;
  // Raw mode (no echo) before the prompt: an answer typed the moment it shows must not be echoed.
  stdin.setRawMode(true);
  stdin.resume();
  process.stderr.write(prompt);
  return new Promise((resolve, reject) => {
    let typed = "";
    const finish = (error?: DepotError) => {
      stdin.off("data", onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write("\n");
      if (error) reject(error);
      else resolve(typed);
    };
    const onData = (chunk: Buffer) => {
      for (const char of chunk.toString("utf8")) {
        if (char === "\r" || char === "\n") return finish();
        if (char === "\u0003") return finish(new DepotError("E_BAD_ARGUMENT", `interrupted while asking for the ${what}`));
        if (char === "\u0004") return finish(new DepotError("E_BAD_ARGUMENT", `no ${what} given`));
        if (char === "\u007f" || char === "\b") typed = [...typed].slice(0, -1).join("");
        else if (char === "\u0015") typed = ""; // Ctrl-U: start again
        else if (char >= " ") typed += char;
      }
    };
    stdin.on("data", onData);
  });
}
