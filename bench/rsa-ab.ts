/**
 * @module
 * RSA-2048 keys made on demand, two builds or settings side by side:
 * `bun bench/rsa-ab.ts --depot A --depot B [--rounds 8] [--seconds 20] [--gap 5]`.
 *
 * Why beside `bench/run.ts --only rsa`: that bench's ratio (depot against
 * the reference, in one run) moved by ±0.03-0.05 between back-to-back runs
 * of the same binary here (0.91-0.99 for `--cpu-affinity off` on
 * 2026-12-07), more than the differences asked about. Here both servers run
 * at once on fresh RSA-2048 depots (2 workers, no key pool: every request
 * makes its key), and rounds of `--seconds` at c=8 alternate A B B A ...,
 * each after `--gap` seconds idle (as `run.ts`'s reference rounds leave a
 * server), so that neither gets the machine's quieter minutes. Each round
 * counts the good answers that arrived within it; the report gives each
 * build's median keys/s, B's total over A's, and in how many rounds B was
 * faster. Every answer is checked (a key and a certificate the CA signed,
 * no serial twice), and a round with an error fails the bench. A `--depot`
 * may be a wrapper script that adds options to `start`.
 */
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { runLoad } from "./load.ts";
import { freePort } from "./_ports.ts";
import { median } from "./_stats.ts";
import { benchWorkFolder } from "./_work-folder.ts";

const { values: flags } = parseArgs({
  options: {
    depot: { type: "string", multiple: true },
    rounds: { type: "string", default: "8" },
    seconds: { type: "string", default: "20" },
    gap: { type: "string", default: "5" },
  },
});
const binaries = (flags.depot ?? []).map((path) => resolve(path));
if (binaries.length !== 2) {
  console.error("bench/rsa-ab.ts: give two builds, --depot A --depot B");
  process.exit(2);
}
const rounds = Number(flags.rounds);
const seconds = Number(flags.seconds);
const gapMs = Number(flags.gap) * 1000;
const work = await benchWorkFolder("depot-bench-rsa-ab-");

interface Server {
  process: ReturnType<typeof Bun.spawn>;
  port: number;
  caPem: string;
}

async function start(binary: string, name: string): Promise<Server> {
  const depotPath = join(work, name);
  const init = Bun.spawnSync([binary, "init", depotPath, "Bench CA", "--key-type", "rsa-2048"]);
  if (init.exitCode !== 0) throw new Error(`${binary} init failed: ${init.stderr}`);
  const port = freePort();
  const proc = Bun.spawn(
    [binary, "start", depotPath, "--port", String(port), "--process-count", "2", "--key-pool", "0",
      "--pid-file", join(depotPath, "bench.pid"), "--log-file", join(depotPath, "bench.log"), "--log-level", "warn"],
    { stdin: "ignore", stdout: "ignore", stderr: "ignore" },
  );
  // Ready when the supervisor's state file lists both workers.
  const state = join(depotPath, "bench.pid.json");
  const deadline = performance.now() + 10_000;
  while (!(existsSync(state) && JSON.parse(readFileSync(state, "utf8")).workers.length === 2)) {
    if (performance.now() > deadline) throw new Error(`${binary} did not start in 10 s`);
    await Bun.sleep(10);
  }
  return { process: proc, port, caPem: readFileSync(join(depotPath, "certificates", "ca.crt"), "utf8") };
}

async function keysPerSecond(server: Server): Promise<number> {
  const result = await runLoad({
    host: "127.0.0.1", port: server.port, requests: 1_000_000, concurrency: 8, durationMs: seconds * 1000,
    dnTemplate: "/CN=rsa-ab-{i}/O=depot bench", caPem: server.caPem,
  });
  if (result.errors > 0 || result.duplicateSerials > 0) {
    throw new Error(`${result.errors} errors, ${result.duplicateSerials} duplicate serials: ${result.errorSamples.join(" | ")}`);
  }
  return result.okWithinDuration! / seconds;
}

const servers = [await start(binaries[0]!, "a"), await start(binaries[1]!, "b")];
try {
  const rates: number[][] = [[], []];
  // A warm-up round each, left out.
  for (const server of servers) await keysPerSecond(server);
  for (let round = 0; round < rounds; round++) {
    for (const side of round % 2 === 0 ? [0, 1] : [1, 0]) {
      await Bun.sleep(gapMs);
      rates[side]!.push(await keysPerSecond(servers[side]!));
    }
    console.log(`round ${round + 1}: A ${rates[0]!.at(-1)!.toFixed(1)}, B ${rates[1]!.at(-1)!.toFixed(1)} keys/s`);
  }
  const total = (values: number[]) => values.reduce((sum, v) => sum + v, 0);
  const faster = rates[1]!.filter((rate, i) => rate > rates[0]![i]!).length;
  console.log(`\nRSA-2048 on demand, c=8, ${rounds} rounds of ${seconds} s each, A B B A:`);
  console.log(`[A] ${binaries[0]}: median ${median(rates[0]!).toFixed(1)} keys/s`);
  console.log(`[B] ${binaries[1]}: median ${median(rates[1]!).toFixed(1)} keys/s`);
  console.log(`B / A over all rounds: ${(total(rates[1]!) / total(rates[0]!)).toFixed(3)}; B faster in ${faster} of ${rounds} rounds`);
} finally {
  for (const server of servers) {
    server.process.kill("SIGQUIT");
    await server.process.exited;
  }
}
