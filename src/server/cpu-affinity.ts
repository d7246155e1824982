/**
 * @module
 * Each worker kept on one CPU with `--cpu-affinity auto` (nginx's
 * `worker_cpu_affinity auto`; off by default, see below): the supervisor
 * spreads its workers over the CPUs it may itself run on, the fewest
 * workers on each, and pins each new worker's main thread, whose CPU every
 * thread it starts inherits.
 *
 * Why: a worker's requests each wake its event loop, and a wake on another
 * CPU than the last finds its caches cold. Measured under lego's ACME
 * orders on a 2-core guest (docs/performance.md, "2026-12-07, day"): 7-8 %
 * less server CPU an order, lower in 15 of 16 interleaved rounds; with only
 * the main thread pinned (the GC's helpers and mimalloc's free to roam)
 * the gain was ~5 %.
 *
 * Except the runtime's thread pool, where RSA keys are made: a burst that
 * lands on one worker should still use every CPU. Its threads start as the
 * pool is used, pinned like their creator, so the supervisor lets them run
 * on every CPU as it finds them (`threadsOf`, each second); a thread that
 * started before the pin it moves to the worker's CPU.
 *
 * What it gives up, and why it is not the default: the kernel can no
 * longer move a worker off a CPU that something else keeps busy, and RSA
 * keys made on demand came 6-8 % slower (`bench/run.ts --only rsa`: 0.87-0.91
 * of the reference pinned, 0.91-0.96 not, alternating runs), the thread
 * pool free or not; why is not known yet. `off` leaves placement to the
 * kernel. The pinning is sched_setaffinity(2) through bun:ffi, loaded on
 * first use (only the supervisor loads it). A pin that fails (a sandbox
 * that forbids it) leaves that worker where the kernel puts it.
 */
import { readdirSync, readFileSync } from "node:fs";

export type CpuAffinity = "auto" | "off";

/** Lets thread `tid` (a process's main thread: its pid) run on `cpus` only; false when the system refused. */
export type PinThread = (tid: number, cpus: readonly number[]) => boolean;

export interface WorkerThread {
  tid: number;
  pool: boolean;
}

/** What the supervisor pins workers with (a seam: unit tests pass fakes). */
export interface WorkerCpus {
  /** The CPUs the workers are spread over (and their helper threads run on). */
  cpus: readonly number[];
  pin: PinThread;
  /** A process's threads other than its main thread, and which are its runtime's thread pool (where keys are made). */
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

  cpuOf(pid: number): number | undefined {
    return this.placed.get(pid);
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

/** The threads of `pid` but its main thread, the pool's marked; none once it is gone. If the runtime named its pool otherwise, the pool would stay pinned. */
export function threadsOf(pid: number): WorkerThread[] {
  try {
    return readdirSync(`/proc/${pid}/task`)
      .map(Number)
      .filter((tid) => tid !== pid)
      .map((tid) => ({ tid, pool: POOL_THREAD.test(readThreadName(pid, tid)) }));
  } catch {
    return [];
  }
}

function readThreadName(pid: number, tid: number): string {
  try {
    return readFileSync(`/proc/${pid}/task/${tid}/comm`, "utf8");
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
