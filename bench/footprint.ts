/**
 * @module How a 2-worker server's memory moves with the requests it serves:
 * `bun bench/footprint.ts [--depot dist/depot] [-n 8000] [--rounds 3]`.
 *
 * Starts the server on a fresh EC P-256 depot (default options), prints each
 * process's PSS and the anonymous part of it (heaps, JIT code, SQLite's
 * caches; the rest is the binary's pages, shared) when idle, right after each
 * round of `generate` at concurrency 16, and 1.5 s later; and each
 * process's CPU time (user + system) per good answer in the round, to
 * compare two builds (`--depot`) run one after the other. Target 3 of the
 * performance issue is the total right after the load: at most 90 MB.
 */
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { runLoad } from "./load.ts";
import { startDefaultServer } from "./_default-server.ts";
import { cpuSecondsOf, cpuSplitOf, readTree, roleOf, treePids } from "./_process-tree.ts";
import { benchWorkFolder } from "./_work-folder.ts";

const { values: flags } = parseArgs({
  options: {
    depot: { type: "string", default: join(import.meta.dir, "..", "dist", "depot") },
    n: { type: "string", short: "n", default: "8000" },
    rounds: { type: "string", default: "3" },
  },
});
const depotBinary = resolve(flags.depot);
const work = await benchWorkFolder("depot-footprint-");
const { process: server, port, depotPath } = await startDefaultServer(depotBinary, work);

/** One line: each process's PSS (anonymous part in brackets), then the total, in MB. */
function footprint(): string {
  const readings = readTree(server.pid);
  const total = readings.reduce((sum, r) => sum + r.pssMb, 0);
  return `${readings.map((r) => `${r.role} ${r.pssMb.toFixed(1)} (${r.pssAnonMb.toFixed(1)})`).join(" | ")} | total ${total.toFixed(1)}`;
}

/** The workers' kernel CPU seconds, together: the share the kernel takes is what a file system or a socket costs. */
function workersKernelSeconds(): number {
  return treePids(server.pid).filter((pid) => roleOf(pid) === "__worker").reduce((sum, pid) => sum + cpuSplitOf(pid).system, 0);
}

/** Each process's CPU seconds (user + system), summed by role. */
function cpuByRole(): Map<string, number> {
  const cpu = new Map<string, number>();
  for (const pid of treePids(server.pid)) {
    const role = pid === server.pid ? "supervisor" : roleOf(pid);
    cpu.set(role, (cpu.get(role) ?? 0) + cpuSecondsOf(pid));
  }
  return cpu;
}

console.log(`idle         ${footprint()}`);
const caPem = readFileSync(join(depotPath, "certificates", "ca.crt"), "utf8");
try {
  for (let round = 1; round <= Number(flags.rounds); round++) {
    const cpuBefore = cpuByRole();
    const kernelBefore = workersKernelSeconds();
    const result = await runLoad({ host: "127.0.0.1", port, requests: Number(flags.n), concurrency: 16, dnTemplate: "/CN=footprint-{i}", caPem });
    const cpuAfter = cpuByRole();
    const workersKernelUs = ((workersKernelSeconds() - kernelBefore) * 1e6) / Math.max(1, result.ok);
    const perAnswer = [...cpuAfter].map(([role, seconds]) => [role, ((seconds - (cpuBefore.get(role) ?? 0)) * 1e6) / Math.max(1, result.ok)] as const);
    const cpuTotal = perAnswer.reduce((sum, [, us]) => sum + us, 0);
    console.log(`round ${round}: ${(result.ok / result.wallSeconds).toFixed(0)} good/s, ${result.errors} errors`);
    console.log(`  CPU µs per answer: ${perAnswer.map(([role, us]) => `${role} ${us.toFixed(0)}`).join(" | ")} | total ${cpuTotal.toFixed(0)} (workers in the kernel: ${workersKernelUs.toFixed(0)})`);
    console.log(`  right after ${footprint()}`);
    await Bun.sleep(1500);
    console.log(`  1.5 s later ${footprint()}`);
  }
} finally {
  server.kill("SIGQUIT");
  await server.exited;
}
