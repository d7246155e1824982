// --cpu-affinity on a real server: where the kernel says each worker may
// run (/proc/PID/status), by default and with `off`, and a replacement.
import { afterEach, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { allowedCpus } from "../src/server/cpu-affinity.ts";
import { depot } from "./helpers.ts";
import { type RunningServer, startServer, waitFor, workerPids } from "./server-helpers.ts";

let server: RunningServer | undefined;
afterEach(async () => {
  await server?.kill();
  server = undefined;
});

const cpusOf = (pid: number) => /^Cpus_allowed_list:\s*(\S+)/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]!;
const allowed = allowedCpus()!;

test("by default each worker runs on one CPU, spread evenly; a killed worker's replacement takes its CPU", async () => {
  server = await startServer(["--process-count", "3", "--log-level", "debug"]);
  await server.ready;
  const workers = workerPids(server.process.pid);
  expect(workers).toHaveLength(3);
  if (allowed.length < 2) {
    // One CPU: nothing to spread, and nothing is pinned.
    for (const pid of workers) expect(cpusOf(pid)).toBe(cpusOf(server.process.pid));
    return;
  }
  const placed = workers.map(cpusOf);
  for (const cpu of placed) expect(allowed).toContain(Number(cpu));
  const counts = [...new Set(placed)].map((cpu) => placed.filter((c) => c === cpu).length);
  expect(counts.sort()).toEqual([1, 2]);
  // The worker alone on its CPU dies: its replacement goes there.
  const alone = workers.find((pid) => placed.filter((c) => c === cpusOf(pid)).length === 1)!;
  const itsCpu = cpusOf(alone);
  process.kill(alone, "SIGKILL");
  await waitFor(() => workerPids(server!.process.pid).filter((pid) => !workers.includes(pid)).length === 1, 10_000, "a replacement worker");
  const replacement = workerPids(server.process.pid).find((pid) => !workers.includes(pid))!;
  await waitFor(() => server!.log().includes(`spawned worker ${replacement} on CPU`), 5000, () => server!.log());
  expect(cpusOf(replacement)).toBe(itsCpu);
  expect(server.log()).toContain(`spawned worker ${replacement} on CPU ${itsCpu}`);
});

test("--cpu-affinity off leaves every worker free to run wherever the supervisor may", async () => {
  server = await startServer(["--cpu-affinity", "off", "--log-level", "debug"]);
  await server.ready;
  const workers = workerPids(server.process.pid);
  expect(workers).toHaveLength(2);
  for (const pid of workers) expect(cpusOf(pid)).toBe(cpusOf(server.process.pid));
  expect(server.log()).not.toContain("on CPU");
});

test("a --cpu-affinity the server does not know is refused with one line", () => {
  const result = depot(["start", "/nonexistent-depot", "--cpu-affinity", "sometimes"]);
  expect(result.exitCode).not.toBe(0);
  expect(result.stderr.trim()).toBe("depot: --cpu-affinity must be auto or off, not 'sometimes'");
});
