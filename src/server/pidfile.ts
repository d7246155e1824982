import { readFileSync, rmSync } from "node:fs";
import { writeFileAtomic } from "../ca/files.ts";

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
  | { kind: "stale"; pid: number }
  | { kind: "running"; pid: number; state: ServerState };

export function inspectPidFile(pidFile: string): PidFileStatus {
  const pid = readPid(pidFile);
  if (pid === undefined) return { kind: "none" };
  if (!isAlive(pid)) return { kind: "stale", pid };
  // Only a process whose start time is the one our supervisor recorded is
  // ours: anything else (a reused pid, a hand-written file) is never signalled.
  const state = readState(pidFile);
  if (!state || state.pid !== pid || state.startTime === undefined || state.startTime !== processStartTime(pid)) {
    return { kind: "stale", pid };
  }
  return { kind: "running", pid, state };
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
