/**
 * @module
 * Each worker kept on one CPU (`--cpu-affinity auto`, the default; nginx's
 * `worker_cpu_affinity auto`) while its work is its event loop's: the
 * supervisor spreads its workers over the CPUs it may itself run on, the
 * fewest workers on each, and pins each worker's main thread once it is
 * ready; every thread it starts after inherits that CPU.
 * Not at spawn: a runtime started on one CPU sizes itself for one for good
 * (`os.availableParallelism()` and `navigator.hardwareConcurrency` read 1).
 *
 * Why: a worker's requests each wake its event loop, and a wake on another
 * CPU than the last finds its caches cold. Measured under lego's ACME
 * orders on a 2-core guest (docs/performance.md, "2026-12-07"): 3-5 % less
 * server CPU an order as below (7-8 % with every thread pinned).
 *
 * Except the runtime's thread pool ("Bun Pool" threads, where keys are
 * made): a burst that lands on one worker should still use every CPU, so
 * each second the supervisor lets those threads run on every CPU
 * (`WorkerPinning`). And while the pool spends half a CPU's time or more
 * (RSA keys made on demand), the whole worker runs free until the pool has
 * been quiet for a minute: the kernel balances CPU-bound threads better
 * than a fixed placement, and keys come in bursts (pinned again after 3 s,
 * each 20 s burst of `bench/rsa-ab.ts` cost ~2-3 %).
 *
 * RSA keys made on demand cost nothing side by side with `off`
 * (`bench/rsa-ab.ts`: 0.996 and 1.016 of its rate, two runs). What it
 * gives up: the kernel can no longer move an event loop off a CPU that
 * something else keeps busy; `off` leaves placement to the kernel. The
 * pinning is sched_setaffinity(2) through bun:ffi, loaded on first use
 * (only the supervisor loads it). A pin that fails (a sandbox that forbids
 * it) leaves that worker where the kernel puts it.
 */
import { readdirSync, readFileSync } from "node:fs";

export type CpuAffinity = "auto" | "off";

/** Lets thread `tid` (a process's main thread: its pid) run on `cpus` only; false when the system refused. */
export type PinThread = (tid: number, cpus: readonly number[]) => boolean;

export interface WorkerThread {
  tid: number;
  /** One of the runtime's thread pool (where keys are made). */
  pool: boolean;
  /** Its CPU time so far, in ms (0 when the system does not say). */
  cpuMs: number;
}

/** What the supervisor pins workers with (a seam: unit tests pass fakes). */
export interface WorkerCpus {
  /** The CPUs the workers are spread over (and their helper threads run on). */
  cpus: readonly number[];
  pin: PinThread;
  /** A process's threads other than its main thread, the pool's marked, with their CPU time. */
  threads: (pid: number) => WorkerThread[];
}

/** The CPUs this process may run on (its `Cpus_allowed_list`), or undefined when the system does not say. */
export function allowedCpus(status?: string): number[] | undefined {
  let text = status;
  try {
    text ??= readFileSync("/proc/self/status", "utf8");
  } catch {
    return undefined;
  }
  const list = /^Cpus_allowed_list:\s*(\S+)/m.exec(text)?.[1];
  return list === undefined ? undefined : parseCpuList(list);
}

/** A kernel CPU list ("0-3,8,10-11") as numbers, ascending; throws on anything else. */
export function parseCpuList(list: string): number[] {
  const cpus = new Set<number>();
  for (const part of list.split(",")) {
    const range = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!range) throw new Error(`not a CPU list: ${list}`);
    const first = Number(range[1]);
    const last = range[2] === undefined ? first : Number(range[2]);
    if (last < first) throw new Error(`not a CPU list: ${list}`);
    for (let cpu = first; cpu <= last; cpu++) cpus.add(cpu);
  }
  return [...cpus].sort((a, b) => a - b);
}

/** Which CPU each live worker is on: a new worker goes where the fewest are (the lowest such CPU). */
export class CpuPlacement {
  private readonly placed = new Map<number, number>();

  constructor(private readonly cpus: readonly number[]) {
    if (cpus.length === 0) throw new Error("no CPU to place workers on");
  }

  place(pid: number): number {
    const load = new Map(this.cpus.map((cpu) => [cpu, 0]));
    for (const cpu of this.placed.values()) load.set(cpu, (load.get(cpu) ?? 0) + 1);
    let best = this.cpus[0]!;
    for (const cpu of this.cpus) if (load.get(cpu)! < load.get(best)!) best = cpu;
    this.placed.set(pid, best);
    return best;
  }

  leave(pid: number): void {
    this.placed.delete(pid);
  }
}

/** Where a thread is let run: its worker's CPU, or every CPU. */
export type Where = "cpu" | "all";

/** The share of a second's CPU time a worker's thread pool must spend for the worker to be let run free. */
const POOL_BUSY_SHARE = 0.5;
/**
 * Sweeps (seconds) with the pool quiet before a free worker is pinned
 * again. With 3, RSA keys on demand came 0.971-0.981 of `off`'s rate side by
 * side (`bench/rsa-ab.ts`, 20 s bursts 25 s apart, three runs), each burst
 * starting pinned; with 60, 0.996.
 */
const QUIET_SWEEPS = 60;

/**
 * One pinned worker's threads, sweep by sweep: its pool on every CPU, the
 * rest on its CPU; every thread (the main one too) on every CPU while the
 * pool is busy.
 */
export class WorkerPinning {
  /** Where each thread but the main one was last put. */
  private placed = new Map<number, Where>();
  private poolMs: number | undefined;
  private sweptAt: number | undefined;
  private free = false;
  private quietSweeps = 0;

  constructor(
    readonly pid: number,
    readonly cpu: number,
  ) {}

  /** The pins to make now (the main thread's first, when the worker's mode changes), given its threads and the time. */
  sweep(threads: readonly WorkerThread[], now: number): [tid: number, where: Where][] {
    const pins: [number, Where][] = [];
    const poolMs = threads.reduce((sum, t) => sum + (t.pool ? t.cpuMs : 0), 0);
    // A pool thread that ended takes its time with it: no negative spend.
    const spent = this.poolMs === undefined ? 0 : Math.max(0, poolMs - this.poolMs);
    const busy = this.sweptAt !== undefined && now > this.sweptAt && spent >= POOL_BUSY_SHARE * (now - this.sweptAt);
    this.poolMs = poolMs;
    this.sweptAt = now;
    this.quietSweeps = busy ? 0 : this.quietSweeps + 1;
    if (busy !== this.free && (busy || this.quietSweeps >= QUIET_SWEEPS)) {
      this.free = busy;
      pins.push([this.pid, busy ? "all" : "cpu"]);
    }
    const placed = new Map<number, Where>();
    for (const { tid, pool } of threads) {
      const where: Where = this.free || pool ? "all" : "cpu";
      // Once each, refused or not (a thread the system will not move stays where it is), and
      // again when it changes: a new thread bears its creator's name until it names itself.
      if (this.placed.get(tid) !== where) pins.push([tid, where]);
      placed.set(tid, where);
    }
    this.placed = placed;
    return pins;
  }
}

/** The largest CPU number a mask here can name (1024 bits, glibc's cpu_set_t). */
const MASK_BITS = 1024;

let setAffinity: ((pid: number, bytes: number, mask: NodeJS.TypedArray) => number) | undefined;

export const pinThread: PinThread = (tid, cpus) => {
  if (cpus.length === 0 || cpus.some((cpu) => !Number.isInteger(cpu) || cpu < 0 || cpu >= MASK_BITS)) return false;
  try {
    setAffinity ??= loadSetAffinity();
    const mask = new BigUint64Array(MASK_BITS / 64);
    for (const cpu of cpus) mask[cpu >> 6]! |= 1n << BigInt(cpu & 63);
    return setAffinity(tid, mask.byteLength, mask) === 0;
  } catch {
    // No libc to load (not glibc), or no FFI: the kernel places the thread.
    return false;
  }
};

/** The runtime's thread pool, by the name Bun gives its threads ("Bun Pool 0", ...). */
const POOL_THREAD = /^Bun Pool/;
/** The kernel's clock ticks in /proc's stat files (USER_HZ, 100 on Linux). */
const TICK_MS = 10;

/** The threads of `pid` but its main thread, the pool's marked, with their CPU time; none once it is gone. If the runtime named its pool otherwise, the pool would stay pinned. */
export function threadsOf(pid: number): WorkerThread[] {
  let tids: number[];
  try {
    tids = readdirSync(`/proc/${pid}/task`)
      .map(Number)
      .filter((tid) => tid !== pid);
  } catch {
    return [];
  }
  return tids.map((tid) => {
    const stat = readThreadFile(pid, tid, "stat");
    // After the name's closing parenthesis: state is field 3, utime and stime fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    const cpuMs = (Number(fields[11]) + Number(fields[12])) * TICK_MS;
    const name = /\((.*)\)/s.exec(stat)?.[1] ?? "";
    return { tid, pool: POOL_THREAD.test(name), cpuMs: Number.isFinite(cpuMs) ? cpuMs : 0 };
  });
}

function readThreadFile(pid: number, tid: number, file: string): string {
  try {
    return readFileSync(`/proc/${pid}/task/${tid}/${file}`, "utf8");
  } catch {
    return "";
  }
}

function loadSetAffinity(): (pid: number, bytes: number, mask: NodeJS.TypedArray) => number {
  // Required here, not imported at the top: only a supervisor that pins loads bun:ffi.
  const { dlopen, FFIType, ptr } = require("bun:ffi") as typeof import("bun:ffi");
  const libc = dlopen("libc.so.6", { sched_setaffinity: { args: [FFIType.i32, FFIType.u64, FFIType.ptr], returns: FFIType.i32 } });
  return (pid, bytes, mask) => libc.symbols.sched_setaffinity(pid, bytes, ptr(mask)) as number;
}
