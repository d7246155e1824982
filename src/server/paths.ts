import { homedir } from "node:os";
import { join } from "node:path";

/** The depot `depot start` serves when no path is given: $DEPOT_PATH, else $XDG_DATA_HOME/depot. */
export function defaultDepotPath(env = process.env): string {
  if (env.DEPOT_PATH) return env.DEPOT_PATH;
  const dataHome = env.XDG_DATA_HOME || join(home(env), ".local", "share");
  return join(dataHome, "depot");
}

/** `~/.depot.pid`, so that `kill -QUIT $(cat ~/.depot.pid)` works as written. */
export function defaultPidFile(env = process.env): string {
  return join(home(env), ".depot.pid");
}

/** The original's order: the system log if we may write it, else the user's. */
export function defaultLogFiles(env = process.env): string[] {
  return ["/var/log/depot.log", join(home(env), "depot.log")];
}

function home(env: NodeJS.ProcessEnv): string {
  return env.HOME || homedir();
}
