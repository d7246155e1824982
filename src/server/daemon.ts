/**
 * @module
 * `--daemon`: the starting command runs a background copy of the server
 * (the hidden command `__serve`, in a new session, its stdout and stderr on
 * the log file), hands it the `ServerOptions` as one JSON line on its stdin
 * (never argv or the environment: a later CA passphrase travels the same
 * way), and waits on a pipe (fd 3, `starter.ts`) until the copy says
 * `ready <pid>` or `error <reason>`.
 */
import { DepotError } from "../errors.ts";
import type { ServerOptions } from "./options.ts";
import { openLogFile } from "./log.ts";
import { addressOf } from "./listeners/types.ts";
import { currentSelfCommand, SERVE_COMMAND } from "./self.ts";
import { READY_FD_ENV } from "./starter.ts";
import { SERVER_SETTINGS } from "./runtime-settings.ts";

/** Starts the background server; resolves with 0 once it is ready, or throws its reason. */
export async function startDaemon(options: ServerOptions, logFile: string | undefined): Promise<number> {
  const output = logFile ? openLogFile(logFile) : "ignore";
  const child = Bun.spawn([...currentSelfCommand(), SERVE_COMMAND], {
    stdio: ["pipe", output, output, "pipe"],
    // The supervisor's runtime settings (runtime-settings.ts); the user's own win.
    env: { ...SERVER_SETTINGS, ...process.env, [READY_FD_ENV]: "3" },
    detached: true,
  });
  child.stdin.write(`${JSON.stringify(options)}\n`);
  await child.stdin.end();
  const reply = (await new Response(Bun.file(child.stdio[3] as unknown as number).stream()).text()).trim();
  child.unref();
  if (reply.startsWith("ready ")) {
    const where = options.listeners.map(addressOf).join(", ");
    console.log(`depot started in the background (pid ${reply.slice(6)}), listening on ${where}; the log goes to ${logFile ?? "nowhere (no writable log file)"}`);
    return 0;
  }
  const why = reply.startsWith("error ") ? reply.slice(6) : `the server stopped during start-up${logFile ? `; see ${logFile}` : ""}`;
  throw new DepotError("E_SERVER", why);
}
