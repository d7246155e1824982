// --cpu-affinity on a real server: where the kernel says each worker's
// threads may run (/proc/PID/task/TID/status), by default and with `off`,
// and a replacement.
import { afterEach, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { allowedCpus } from "../src/server/cpu-affinity.ts";
import { depot } from "./helpers.ts";
import { type RunningServer, startServer, waitFor, workerPids } from "./server-helpers.ts";

let server: RunningServer | undefined;
afterEach(async () => {
  await server?.kill();
  server = undefined;
});

const cpusOf = (pid: number, tid = pid) => /^Cpus_allowed_list:\s*(\S+)/m.exec(readFileSync(`/proc/${pid}/task/${tid}/status`, "utf8"))![1]!;
const threadsOf = (pid: number) => readdirSync(`/proc/${pid}/task`).map(Number);
const nameOf = (pid: number, tid: number) => readFileSync(`/proc/${pid}/task/${tid}/comm`, "utf8").trim();
const allowed = allowedCpus()!;

test("with auto each worker runs on one CPU, spread evenly, its thread pool on all; a killed worker's replacement takes its CPU", async () => {
  // An RSA depot: each worker's key pool makes its keys in the runtime's thread pool, so the pool starts.
  server = await startServer(["--cpu-affinity", "auto", "--process-count", "3", "--log-level", "debug", "--key-pool", "2"], { keyType: "rsa-2048" });
  await server.ready;
  const workers = workerPids(server.process.pid);
  expect(workers).toHaveLength(3);
  if (allowed.length < 2) {
    // One CPU: nothing to spread, and nothing is pinned.
    for (const pid of workers) expect(cpusOf(pid)).toBe(cpusOf(server.process.pid));
    return;
  }
  await waitFor(() => workers.every((pid) => server!.log().includes(`worker ${pid} runs on CPU`)), 5000, () => server!.log());
  const placed = workers.map((pid) => cpusOf(pid));
  for (const cpu of placed) expect(allowed).toContain(Number(cpu));
  const counts = [...new Set(placed)].map((cpu) => placed.filter((c) => c === cpu).length);
  expect(counts.sort()).toEqual([1, 2]);
  // Its thread pool (RSA keys) may run on every CPU, its other threads only on the worker's.
  const everywhere = cpusOf(server.process.pid);
  const pool = (pid: number) => threadsOf(pid).filter((tid) => nameOf(pid, tid).startsWith("Bun Pool"));
  await waitFor(() => workers.every((pid) => pool(pid).length > 0 && pool(pid).every((tid) => cpusOf(pid, tid) === everywhere)), 5000, () => workers.map((pid) => threadsOf(pid).map((tid) => `${nameOf(pid, tid)}:${cpusOf(pid, tid)}`).join(" ")).join(" / "));
  for (const pid of workers) {
    for (const tid of threadsOf(pid).filter((tid) => !pool(pid).includes(tid))) expect(`${nameOf(pid, tid)}:${cpusOf(pid, tid)}`).toBe(`${nameOf(pid, tid)}:${cpusOf(pid)}`);
  }
  // The worker alone on its CPU dies: its replacement goes there.
  const alone = workers.find((pid) => placed.filter((c) => c === cpusOf(pid)).length === 1)!;
  const itsCpu = cpusOf(alone);
  process.kill(alone, "SIGKILL");
  await waitFor(() => workerPids(server!.process.pid).filter((pid) => !workers.includes(pid)).length === 1, 10_000, "a replacement worker");
  const replacement = workerPids(server.process.pid).find((pid) => !workers.includes(pid))!;
  await waitFor(() => server!.log().includes(`worker ${replacement} runs on CPU`), 5000, () => server!.log());
  expect(cpusOf(replacement)).toBe(itsCpu);
  expect(server.log()).toContain(`worker ${replacement} runs on CPU ${itsCpu}`);
});

test("by default (off) every worker is free to run wherever the supervisor may", async () => {
  server = await startServer(["--log-level", "debug"]);
  await server.ready;
  const workers = workerPids(server.process.pid);
  expect(workers).toHaveLength(2);
  for (const pid of workers) for (const tid of threadsOf(pid)) expect(cpusOf(pid, tid)).toBe(cpusOf(server.process.pid));
  expect(server.log()).not.toContain("on CPU");
});

test("a --cpu-affinity the server does not know is refused with one line", () => {
  const result = depot(["start", "/nonexistent-depot", "--cpu-affinity", "sometimes"]);
  expect(result.exitCode).not.toBe(0);
  expect(result.stderr.trim()).toBe("depot: --cpu-affinity must be auto or off, not 'sometimes'");
});
