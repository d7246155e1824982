/**
 * @module
 * An encrypted CA key in a running server. `depot start` decrypts it once;
 * the supervisor keeps the decrypted key in memory (it signs nothing with
 * it) and writes it as the first line on each child's stdin, the lifeline
 * pipe, whenever it spawns one (at start, after a crash, on HUP and TTIN).
 * Never a file, argv or the environment: those can be read by others
 * (/proc/<pid>/environ and cmdline) or outlive the process. A child whose
 * config says `caKeyOnStdin` reads that line before it opens the depot.
 */

const PREFIX = "key ";

/** The line the supervisor writes first on a child's stdin (no newline; `Child.send` adds it). */
export function keyHandoffLine(privateKeyPem: string): string {
  return `${PREFIX}${Buffer.from(privateKeyPem).toString("base64")}`;
}

/**
 * The key a child's supervisor handed over, read from stdin up to the first
 * newline. The supervisor writes nothing else before the child says it is
 * ready, so no later line is read here; the caller then reads stdin afresh
 * as its lifeline. Undefined if stdin ends first (the supervisor is gone).
 */
export async function receiveCaKey(): Promise<string | undefined> {
  const reader = Bun.stdin.stream().getReader();
  const decoder = new TextDecoder();
  let text = "";
  try {
    while (!text.includes("\n")) {
      const { done, value } = await reader.read();
      if (done) return undefined;
      text += decoder.decode(value, { stream: true });
    }
  } finally {
    reader.releaseLock();
  }
  const line = text.slice(0, text.indexOf("\n"));
  if (!line.startsWith(PREFIX)) return undefined;
  return Buffer.from(line.slice(PREFIX.length), "base64").toString("utf8");
}
