// --cpu-affinity on a real server: where the kernel says each worker's
// threads may run (/proc/PID/task/TID/status) by default (auto), under RSA
// load, with `off`, and a replacement.
import { afterEach, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { allowedCpus } from "../src/server/cpu-affinity.ts";
import { depot } from "./helpers.ts";
import { type RunningServer, request, startServer, waitFor, workerPids } from "./server-helpers.ts";

let server: RunningServer | undefined;
afterEach(async () => {
  await server?.kill();
  server = undefined;
});

const cpusOf = (pid: number, tid = pid) => /^Cpus_allowed_list:\s*(\S+)/m.exec(readFileSync(`/proc/${pid}/task/${tid}/status`, "utf8"))![1]!;
const threadsOf = (pid: number) => readdirSync(`/proc/${pid}/task`).map(Number);
const nameOf = (pid: number, tid: number) => readFileSync(`/proc/${pid}/task/${tid}/comm`, "utf8").trim();
const allowed = allowedCpus()!;
/** What `read` reads from /proc, or "(gone)" when the thread ended meanwhile. */
const gone = (read: () => string) => {
  try {
    return read();
  } catch {
    return "(gone)";
  }
};
const describeThreads = (workers: number[]) => workers.map((pid) => threadsOf(pid).map((tid) => `${gone(() => nameOf(pid, tid))}:${gone(() => cpusOf(pid, tid))}`).join(" ")).join(" / ");

test("by default each worker runs on one CPU once ready, spread evenly, its thread pool on all; a killed worker's replacement takes its CPU", async () => {
  // An RSA depot: each worker's key pool makes its keys in the runtime's thread pool, so the pool starts.
  server = await startServer(["--process-count", "3", "--log-level", "debug", "--key-pool", "2"], { keyType: "rsa-2048" });
  await server.ready;
  const workers = workerPids(server.process.pid);
  expect(workers).toHaveLength(3);
  if (allowed.length < 2) {
    // One CPU: nothing to spread, and nothing is pinned.
    for (const pid of workers) expect(cpusOf(pid)).toBe(cpusOf(server.process.pid));
    return;
  }
  await waitFor(() => workers.every((pid) => server!.log().includes(`worker ${pid} runs on CPU`)), 5000, () => server!.log());
  // Pinned once ready, not at spawn: a runtime started on one CPU sizes itself for one.
  for (const pid of workers) expect(server.log().indexOf(`worker ${pid} ready`)).toBeLessThan(server.log().indexOf(`worker ${pid} runs on CPU`));
  const placed = workers.map((pid) => cpusOf(pid));
  for (const cpu of placed) expect(allowed).toContain(Number(cpu));
  const counts = [...new Set(placed)].map((cpu) => placed.filter((c) => c === cpu).length);
  expect(counts.sort()).toEqual([1, 2]);
  // Its thread pool (RSA keys) may run on every CPU, its other threads only on the worker's.
  const everywhere = cpusOf(server.process.pid);
  const pool = (pid: number) => threadsOf(pid).filter((tid) => gone(() => nameOf(pid, tid)).startsWith("Bun Pool"));
  await waitFor(() => workers.every((pid) => pool(pid).length > 0 && pool(pid).every((tid) => gone(() => cpusOf(pid, tid)) === everywhere)), 5000, () => describeThreads(workers));
  // Every other thread on the worker's CPU, within the supervisor's next sweeps: a thread started
  // since the last one (mimalloc's scavenger, started by a pool thread, inherits the pool's CPUs)
  // is placed at the next. A thread that ended since it was listed (the GC's helpers come and go) is left out.
  const othersPlaced = () =>
    workers.every((pid) => threadsOf(pid).every((tid) => pool(pid).includes(tid) || [cpusOf(pid), "(gone)"].includes(gone(() => cpusOf(pid, tid)))));
  await waitFor(othersPlaced, 3000, () => describeThreads(workers));
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

test("a worker making RSA keys on demand runs free, every thread of it, and stays free a while after", async () => {
  // No key pool: each `generate` makes its RSA key in the runtime's thread pool as it is asked.
  server = await startServer(["--process-count", "1", "--log-level", "debug", "--key-pool", "0"], { keyType: "rsa-2048" });
  await server.ready;
  const [worker] = workerPids(server.process.pid);
  if (allowed.length < 2) return expect(cpusOf(worker!)).toBe(cpusOf(server.process.pid));
  await waitFor(() => server!.log().includes(`worker ${worker} runs on CPU`), 5000, () => server!.log());
  const itsCpu = cpusOf(worker!);
  const everywhere = cpusOf(server.process.pid);
  expect(itsCpu).not.toBe(everywhere);
  // Four clients asking for keys, one after another each, until the worker runs free.
  let loaded = true;
  const clients = Array.from({ length: 4 }, async (_, c) => {
    for (let i = 0; loaded; i++) expect(await request(server!.port, `generate /UID=load-${c}-${i}`, { timeoutMs: 30_000 })).toContain("BEGIN CERTIFICATE");
  });
  try {
    await waitFor(() => cpusOf(worker!) === everywhere, 10_000, () => `${describeThreads([worker!])}\n${server!.log()}`);
    expect(server.log()).toContain(`worker ${worker} runs on every CPU while its thread pool is busy`);
    // Every thread of it, not the main one only.
    for (const tid of threadsOf(worker!)) expect(["(gone)", everywhere]).toContain(gone(() => cpusOf(worker!, tid)));
  } finally {
    loaded = false;
    await Promise.all(clients);
  }
  // Keys come in bursts: a few quiet seconds later it still runs free (pinned again after a quiet
  // minute, which test/unit-cpu-affinity.test.ts counts).
  await Bun.sleep(4000);
  expect(cpusOf(worker!)).toBe(everywhere);
  expect(server.log()).not.toContain(`runs on CPU ${itsCpu} again`);
});

test("with off every worker is free to run wherever the supervisor may", async () => {
  server = await startServer(["--cpu-affinity", "off", "--log-level", "debug"]);
  await server.ready;
  const workers = workerPids(server.process.pid);
  expect(workers).toHaveLength(2);
  for (const pid of workers) for (const tid of threadsOf(pid)) expect([cpusOf(server.process.pid), "(gone)"]).toContain(gone(() => cpusOf(pid, tid)));
  expect(server.log()).not.toContain("on CPU");
});

test("a --cpu-affinity the server does not know is refused with one line", () => {
  const result = depot(["start", "/nonexistent-depot", "--cpu-affinity", "sometimes"]);
  expect(result.exitCode).not.toBe(0);
  expect(result.stderr.trim()).toBe("depot: --cpu-affinity must be auto or off, not 'sometimes'");
});
