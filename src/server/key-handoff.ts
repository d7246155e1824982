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

const PREFIX = "key ";

/** The line the supervisor writes first on a child's stdin (no newline; `Child.send` adds it). */
export function keyHandoffLine(privateKeyPem: string): string {
  return `${PREFIX}${Buffer.from(privateKeyPem).toString("base64")}`;
}

/**
 * The key in the first line a child reads from stdin (without its newline;
 * `child-process.ts` reads it), or undefined if the line is no handed-over key.
 */
export function caKeyFromHandoffLine(line: string): string | undefined {
  if (!line.startsWith(PREFIX)) return undefined;
  return Buffer.from(line.slice(PREFIX.length), "base64").toString("utf8");
}
