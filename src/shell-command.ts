/**
 * @module
 * A command an operator configured, run after an event (`--on-crl-change`,
 * `depot renew --exec`): `sh -c` with the event's variables added to the
 * environment, its output captured (a server process's stdout is its
 * message pipe), killed after a time limit, and one phrase saying how it
 * ended.
 */

export interface CommandOutcome {
  command: string;
  exitCode: number | null;
  /** The signal that ended it (SIGKILL when it ran past the limit). */
  signal: string | null;
  timedOut: boolean;
  /** The end of what it printed, for a message when it failed. */
  output: string;
}

/** Runs `sh -c command`; throws only when it cannot be started. */
export async function runShellCommand(command: string, env: Record<string, string>, timeoutMs: number): Promise<CommandOutcome> {
  const child = Bun.spawn(["sh", "-c", command], { stdin: "ignore", stdout: "pipe", stderr: "pipe", env: { ...process.env, ...env } });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill("SIGKILL");
  }, timeoutMs);
  const [stdout, stderr] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  clearTimeout(timer);
  return {
    command,
    exitCode: child.exitCode,
    signal: child.signalCode === null ? null : String(child.signalCode),
    timedOut,
    output: (stdout + stderr).trim().slice(-500),
  };
}

/** How it ended, e.g. "exited with status 1: its output | on one line". */
export function howItEnded(outcome: CommandOutcome, timeoutMs: number): string {
  const how = outcome.timedOut ? `was killed after ${timeoutMs / 1000} s` : outcome.exitCode !== null ? `exited with status ${outcome.exitCode}` : `was ended by ${outcome.signal}`;
  const output = outcome.exitCode !== 0 && outcome.output ? `: ${outcome.output.replace(/\s*\n\s*/g, " | ")}` : "";
  return `${how}${output}`;
}
