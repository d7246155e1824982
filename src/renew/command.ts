/**
 * @module
 * `depot renew --exec CMD`: the command run after each renewal (e.g.
 * `systemctl reload nginx`), with `sh -c`, DEPOT_CERT, DEPOT_KEY and
 * DEPOT_SERIAL in its environment, its output kept for the log line, and
 * killed after a minute.
 */
import { messageOf } from "../errors.ts";

export const EXEC_TIMEOUT_MS = 60_000;

/** Runs the command; resolves with one line saying how it ended (never throws). */
export async function runAfterRenewal(command: string, env: { cert: string; key: string; serial: string }, timeoutMs = EXEC_TIMEOUT_MS): Promise<{ ok: boolean; line: string }> {
  let child: ReturnType<typeof Bun.spawn<"ignore", "pipe", "pipe">>;
  try {
    child = Bun.spawn(["sh", "-c", command], {
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
      env: { ...process.env, DEPOT_CERT: env.cert, DEPOT_KEY: env.key, DEPOT_SERIAL: env.serial },
    });
  } catch (error) {
    return { ok: false, line: `--exec \`${command}\` could not be run: ${messageOf(error)}` };
  }
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill("SIGKILL");
  }, timeoutMs);
  const [stdout, stderr] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  clearTimeout(timer);
  const ok = child.exitCode === 0;
  const how = timedOut ? `was killed after ${timeoutMs / 1000} s` : child.exitCode !== null ? `exited with status ${child.exitCode}` : `was ended by ${child.signalCode}`;
  const output = (stdout + stderr).trim().slice(-500).replace(/\s*\n\s*/g, " | ");
  return { ok, line: `--exec \`${command}\` ${how}${!ok && output ? `: ${output}` : ""}` };
}
