// --cpu-affinity's pieces: the kernel's CPU lists, where a new worker goes,
// and a real pin of a real process read back from /proc.
import { expect, test } from "bun:test";
import { allowedCpus, CpuPlacement, parseCpuList, pinProcess } from "../src/server/cpu-affinity.ts";

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

test("pinProcess pins a real process: /proc shows the one CPU it may run on", async () => {
  const cpus = allowedCpus()!;
  const child = Bun.spawn(["sleep", "30"]);
  try {
    const cpu = cpus.at(-1)!;
    expect(pinProcess(child.pid, cpu)).toBe(true);
    const status = await Bun.file(`/proc/${child.pid}/status`).text();
    expect(/^Cpus_allowed_list:\s*(\S+)/m.exec(status)![1]).toBe(String(cpu));
    // A CPU out of the mask's range, and a process that is gone, are refused without a throw.
    expect(pinProcess(child.pid, 5000)).toBe(false);
  } finally {
    child.kill();
    await child.exited;
  }
  expect(pinProcess(child.pid, cpus[0]!)).toBe(false);
});
