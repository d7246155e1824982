/**
 * @module
 * A running server's processes as /proc tells them, for the benches: the
 * supervisor and its children (upkeep, workers), each one's CPU time, role
 * and memory. A process gone meanwhile is simply left out.
 */
import { readdirSync, readFileSync } from "node:fs";

export interface ProcessReading {
  pid: number;
  /** `supervisor` for the root, else the hidden command it runs (`__worker`, `__upkeep`). */
  role: string;
  /** User + system CPU time so far, in seconds. */
  cpuSeconds: number;
  /** From smaps_rollup: PSS (the binary's pages shared out fairly) and its anonymous part; VmHWM from status. In MB. */
  pssMb: number;
  pssAnonMb: number;
  hwmMb: number;
}

/** The root and its children, as pids. */
export function treePids(root: number): number[] {
  return [root, ...Bun.spawnSync(["pgrep", "-P", String(root)]).stdout.toString().split(/\s+/).filter(Boolean).map(Number)];
}

/** CPU seconds of one process in user space and in the kernel (in 10 ms ticks: for the split, not for totals); zeros once it is gone. */
export function cpuSplitOf(pid: number): { user: number; system: number } {
  try {
    // After the command's closing parenthesis: utime is the 12th field, stime the 13th.
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return { user: Number(fields[11]) / 100, system: Number(fields[12]) / 100 };
  } catch {
    return { user: 0, system: 0 };
  }
}

/** Each thread's run time when last read, in ns, by "pid/tid": a thread that has exited keeps counting with it. */
const threadRunTime = new Map<string, number>();

/**
 * CPU seconds (user + system) of one process, to the nanosecond: its
 * threads' run time from /proc/PID/task/TID/schedstat. /proc/PID/stat
 * counts 10 ms ticks, which put ±1 tick of noise (±6 % at 24 lego orders of
 * 6.5 ms) on each side of a reading. A thread that exits (Bun's pool
 * threads do) counts with its time when last read, so a difference of two
 * readings never goes negative; it misses only what the thread ran after
 * the earlier one. 0 for a process never read while alive.
 */
export function cpuSecondsOf(pid: number): number {
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        threadRunTime.set(`${pid}/${tid}`, Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]));
      } catch {
        // Exited meanwhile: its last reading stands.
      }
    }
  } catch {
    // The process is gone: its threads' last readings stand.
  }
  let nanoseconds = 0;
  const prefix = `${pid}/`;
  for (const [key, ns] of threadRunTime) if (key.startsWith(prefix)) nanoseconds += ns;
  return nanoseconds / 1e9;
}

/** CPU seconds of the root and its children, together. */
export function treeCpuSeconds(root: number): number {
  return treePids(root).reduce((sum, pid) => sum + cpuSecondsOf(pid), 0);
}

/** The hidden command a child runs (`__worker`, `__upkeep`); `child` when it cannot be read. */
export function roleOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean).at(-1) ?? "child";
  } catch {
    return "child";
  }
}

/** One reading of each process of the tree (memory too: a few /proc reads per process). */
export function readTree(root: number): ProcessReading[] {
  const readings: ProcessReading[] = [];
  for (const pid of treePids(root)) {
    try {
      const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, "utf8");
      const status = readFileSync(`/proc/${pid}/status`, "utf8");
      const mb = (text: string, field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(text)?.[1] ?? 0) / 1024;
      const role = pid === root ? "supervisor" : roleOf(pid);
      readings.push({ pid, role, cpuSeconds: cpuSecondsOf(pid), pssMb: mb(rollup, "Pss"), pssAnonMb: mb(rollup, "Pss_Anon"), hwmMb: mb(status, "VmHWM") });
    } catch {
      // Gone meanwhile.
    }
  }
  return readings;
}

/** Nanoseconds of CPU so far by "role thread-name", each thread apart (`pid/tid`), over the server's processes: exact, from schedstat. */
export type ThreadTimes = Map<string, Map<string, number>>;

export function threadTimes(root: number): ThreadTimes {
  const byThread: ThreadTimes = new Map();
  for (const pid of treePids(root)) {
    const role = pid === root ? "supervisor" : roleOf(pid);
    try {
      for (const tid of readdirSync(`/proc/${pid}/task`)) {
        const task = `/proc/${pid}/task/${tid}`;
        const key = `${role} ${readFileSync(`${task}/comm`, "utf8").trim()}`;
        const threads = byThread.get(key) ?? new Map<string, number>();
        threads.set(`${pid}/${tid}`, Number(readFileSync(`${task}/schedstat`, "utf8").split(" ")[0]));
        byThread.set(key, threads);
      }
    } catch {
      // A process or thread gone meanwhile is left out.
    }
  }
  return byThread;
}

/** Milliseconds of CPU spent between two readings, by "role thread-name"; a thread that started meanwhile counts from 0. */
export function threadMsBetween(before: ThreadTimes, after: ThreadTimes): Map<string, number> {
  const ms = new Map<string, number>();
  for (const [key, threads] of after) {
    let nanoseconds = 0;
    for (const [id, total] of threads) nanoseconds += total - (before.get(key)?.get(id) ?? 0);
    ms.set(key, nanoseconds / 1e6);
  }
  return ms;
}
