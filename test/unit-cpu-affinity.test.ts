// --cpu-affinity's pieces: the kernel's CPU lists, where a new worker goes,
// and a real pin of a real process read back from /proc.
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { allowedCpus, CpuPlacement, parseCpuList, pinThread, threadsOf, WorkerPinning } from "../src/server/cpu-affinity.ts";

test("a kernel CPU list is read as the CPUs it names; anything else is refused", () => {
  expect(parseCpuList("0")).toEqual([0]);
  expect(parseCpuList("0-3,8,10-11")).toEqual([0, 1, 2, 3, 8, 10, 11]);
  expect(parseCpuList("4,0-1")).toEqual([0, 1, 4]);
  for (const bad of ["", "a", "3-1", "1,,2", "-1"]) expect(() => parseCpuList(bad)).toThrow("not a CPU list");
  expect(allowedCpus("Name:\tdepot\nCpus_allowed:\t3\nCpus_allowed_list:\t0-1\n")).toEqual([0, 1]);
  expect(allowedCpus("Name:\tdepot\n")).toBeUndefined();
});

test("a new worker goes to the CPU with the fewest, the lowest of a tie; one that leaves frees its place", () => {
  const placement = new CpuPlacement([1, 3, 7]);
  expect([10, 11, 12, 13, 14].map((pid) => placement.place(pid))).toEqual([1, 3, 7, 1, 3]);
  placement.leave(12);
  expect(placement.place(15)).toBe(7);
  placement.leave(10);
  placement.leave(13);
  expect(placement.place(16)).toBe(1);
  expect(() => new CpuPlacement([])).toThrow();
});

test("pinThread pins a real process's main thread, and frees it again: /proc shows the CPUs it may run on", async () => {
  const cpus = allowedCpus()!;
  const child = Bun.spawn(["sleep", "30"]);
  const cpusOf = async () => /^Cpus_allowed_list:\s*(\S+)/m.exec(await Bun.file(`/proc/${child.pid}/status`).text())![1];
  try {
    const cpu = cpus.at(-1)!;
    expect(pinThread(child.pid, [cpu])).toBe(true);
    expect(await cpusOf()).toBe(String(cpu));
    expect(pinThread(child.pid, cpus)).toBe(true);
    expect(parseCpuList((await cpusOf())!)).toEqual(cpus);
    // A CPU out of the mask's range, or none, is refused without a throw.
    expect(pinThread(child.pid, [5000])).toBe(false);
    expect(pinThread(child.pid, [])).toBe(false);
    expect(threadsOf(child.pid)).toEqual([]);
  } finally {
    child.kill();
    await child.exited;
  }
  // Gone: refused, and no threads.
  expect(pinThread(child.pid, [cpus[0]!])).toBe(false);
  expect(threadsOf(child.pid)).toEqual([]);
});

test("threadsOf lists a process's threads but its main one, marks the runtime's pool by its threads' names, and gives their CPU time", async () => {
  // Work for Bun's thread pool: an RSA key pair (tens of ms of CPU, several clock ticks).
  await new Promise((resolve) => require("node:crypto").generateKeyPair("rsa", { modulusLength: 2048 }, resolve));
  const threads = threadsOf(process.pid);
  expect(threads.map((t) => t.tid)).not.toContain(process.pid);
  const pool = threads.filter((t) => t.pool);
  expect(pool.length).toBeGreaterThan(0);
  expect(pool.length).toBeLessThan(threads.length);
  for (const { tid, pool } of threads) expect(readFileSync(`/proc/${process.pid}/task/${tid}/comm`, "utf8").startsWith("Bun Pool")).toBe(pool);
  expect(pool.reduce((sum, t) => sum + t.cpuMs, 0)).toBeGreaterThanOrEqual(10);
});

test("a pinned worker's pool runs on every CPU and its other threads on its own; each thread is placed once, again when it names itself a pool thread", () => {
  const pinning = new WorkerPinning(100, 1);
  expect(pinning.sweep([{ tid: 101, pool: true, cpuMs: 0 }, { tid: 102, pool: false, cpuMs: 0 }], 0)).toEqual([
    [101, "all"],
    [102, "cpu"],
  ]);
  expect(pinning.sweep([{ tid: 101, pool: true, cpuMs: 0 }, { tid: 102, pool: false, cpuMs: 0 }], 1000)).toEqual([]);
  expect(pinning.sweep([{ tid: 101, pool: true, cpuMs: 0 }, { tid: 102, pool: true, cpuMs: 0 }, { tid: 103, pool: false, cpuMs: 0 }], 2000)).toEqual([
    [102, "all"],
    [103, "cpu"],
  ]);
});

test("a worker whose pool spends half a CPU's time or more runs free at once, and is pinned again after a quiet minute", () => {
  const pinning = new WorkerPinning(100, 0);
  const sweep = (poolMs: number, now: number) => pinning.sweep([{ tid: 101, pool: true, cpuMs: poolMs }, { tid: 102, pool: false, cpuMs: 1 }], now);
  expect(sweep(0, 0)).toEqual([
    [101, "all"],
    [102, "cpu"],
  ]);
  // 490 ms in a second: not yet busy. Then 520 ms in a second: busy.
  expect(sweep(490, 1000)).toEqual([]);
  expect(sweep(1010, 2000)).toEqual([
    [100, "all"],
    [102, "all"],
  ]);
  // A sweep late by a second counts the time it waited: 1,000 ms in 2 s is busy.
  expect(sweep(2010, 4000)).toEqual([]);
  // Quiet, and a pool thread that ended (its time gone with it) is no negative spend.
  expect(pinning.sweep([{ tid: 102, pool: false, cpuMs: 1 }], 5000)).toEqual([]);
  expect(sweep(0, 6000)).toEqual([[101, "all"]]);
  // Free for the rest of the quiet minute; a burst within it starts the minute again.
  for (let second = 7; second < 30; second++) expect(sweep(0, second * 1000)).toEqual([]);
  expect(sweep(600, 30_000)).toEqual([]);
  for (let second = 31; second < 90; second++) expect(sweep(600, second * 1000)).toEqual([]);
  expect(sweep(600, 90_000)).toEqual([
    [100, "cpu"],
    [102, "cpu"],
  ]);
  expect(sweep(600, 91_000)).toEqual([]);
});
