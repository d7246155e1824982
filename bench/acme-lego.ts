/**
 * @module depot's ACME server under lego, A/B between builds in one run:
 *
 *   bun bench/acme-lego.ts [--depot A] [--depot B] [--orders 24] [--rounds 3] [--loops 1]
 *                          [--server-env N:NAME=VALUE] [--threads] [--interleave]
 *
 * The loop of bench/stepca.ts (lego 4.9 `run`, http-01, a process per order,
 * an account per loop registered by the warm-up) against each build's
 * `depot start --https-port P --acme` (2 workers, an EC P-256 depot), the
 * builds taking turns round by round (odd rounds in the order given, even
 * rounds reversed) so the machine's noise falls on all. Server CPU per order
 * (every thread's run time, all its processes), split by role (supervisor,
 * workers, upkeep) and kernel time, and total PSS right after each load by
 * process: lego's pattern (a TLS handshake per process, an account look-up,
 * POST-as-GET polls) costs more than depot's own client's, and step-ca is
 * out of the way here. Every certificate is checked. Needs 127.0.0.1:80
 * free (the webroot lego writes into). `--threads` also prints each
 * round's CPU by role and thread name (schedstat, as bench/idle.ts does):
 * the workers' main threads apart from the runtime's helper threads.
 *
 * `--interleave` runs each round's orders one side after the other, an
 * order at a time, instead of a side's whole round at once: the machine's
 * noise (this kind of guest drifts by ±10 % over minutes) then falls on
 * both sides alike, and round pairs agree within ~3 %. Each side's figure
 * then also carries its idle cost during the other's orders, so it is for
 * comparing the sides only. The rounds of one run share its two servers,
 * and a server started this way carries an effect of its own through the
 * run: two builds that differ by nothing measurable (one with an account
 * cache, since dropped) each came out ahead as side 0, by 2.2 % and 2.4 %,
 * in two runs with the sides swapped. So run a comparison
 * both ways (`--depot A --depot B`, then `--depot B --depot A`) and take
 * the mean of the two.
 *
 * `--server-env N:NAME=VALUE` starts side N (0 for the first --depot) with
 * that setting, so one binary can be its own control: each side is printed
 * as `[N] binary +NAME=VALUE`, and with two sides the summary says in how
 * many rounds the second was lower.
 */
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { freePort } from "./_ports.ts";
import { cpuSecondsOf, cpuSplitOf, readTree, roleOf, threadMsBetween, threadTimes, treePids } from "./_process-tree.ts";
import { median } from "./_stats.ts";
import { benchWorkFolder } from "./_work-folder.ts";
import { startDefaultServer, type DefaultServer } from "./_default-server.ts";
import { type AcmeTarget, checkLegoCertificate, ensureLego, type LegoRun, legoLoops, startWebroot } from "./_lego-orders.ts";
import { startChallTestSrv } from "../test/acme-clients/harness.ts";

const ROOT = resolve(import.meta.dir, "..");
const { values: flags } = parseArgs({
  options: {
    depot: { type: "string", multiple: true },
    "server-env": { type: "string", multiple: true },
    orders: { type: "string", default: "24" },
    rounds: { type: "string", default: "3" },
    loops: { type: "string", default: "1" },
    threads: { type: "boolean", default: false },
    interleave: { type: "boolean", default: false },
  },
});
const binaries = (flags.depot ?? [join(ROOT, "dist", "depot")]).map((path) => resolve(path));
const orders = Number(flags.orders);
const rounds = Number(flags.rounds);
const loops = Number(flags.loops);

function serverEnv(index: number): Record<string, string> {
  const env: Record<string, string> = {};
  for (const setting of flags["server-env"] ?? []) {
    const match = /^(\d+):([^=]+)=(.*)$/.exec(setting);
    if (!match) throw new Error(`--server-env ${setting}: expected N:NAME=VALUE`);
    if (Number(match[1]) === index) env[match[2]!] = match[3]!;
  }
  return env;
}

ensureLego();
const work = await benchWorkFolder("depot-bench-acme-lego-");
const dns = await startChallTestSrv();
const webroot = join(work, "webroot");
const webrootServer = startWebroot(webroot);

interface Side {
  binary: string;
  /** How the side is printed: its index, binary and --server-env settings. */
  label: string;
  server: DefaultServer;
  target: AcmeTarget;
}
const sides: Side[] = [];
for (const [index, binary] of binaries.entries()) {
  const folder = join(work, `side-${index}`);
  Bun.spawnSync(["mkdir", "-p", folder]);
  const httpsPort = freePort();
  const args = ["--https-port", String(httpsPort), "--acme", "--acme-http-port", "80", "--acme-resolver", `127.0.0.1:${dns.dnsPort}`, "--acme-orders-per-hour", "1000000"];
  const env = serverEnv(index);
  const server = await startDefaultServer(binary, folder, args, env);
  const label = [`[${index}] ${binary}`, ...Object.entries(env).map(([name, value]) => `+${name}=${value}`)].join(" ");
  sides.push({ binary, label, server, target: { label: `depot${index}`, directory: `https://localhost:${httpsPort}/acme/directory`, rootFile: join(server.depotPath, "certificates", "ca.crt") } });
}

/** CPU seconds of a server's processes by role: the exact total, and the kernel's part (in ticks). */
function cpuByRole(root: number): Record<string, { total: number; system: number }> {
  const byRole: Record<string, { total: number; system: number }> = {};
  for (const pid of treePids(root)) {
    const role = pid === root ? "supervisor" : roleOf(pid);
    const entry = (byRole[role] ??= { total: 0, system: 0 });
    entry.total += cpuSecondsOf(pid);
    entry.system += cpuSplitOf(pid).system;
  }
  return byRole;
}

interface Reading {
  good: number;
  bad: string[];
  totalMs: number;
  kernelMs: number;
  byRole: Record<string, number>;
  /** With --threads: ms of CPU an order by "role thread-name". */
  byThread?: Map<string, number>;
  wall: number;
}
interface Mark {
  cpu: Record<string, { total: number; system: number }>;
  threads?: ReturnType<typeof threadTimes>;
}
function mark(side: Side): Mark {
  const pid = side.server.process.pid;
  return { ...(flags.threads ? { threads: threadTimes(pid) } : {}), cpu: cpuByRole(pid) };
}

async function load(side: Side, count: number, prefix: string): Promise<Reading> {
  const before = mark(side);
  const run = await legoLoops(side.target, work, webroot, count, loops, prefix);
  return readingOf(side, run, before);
}

/**
 * One round of `--interleave`: the sides take an order each in turn (the
 * first side alternating), so that whatever else the machine does in that
 * minute falls on every side alike. Each side's CPU then also holds its
 * idle costs while the others serve: compare sides with it, not with step-ca.
 */
async function loadInterleaved(round: number): Promise<Reading[]> {
  const before = sides.map(mark);
  const runs: LegoRun[] = sides.map(() => ({ issued: [], failures: [], wallSeconds: 0, latenciesMs: [], clientCpuMs: 0 }));
  for (let k = 0; k < orders; k++) {
    const turn = sides.map((_, i) => i);
    if (k % 2 === 1) turn.reverse();
    for (const i of turn) {
      const one = await legoLoops(sides[i]!.target, work, webroot, 1, 1, `r${round}-${sides[i]!.target.label}-${k}`);
      const run = runs[i]!;
      run.issued.push(...one.issued);
      run.failures.push(...one.failures);
      run.wallSeconds += one.wallSeconds;
    }
  }
  return sides.map((side, i) => readingOf(side, runs[i]!, before[i]!));
}

function readingOf(side: Side, run: LegoRun, before: Mark): Reading {
  const after = cpuByRole(side.server.process.pid);
  const threadMs = before.threads ? threadMsBetween(before.threads, threadTimes(side.server.process.pid)) : undefined;
  const rootPem = readFileSync(side.target.rootFile, "utf8");
  const problems = [...run.failures, ...run.issued.map(({ name, file }) => checkLegoCertificate(file, name, rootPem))].filter((p): p is string => p !== undefined);
  const good = run.issued.length - (problems.length - run.failures.length);
  const byRole: Record<string, number> = {};
  let totalMs = 0;
  let kernelMs = 0;
  for (const [role, now] of Object.entries(after)) {
    const was = before.cpu[role] ?? { total: 0, system: 0 };
    const ms = (now.total - was.total) * 1000;
    byRole[role] = ms / Math.max(good, 1);
    totalMs += ms;
    kernelMs += (now.system - was.system) * 1000;
  }
  const byThread = threadMs && new Map([...threadMs].map(([key, ms]) => [key, ms / Math.max(good, 1)]));
  return { good, bad: problems, totalMs: totalMs / Math.max(good, 1), kernelMs: kernelMs / Math.max(good, 1), byRole, ...(byThread ? { byThread } : {}), wall: run.wallSeconds };
}

try {
  for (const side of sides) {
    const warm = await load(side, Math.max(loops, 2), `warm-${side.target.label}`);
    if (warm.bad.length) throw new Error(`warm-up against ${side.binary}: ${warm.bad.slice(0, 3).join("; ")}`);
  }
  const results: Reading[][] = sides.map(() => []);
  /** Each side's anonymous memory, all processes, right after each load (the sides share a binary's pages, so anon is what differs). */
  const anonMb: number[][] = sides.map(() => []);
  for (let round = 1; round <= rounds; round++) {
    const order = round % 2 === 1 ? sides.map((_, i) => i) : sides.map((_, i) => i).reverse();
    const interleaved = flags.interleave ? await loadInterleaved(round) : undefined;
    for (const i of order) {
      const reading = interleaved?.[i] ?? (await load(sides[i]!, orders, `r${round}-${sides[i]!.target.label}`));
      results[i]!.push(reading);
      const roles = Object.entries(reading.byRole).map(([role, ms]) => `${role} ${ms.toFixed(2)}`).join(", ");
      console.log(`round ${round} ${sides[i]!.label}: ${reading.good} good, ${reading.bad.length} bad, ${reading.totalMs.toFixed(2)} ms/order (kernel ${reading.kernelMs.toFixed(2)}; ${roles}), ${(reading.good / reading.wall).toFixed(1)} orders/s`);
      // PSS right after the load, by process (the footprint target compares the total with step-ca's).
      const tree = readTree(sides[i]!.server.process.pid);
      anonMb[i]!.push(tree.reduce((sum, p) => sum + p.pssAnonMb, 0));
      console.log(`  PSS ${tree.reduce((sum, p) => sum + p.pssMb, 0).toFixed(1)} MB: ${tree.map((p) => `${p.role} ${p.pssMb.toFixed(1)} (anon ${p.pssAnonMb.toFixed(1)})`).join(", ")}`);
      if (reading.byThread) {
        const shown = [...reading.byThread].filter(([, ms]) => ms >= 0.005).sort(([a], [b]) => a.localeCompare(b));
        console.log(`  by thread, ms/order: ${shown.map(([key, ms]) => `${key} ${ms.toFixed(2)}`).join(", ")}`);
      }
      if (reading.bad.length) console.log(`  ${reading.bad.slice(0, 3).join("\n  ")}`);
    }
  }
  console.log(`\n${orders} orders a round, ${loops} loop(s), ${rounds} rounds: server CPU ms/order, median (range)`);
  for (const [i, side] of sides.entries()) {
    const values = results[i]!.map((r) => r.totalMs);
    console.log(`${side.label}: ${median(values).toFixed(2)} (${Math.min(...values).toFixed(2)}-${Math.max(...values).toFixed(2)}), anon ${median(anonMb[i]!).toFixed(1)} MB`);
  }
  if (sides.length === 2) {
    const lower = results[1]!.filter((reading, round) => reading.totalMs < results[0]![round]!.totalMs).length;
    console.log(`[1] lower than [0] in ${lower} of ${rounds} rounds`);
  }
} finally {
  for (const side of sides) side.server.process.kill("SIGTERM");
  webrootServer.stop(true);
  dns.stop();
}
process.exit(0);
