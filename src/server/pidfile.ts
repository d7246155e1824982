import { lstatSync, readFileSync, readlinkSync, realpathSync, rmSync } from "node:fs";
import { basename } from "node:path";
import { writeFileAtomic } from "../ca/files.ts";
import { SERVE_COMMAND } from "./self.ts";

/**
 * The pid file holds the supervisor's pid alone, so `kill -QUIT $(cat ~/.depot.pid)`
 * works. Beside it, `<pid file>.json` holds what `depot status` shows, and the
 * supervisor's start time, which tells a live depot from an unrelated process
 * that was given the same pid after a crash.
 */
export interface ServerState {
  pid: number;
  /** Field 22 of /proc/<pid>/stat: clock ticks since boot when the process started. */
  startTime: string | undefined;
  /** The first listener's address (kept for older readers of the file). */
  host: string;
  port: number;
  /** Every listener, in the order given. */
  listeners?: { kind: string; host: string; port: number }[];
  depot: string;
  workers: number[];
}

const stateFile = (pidFile: string) => `${pidFile}.json`;

export function writePidFile(pidFile: string, state: ServerState): void {
  writeFileAtomic(stateFile(pidFile), `${JSON.stringify(state)}\n`);
  writeFileAtomic(pidFile, `${state.pid}\n`);
}

export function updateState(pidFile: string, state: ServerState): void {
  writeFileAtomic(stateFile(pidFile), `${JSON.stringify(state)}\n`);
}

/** Removes the pid file, only if it still names `pid` (a newer server may own it). */
export function removePidFile(pidFile: string, pid = process.pid): void {
  if (readPid(pidFile) !== pid) return;
  rmSync(pidFile, { force: true });
  rmSync(stateFile(pidFile), { force: true });
}

export function readPid(pidFile: string): number | undefined {
  try {
    const pid = Number(readFileSync(pidFile, "utf8").trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

export type PidFileStatus =
  | { kind: "none" }
  /** Planted or loosened by someone else: never acted on. */
  | { kind: "untrusted"; reason: string }
  | { kind: "stale"; pid: number }
  | { kind: "running"; pid: number; state: ServerState };

/**
 * What a pid file says, trusted only as far as it deserves: the file and
 * its `.json` must be regular files owned by this user and writable by no
 * one else (in a shared folder another user could plant them), and the
 * process they name must be alive, started when the `.json` says, and be a
 * depot supervisor by its executable and command line.
 */
export function inspectPidFile(pidFile: string): PidFileStatus {
  const pid = readPid(pidFile);
  if (pid === undefined) return { kind: "none" };
  for (const path of [pidFile, stateFile(pidFile)]) {
    const distrust = distrustOf(path);
    if (distrust) return { kind: "untrusted", reason: `${path} ${distrust}` };
  }
  if (!isAlive(pid)) return { kind: "stale", pid };
  // Only a process whose start time is the one our supervisor recorded is
  // ours: anything else (a reused pid, a hand-written file) is never signalled.
  const state = readState(pidFile);
  if (!state || state.pid !== pid || state.startTime === undefined || state.startTime !== processStartTime(pid) || !isDepotSupervisor(pid)) {
    return { kind: "stale", pid };
  }
  return { kind: "running", pid, state };
}

/** Why a file of the pid file's pair is not to be trusted, or undefined (a missing file is judged elsewhere). */
function distrustOf(path: string): string | undefined {
  let stats;
  try {
    stats = lstatSync(path);
  } catch {
    return undefined;
  }
  if (!stats.isFile()) return "is not a regular file";
  const uid = process.getuid?.();
  if (uid !== undefined && stats.uid !== uid) return `belongs to another user (uid ${stats.uid})`;
  if (stats.mode & 0o022) return "is writable by others";
  return undefined;
}

/**
 * Whether `pid` runs depot's server: its executable is depot (or Bun
 * running depot's main script) and its arguments are a server's (`start`,
 * the daemon's hidden command, options only, or none). A process we may not
 * inspect (another user's) is not ours.
 */
export function isDepotSupervisor(pid: number): boolean {
  let exe: string;
  let args: string[];
  try {
    exe = readlinkSync(`/proc/${pid}/exe`).replace(/ \(deleted\)$/, "");
    args = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
  } catch {
    return false;
  }
  if (args.at(-1) === "") args.pop();
  let rest: string[];
  if (basename(exe) === "depot" || exe === ownExecutable()) {
    rest = Bun.isStandaloneExecutable || basename(exe) === "depot" ? args.slice(1) : args.slice(2);
  } else if (/^bun(-debug)?$/.test(basename(exe)) && /(^|\/)(main\.ts|depot(\.js)?)$/.test(args[1] ?? "")) {
    rest = args.slice(2);
  } else {
    return false;
  }
  const [first] = rest;
  return first === undefined || first === "start" || first === SERVE_COMMAND || first.startsWith("-");
}

function ownExecutable(): string {
  try {
    return realpathSync(process.execPath);
  } catch {
    return process.execPath;
  }
}

function readState(pidFile: string): ServerState | undefined {
  try {
    return JSON.parse(readFileSync(stateFile(pidFile), "utf8")) as ServerState;
  } catch {
    return undefined;
  }
}

/** Whether `pid` runs; a zombie (exited, not yet reaped by its parent) does not. */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat[stat.lastIndexOf(")") + 2] !== "Z";
  } catch {
    return false;
  }
}

export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) may hold spaces; fields after its ')' are plain.
    return stat.slice(stat.lastIndexOf(")") + 2).split(" ")[19];
  } catch {
    return undefined;
  }
}
