// A worker's helper threads run below its event loop: the main thread keeps
// nice 0, every other thread (node:crypto's pool, where RSA keys are made)
// goes to nice 10, read back from /proc as the kernel holds it.
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";

const niceOf = (tid: string) => Number(readFileSync(`/proc/self/task/${tid}/stat`, "utf8").split(") ")[1]!.split(" ")[16]);

test("after lowerHelperThreads, node:crypto's pool threads are at nice 10 and the main thread at 0", () => {
  // In a process of its own: it changes the priority of the threads it runs in.
  // The pool starts its threads when work arrives, hence the key first.
  const child = Bun.spawnSync([process.execPath, "-e", `
    const { lowerHelperThreads } = await import(${JSON.stringify(`${import.meta.dir}/../src/server/helper-threads.ts`)});
    const { generateKeyPair } = await import("node:crypto");
    const { readdirSync, readFileSync } = await import("node:fs");
    await new Promise((done) => generateKeyPair("rsa", { modulusLength: 1024 }, done));
    const lowered = lowerHelperThreads();
    const nice = (tid) => Number(readFileSync("/proc/self/task/" + tid + "/stat", "utf8").split(") ")[1].split(" ")[16]);
    const threads = readdirSync("/proc/self/task").map((tid) => ({ main: Number(tid) === process.pid, comm: readFileSync("/proc/self/task/" + tid + "/comm", "utf8").trim(), nice: nice(tid) }));
    console.log(JSON.stringify({ lowered, again: lowerHelperThreads(performance.now() + 5000), threads }));
  `]);
  const report = JSON.parse(child.stdout.toString()) as { lowered: number; again: number; threads: { main: boolean; comm: string; nice: number }[] };
  expect(report.lowered).toBeGreaterThan(0);
  expect(report.again).toBe(0); // threads seen before are not touched again
  expect(report.threads.find((t) => t.main)!.nice).toBe(0);
  const pool = report.threads.filter((t) => t.comm.startsWith("Bun Pool"));
  expect(pool.length).toBeGreaterThan(0);
  for (const thread of report.threads.filter((t) => !t.main)) expect(thread).toMatchObject({ nice: 10 });
  // This test process was not touched.
  expect(niceOf(String(process.pid))).toBe(0);
});
