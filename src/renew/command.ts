/**
 * @module
 * `depot renew --exec CMD`: the command run after each renewal (e.g.
 * `systemctl reload nginx`), with `sh -c`, DEPOT_CERT, DEPOT_KEY and
 * DEPOT_SERIAL in its environment, its output kept for the log line, and
 * killed after a minute.
 */
import { messageOf } from "../errors.ts";
import { howItEnded, runShellCommand } from "../shell-command.ts";

export const EXEC_TIMEOUT_MS = 60_000;

/** Runs the command; resolves with one line saying how it ended (never throws). */
export async function runAfterRenewal(command: string, env: { cert: string; key: string; serial: string }, timeoutMs = EXEC_TIMEOUT_MS): Promise<{ ok: boolean; line: string }> {
  try {
    const outcome = await runShellCommand(command, { DEPOT_CERT: env.cert, DEPOT_KEY: env.key, DEPOT_SERIAL: env.serial }, timeoutMs);
    return { ok: outcome.exitCode === 0, line: `--exec \`${command}\` ${howItEnded(outcome, timeoutMs)}` };
  } catch (error) {
    return { ok: false, line: `--exec \`${command}\` could not be run: ${messageOf(error)}` };
  }
}
