/**
 * `depot list` at scale: `bun bench/list.ts [--certificates 100000]`.
 *
 * Makes a depot of N certificates (rows inserted directly,
 * bench/fill-ledger.ts; 1 % revoked), then runs the compiled `dist/depot
 * list` as a user would, output to a pipe that is read and counted, and
 * reports its wall and CPU time, rows per second and peak RSS (the child's maxRSS),
 * for the plain, --valid and --json forms. See docs/performance.md.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { makeLargeDepot } from "./fill-ledger.ts";

const { values } = parseArgs({ options: { certificates: { type: "string", default: "100000" }, json: { type: "boolean", default: false } } });
const count = Number(values.certificates);
const DEPOT = join(resolve(import.meta.dir, ".."), "dist", "depot");
const dir = mkdtempSync(join(tmpdir(), "depot-bench-list-"));

try {
  const root = await makeLargeDepot(join(dir, "ca"), { certificates: count, revoked: Math.floor(count / 100) });
  const results = [];
  for (const form of [[], ["--valid"], ["--json"]]) {
    const started = performance.now();
    const child = Bun.spawn([DEPOT, "list", root, ...form], { stdout: "pipe", stderr: "pipe" });
    let bytes = 0;
    let lines = 0;
    for await (const chunk of child.stdout) {
      bytes += chunk.length;
      for (let at = chunk.indexOf(10); at !== -1; at = chunk.indexOf(10, at + 1)) lines++;
    }
    const exitCode = await child.exited;
    const seconds = (performance.now() - started) / 1000;
    const rows = form[0] === "--json" ? count : lines;
    const usage = child.resourceUsage();
    const peakMb = (usage?.maxRSS ?? 0) / 1024 / 1024; // Bun reports bytes
    // CPU time as well as wall time: on a shared machine the wall clock measures the neighbours too.
    const cpuSeconds = Number((usage?.cpuTime.user ?? 0n) + (usage?.cpuTime.system ?? 0n)) / 1e6;
    results.push({
      form: `list ${form.join(" ")}`.trim(),
      exitCode,
      rows,
      seconds: +seconds.toFixed(2),
      rowsPerSecond: Math.round(rows / seconds),
      cpuSeconds: +cpuSeconds.toFixed(2),
      rowsPerCpuSecond: Math.round(rows / cpuSeconds),
      outputMb: +(bytes / 1e6).toFixed(1),
      peakRssMb: +peakMb.toFixed(0),
    });
  }
  if (values.json) console.log(JSON.stringify({ certificates: count, results }));
  else {
    console.log(`depot of ${count} certificates`);
    for (const r of results) {
      console.log(
        `${r.form.padEnd(12)} ${r.rows} rows in ${r.seconds} s wall (${r.rowsPerSecond} rows/s), ${r.cpuSeconds} s CPU (${r.rowsPerCpuSecond} rows/CPU-s), ${r.outputMb} MB out, peak RSS ${r.peakRssMb} MB, exit ${r.exitCode}`,
      );
    }
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
