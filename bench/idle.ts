/**
 * @module What an idle server costs: `bun bench/idle.ts [--depot A] [--depot B] [--seconds 30] [--rounds 2] [--warm 4]`.
 *
 * Starts `depot start --https-port P --acme` (default options otherwise,
 * `_default-server.ts`), lets it settle for `--warm` seconds, then reads
 * every thread's CPU time from /proc/PID/task/TID/schedstat (nanoseconds,
 * exact: /proc/PID/stat counts 10 ms ticks, which a wake-up of 100 µs rarely
 * meets) before and after `--seconds` of nothing, and prints milliseconds of
 * CPU a second by role and thread name. Builds A and B alternate round by
 * round, the first round in the order given, the next reversed.
 */
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { startDefaultServer } from "./_default-server.ts";
import { freePort } from "./_ports.ts";
import { threadMsBetween, threadTimes } from "./_process-tree.ts";
import { median } from "./_stats.ts";
import { benchWorkFolder } from "./_work-folder.ts";

const ROOT = resolve(import.meta.dir, "..");
const { values: flags } = parseArgs({
  options: {
    depot: { type: "string", multiple: true },
    seconds: { type: "string", default: "30" },
    rounds: { type: "string", default: "2" },
    warm: { type: "string", default: "4" },
  },
});
const binaries = (flags.depot ?? [join(ROOT, "dist", "depot")]).map((path) => resolve(path));
const seconds = Number(flags.seconds);
const rounds = Number(flags.rounds);

async function measure(binary: string): Promise<Map<string, number>> {
  const work = await benchWorkFolder("depot-idle-");
  const server = await startDefaultServer(binary, work, ["--https-port", String(freePort()), "--acme"]);
  try {
    await Bun.sleep(Number(flags.warm) * 1000);
    const before = threadTimes(server.process.pid);
    await Bun.sleep(seconds * 1000);
    const after = threadTimes(server.process.pid);
    return new Map([...threadMsBetween(before, after)].map(([key, ms]) => [key, ms / seconds]));
  } finally {
    server.process.kill("SIGQUIT");
    await server.process.exited;
  }
}

const results = binaries.map(() => [] as Map<string, number>[]);
for (let round = 0; round < rounds; round++) {
  const order = binaries.map((_, i) => i);
  if (round % 2 === 1) order.reverse();
  for (const i of order) {
    const reading = await measure(binaries[i]!);
    results[i]!.push(reading);
    const total = [...reading.values()].reduce((a, b) => a + b, 0);
    console.log(`round ${round + 1} ${binaries[i]}: ${total.toFixed(2)} ms of CPU a second, idle, over ${seconds} s`);
  }
}

const keys = [...new Set(results.flatMap((readings) => readings.flatMap((reading) => [...reading.keys()])))].sort();
console.log(`\n| role thread | ${binaries.join(" | ")} |\n| --- |${binaries.map(() => " --- |").join("")}`);
for (const key of [...keys, "total"]) {
  const cells = results.map((readings) => {
    const values = readings.map((reading) => (key === "total" ? [...reading.values()].reduce((a, b) => a + b, 0) : (reading.get(key) ?? 0)));
    return `${median(values).toFixed(2)} (${Math.min(...values).toFixed(2)}-${Math.max(...values).toFixed(2)})`;
  });
  console.log(`| ${key} | ${cells.join(" | ")} |`);
}
console.log("\nmilliseconds of CPU a second, median (range) over rounds");
