// --cpu-affinity's pieces: the kernel's CPU lists, where a new worker goes,
// and a real pin of a real process read back from /proc.
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { allowedCpus, CpuPlacement, parseCpuList, threadsOf, pinThread } from "../src/server/cpu-affinity.ts";

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
  expect(placement.cpuOf(16)).toBe(1);
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

test("threadsOf lists a process's threads but its main one, and marks the runtime's pool by its threads' names", async () => {
  // Work for Bun's thread pool: an asynchronous key pair and file reads.
  await new Promise((resolve) => require("node:crypto").generateKeyPair("ec", { namedCurve: "P-256" }, resolve));
  await Bun.file("/proc/self/status").text();
  const threads = threadsOf(process.pid);
  expect(threads.map((t) => t.tid)).not.toContain(process.pid);
  const pool = threads.filter((t) => t.pool);
  expect(pool.length).toBeGreaterThan(0);
  expect(pool.length).toBeLessThan(threads.length);
  for (const { tid, pool } of threads) expect(readFileSync(`/proc/${process.pid}/task/${tid}/comm`, "utf8").startsWith("Bun Pool")).toBe(pool);
});
