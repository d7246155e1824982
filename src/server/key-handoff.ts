/**
 * @module
 * An encrypted CA key in a running server. `depot start` decrypts it once;
 * the supervisor keeps the decrypted key in memory (it signs nothing with
 * it) and writes it as the first line on each child's stdin, the lifeline
 * pipe, whenever it spawns one (at start, after a crash, on HUP and TTIN).
 * Never a file, argv or the environment: those can be read by others
 * (/proc/<pid>/environ and cmdline) or outlive the process. A child whose
 * config says `caKeyOnStdin` reads that line before it opens the depot
 * (`readLifeline` in `child-process.ts`); the lines after it are orders.
 */

import type { SshCaKeys } from "../ca/ssh/ssh-ca.ts";

const PREFIX = "key ";

/** The decrypted keys a supervisor hands over: the CA's, and the SSH CAs' when the depot has them (encrypted alike). */
export interface HandedKeys {
  /** The signing CA's key, PKCS#8 PEM. */
  ca: string;
  ssh?: SshCaKeys;
  /** The SCEP RA's key (`depot scep init`), when the depot has one, encrypted alike. */
  scepRa?: string;
}

/** The line the supervisor writes first on a child's stdin (no newline; `Child.send` adds it). */
export function keyHandoffLine(keys: HandedKeys): string {
  return `${PREFIX}${Buffer.from(JSON.stringify(keys)).toString("base64")}`;
}

/**
 * The keys in the first line a child reads from stdin (without its newline;
 * `child-process.ts` reads it), or undefined if the line is no handed-over key.
 */
export function keysFromHandoffLine(line: string): HandedKeys | undefined {
  if (!line.startsWith(PREFIX)) return undefined;
  try {
    const keys = JSON.parse(Buffer.from(line.slice(PREFIX.length), "base64").toString("utf8")) as HandedKeys;
    return typeof keys?.ca === "string" ? keys : undefined;
  } catch {
    return undefined;
  }
}
