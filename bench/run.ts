/**
 * The performance check, one command: `bun bench/run.ts [--quick] [--json] [--only fast,rsa,http,ledgers,cfssl,stepca]`.
 *
 * For each key type it starts the compiled server (dist/depot, 2 workers) on
 * a free port, runs bench/load.ts scenarios against it, and measures the
 * reference in the same run: the crypto alone (key generation + signing),
 * one process per core. Prints key type, depot req/s, reference ops/s, their
 * ratio, p99 latency and worker memory; then the HTTP faces and the
 * ledgers (bench/ocsp.ts, api.ts, postgres.ts), and depot against cfssl
 * side by side with the server's footprint and refusals at c=64
 * (bench/cfssl.ts), and depot against step-ca 0.19 (CSR signing over HTTPS,
 * ACME with lego, footprint; bench/stepca.ts builds step-ca from Debian's Go
 * sources); see docs/performance.md.
 */
import type { Subprocess } from "bun";
import { existsSync, readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { type LoadResult, runLoad } from "./load.ts";
import { readTree } from "./_process-tree.ts";
import { probeHelp } from "./_help-probe.ts";
import { benchWorkFolder, childEnvironment } from "./_work-folder.ts";
import { stepCaReport, type StepCaSummary } from "./_stepca-report.ts";

const ROOT = resolve(import.meta.dir, "..");
const DEPOT = join(ROOT, "dist", "depot");
const { values: flags } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    json: { type: "boolean", default: false },
    "rsa-seconds": { type: "string", default: "120" },
    /** Some sections only, comma-separated: fast (EC P-256, Ed25519), rsa, http, ledgers, cfssl, stepca. */
    only: { type: "string" },
  },
});
/** Whether this run measures `section` (every section unless --only names some). */
const wants = (section: "fast" | "rsa" | "http" | "ledgers" | "cfssl" | "stepca") => flags.only === undefined || flags.only.split(",").includes(section);
const scale = flags.quick ? 0.25 : 1;
const cores = availableParallelism();

interface Row {
  keyType: string;
  scenario: string;
  requests: number;
  concurrency: number;
  depotPerSecond: number;
  referencePerSecond: number | undefined;
  ratio: number | undefined;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  duplicateSerials: number;
  ledgerRows: number;
  workerRssMb: number;
  startToReadyMs: number;
  helpMaxMs?: number;
  burstP99s?: number[];
  helpP95Ms?: number;
  /** RSA sustained: depot's rate with the rounds' drains counted, as before 2026-11-29 (for comparison). */
  depotPerSecondWithDrain?: number;
}

interface Server {
  process: Subprocess;
  port: number;
  depotPath: string;
  startToReadyMs: number;
  stop(): Promise<void>;
}

// Every depot of the run, the child benches' included, is in here, removed once at exit (see _work-folder.ts).
const work = await benchWorkFolder("depot-bench-");

async function startServer(keyType: string, keyPool: number): Promise<Server> {
  const depotPath = join(work, `${keyType}-${keyPool}-${Date.now()}`);
  const init = Bun.spawnSync([DEPOT, "init", depotPath, "Bench CA", "--key-type", keyType]);
  if (init.exitCode !== 0) throw new Error(`init failed: ${init.stderr}`);
  const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = probe.port;
  probe.stop(true);
  const logFile = join(depotPath, "bench.log");
  const started = performance.now();
  const proc = Bun.spawn(
    [DEPOT, "start", depotPath, "--port", String(port), "--process-count", "2", "--max-connection-queue", "1024",
      "--key-pool", String(keyPool), "--pid-file", join(depotPath, "bench.pid"), "--log-file", logFile, "--log-level", "warn"],
    { stdout: "ignore", stderr: "ignore", stdin: "ignore" },
  );
  // Ready when a request is answered and both workers have said so (pid file state lists them).
  const stateFile = join(depotPath, "bench.pid.json");
  for (;;) {
    if (performance.now() - started > 10_000) throw new Error("server did not start in 10 s");
    if (existsSync(stateFile) && JSON.parse(readFileSync(stateFile, "utf8")).workers.length === 2) break;
    await Bun.sleep(5);
  }
  const startToReadyMs = performance.now() - started;
  return {
    process: proc,
    port,
    depotPath,
    startToReadyMs,
    async stop() {
      proc.kill("SIGQUIT");
      await proc.exited;
    },
  };
}

function workerPeakRssMb(supervisorPid: number): number {
  return Math.max(0, ...readTree(supervisorPid).filter((p) => p.pid !== supervisorPid).map((p) => p.hwmMb));
}

function ledgerRows(depotPath: string): number {
  const { Database } = require("bun:sqlite") as typeof import("bun:sqlite");
  const db = new Database(join(depotPath, "ledger.sqlite3"), { readonly: true });
  const n = db.query<{ n: number }, []>("SELECT count(*) AS n FROM certificates WHERE type = 'client'").get()!.n;
  db.close();
  return n;
}

/** The crypto alone on every core: one reference process per core, for `seconds`. */
async function reference(keyType: string, seconds: number): Promise<number> {
  const runs = Array.from({ length: cores }, () =>
    Bun.spawn([process.execPath, join(ROOT, "bench", "reference.ts"), keyType, String(seconds)], { stdout: "pipe" }),
  );
  const counts = await Promise.all(runs.map(async (p) => Number((await new Response(p.stdout).text()).trim())));
  return counts.reduce((a, b) => a + b, 0) / seconds;
}

function row(keyType: string, scenario: string, requests: number, concurrency: number, result: LoadResult, server: Server, extra: Partial<Row> = {}): Row {
  return {
    keyType,
    scenario,
    requests,
    concurrency,
    depotPerSecond: result.requestsPerSecond,
    referencePerSecond: undefined,
    ratio: undefined,
    p50Ms: result.latencyMs.p50,
    p99Ms: result.latencyMs.p99,
    errors: result.errors,
    duplicateSerials: result.duplicateSerials,
    ledgerRows: ledgerRows(server.depotPath),
    workerRssMb: workerPeakRssMb(server.process.pid),
    startToReadyMs: server.startToReadyMs,
    ...extra,
  };
}

async function load(server: Server, requests: number, concurrency: number): Promise<LoadResult> {
  return runLoad({
    host: "127.0.0.1",
    port: server.port,
    requests,
    concurrency,
    dnTemplate: "/CN=bench-{i}/O=depot bench",
    caPem: readFileSync(join(server.depotPath, "certificates", "ca.crt"), "utf8"),
  });
}

const rows: Row[] = [];

// Fast key types: sustained load; the encoding, ledger and socket are the cost.
for (const keyType of wants("fast") ? ["ec-p256", "ed25519"] : []) {
  const server = await startServer(keyType, 0);
  try {
    await load(server, 200, 16); // warm-up (JIT), not counted
    const n = Math.round(4000 * scale);
    const result = await load(server, n, 16);
    const r = row(keyType, "sustained", n, 16, result, server);
    r.ledgerRows -= 200;
    rows.push(r);
  } finally {
    await server.stop();
  }
}

// RSA-2048, sustained with no pool (every request makes its key). One RSA
// key takes 70-130 ms here and varies widely, and this machine's speed
// drifts by minutes, so a short run gives an unstable ratio: depot and the
// reference alternate in rounds of equal length, and the ratio is of their
// totals. The first depot round probes `help` meanwhile (its probes take
// CPU from the keys), so it is a warm-up that the ratio leaves out.
if (wants("rsa")) {
  const server = await startServer("rsa-2048", 0);
  try {
    const rounds = 6;
    const roundSeconds = Math.max(5, Math.round((flags.quick ? 20 : Number(flags["rsa-seconds"])) / rounds));
    let help: number[] = [];
    let depotKeys = 0;
    let depotSeconds = 0;
    let referenceKeys = 0;
    // Answers that arrived within each round's time: what the ratio compares (the
    // reference counts the operations that ended within its time).
    let depotKeysInWindow = 0;
    const results: LoadResult[] = [];
    // From a process of its own, so that it times the server, not this process's own work.
    const probes = await probeHelp(server.port);
    for (let round = 0; round < rounds; round++) {
      const result = await runLoad({
        host: "127.0.0.1", port: server.port, requests: 1_000_000, concurrency: 8, durationMs: roundSeconds * 1000,
        dnTemplate: "/CN=bench-{i}/O=depot bench", caPem: readFileSync(join(server.depotPath, "certificates", "ca.crt"), "utf8"),
      });
      results.push(result);
      if (round === 0) {
        help = await probes.stop(); // `help` was probed during this round only
        continue;
      }
      depotKeys += result.ok;
      depotSeconds += result.wallSeconds;
      depotKeysInWindow += result.okWithinDuration ?? 0;
      referenceKeys += (await reference("rsa-2048", roundSeconds)) * roundSeconds;
    }
    const merged = results.reduce((a, b) => (a.latencyMs.p99 > b.latencyMs.p99 ? a : b));
    const n = results.reduce((sum, r) => sum + r.ok + r.errors, 0);
    // Both rates over the rounds' time: the answers still in flight when a round's time is up
    // (up to 8, with fewer than the cores can use as they drain) are left out, as the reference
    // leaves out an operation that ends after its time.
    const depotRate = depotKeysInWindow / (roundSeconds * (rounds - 1));
    const referenceRate = referenceKeys / (roundSeconds * (rounds - 1));
    const depotRateWithDrain = depotKeys / depotSeconds;
    rows.push(
      row("rsa-2048", `sustained, no pool, ${rounds - 1} x ${roundSeconds} s alternating after a warm-up round`, n, 8, { ...merged, requestsPerSecond: depotRate, errors: results.reduce((e, r) => e + r.errors, 0) }, server, {
        helpMaxMs: help.at(-1) ?? 0,
        helpP95Ms: help[Math.floor(help.length * 0.95)] ?? 0,
        referencePerSecond: referenceRate,
        ratio: depotRate / referenceRate,
        depotPerSecondWithDrain: depotRateWithDrain,
      }),
    );
  } finally {
    await server.stop();
  }
}

// RSA-2048, bursts of 32 on a warm pool (the default 32 keys per worker:
// the kernel does not split a burst evenly between the workers).
if (wants("rsa")) {
  const server = await startServer("rsa-2048", 32);
  try {
    await load(server, 8, 2); // warm-up (JIT), not counted
    const rounds = flags.quick ? 2 : 5;
    const results: LoadResult[] = [];
    for (let round = 0; round < rounds; round++) {
      await Bun.sleep(5000); // let both pools fill again: 32 keys x ~100 ms, one at a time
      results.push(await load(server, 32, 32));
    }
    // The round with the median p99 stands for the scenario; all p99s are printed below.
    const byP99 = [...results].sort((a, b) => a.latencyMs.p99 - b.latencyMs.p99);
    const median = byP99[Math.floor(byP99.length / 2)]!;
    const r = row("rsa-2048", `burst 32, warm pool (median of ${rounds})`, 32, 32, median, server);
    r.ledgerRows = 32; // checked per round below
    r.burstP99s = results.map((x) => x.latencyMs.p99);
    if (results.some((x) => x.errors > 0 || x.duplicateSerials > 0)) r.errors = results.reduce((n, x) => n + x.errors, 0);
    rows.push(r);
  } finally {
    await server.stop();
  }
}

// The reference, measured in this same run.
const referenceSeconds = flags.quick ? 3 : 6;
const referenceByType = new Map<string, number>();
for (const keyType of wants("fast") ? ["ec-p256", "ed25519"] : []) referenceByType.set(keyType, await reference(keyType, referenceSeconds));
for (const r of rows) {
  if (r.scenario.startsWith("burst") || r.ratio !== undefined) continue;
  r.referencePerSecond = referenceByType.get(r.keyType);
  r.ratio = r.referencePerSecond ? r.depotPerSecond / r.referencePerSecond : undefined;
}

// The HTTP faces in the same run: OCSP over keep-alive, and issuance over
// the HTTPS API beside the line protocol (each script starts its own server).
interface HttpRow {
  scenario: string;
  perSecond: number;
  p99Ms: number;
  errors: number;
  note: string;
}
async function runJson(script: string, args: string[]): Promise<any> {
  const child = Bun.spawn([process.execPath, join(ROOT, "bench", script), ...args, "--json"], { stdout: "pipe", stderr: "pipe", env: childEnvironment(work) });
  // stderr read at the same time (a full pipe would stall the child); its last lines say why a bench failed.
  const [text, errors] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text()]);
  // What a child installed or built (bench/_debian-packages.ts, _stepca-build.ts) is said here too.
  for (const line of errors.split("\n")) if (/^(bench|test)( set-up)?: /.test(line)) console.error(line);
  if ((await child.exited) !== 0 && !text.trim()) throw new Error(`bench/${script} failed: ${errors.trim().split("\n").slice(-5).join(" | ")}`);
  return JSON.parse(text);
}
const httpRows: HttpRow[] = [];
if (wants("http")) {
  const ocsp = await runJson("ocsp.ts", ["--seconds", flags.quick ? "2" : "5"]);
  for (const r of ocsp.rows as { scenario: string; perSecond: number; p99Ms: number; failures: number; serverCpuUs: number }[]) {
    httpRows.push({ scenario: `OCSP, ${r.scenario}, c=16 keep-alive`, perSecond: r.perSecond, p99Ms: r.p99Ms, errors: r.failures, note: `server CPU ${r.serverCpuUs.toFixed(0)} us/response` });
  }
  const api = await runJson("api.ts", flags.quick ? ["--quick"] : []);
  httpRows.push({ scenario: "EC P-256 issuance, line protocol, c=16", perSecond: api.linePerSecond, p99Ms: api.lineP99Ms, errors: 0, note: `server CPU ${api.lineServerCpuMs.toFixed(2)} ms/cert` });
  httpRows.push({
    scenario: "EC P-256 issuance, HTTPS API keep-alive, c=16",
    perSecond: api.apiPerSecond,
    p99Ms: api.apiP99Ms,
    errors: api.errors + (api.duplicateSerials ? 1 : 0),
    note: `${api.ratio.toFixed(2)} x the line protocol; server CPU ${api.apiServerCpuMs.toFixed(2)} ms/cert`,
  });
}

// The PostgreSQL ledger beside SQLite, in the same run (bench/postgres.ts
// starts its own throw-away cluster).
const ledgerRowsByEngine: HttpRow[] = [];
if (wants("ledgers")) {
  const pg = await runJson("postgres.ts", flags.quick ? ["--quick"] : []);
  ledgerRowsByEngine.push({ scenario: "EC P-256 issuance, SQLite ledger (best run)", perSecond: Math.max(...pg.sqlitePerSecond), p99Ms: pg.sqliteP99Ms, errors: 0, note: "" });
  ledgerRowsByEngine.push({
    scenario: "EC P-256 issuance, PostgreSQL ledger (best run)",
    perSecond: Math.max(...pg.postgresPerSecond),
    p99Ms: pg.postgresP99Ms,
    errors: 0,
    note: `${pg.ratio.toFixed(2)} x SQLite; revoke on host A to host B's OCSP: median ${pg.revokeToOtherHostOcspMs.median.toFixed(0)} ms`,
  });
}

// depot against cfssl, side by side (targets 1-3 of the performance issue):
// bench/cfssl.ts installs Debian's golang-cfssl when it is missing (as root).
interface CfsslRound {
  round: number;
  cfssl: { goodPerSecond: number; p99Ms: number; errors: number; cpuMsPerAnswer?: number };
  depot: { goodPerSecond: number; p99Ms: number; errors: number; cpuMsPerAnswer?: number };
}
interface CfsslSummary {
  rounds: CfsslRound[];
  medianRatio: number;
  burst64: { goodPerSecond: number; p99Ms: number; errors: number };
  footprint: { role: string; pssMb: number; hwmMb: number }[];
  totalPssMb: number;
  ledgerRows: number;
  answeredByDepot: number;
}
let versusCfssl: CfsslSummary | { failed: string } = { failed: "not asked for (--only)" };
if (wants("cfssl")) {
  try {
    versusCfssl = (await runJson("cfssl.ts", flags.quick ? ["--rounds", "2", "-n", "2000"] : ["--rounds", "5", "-n", "6000"])) as CfsslSummary;
  } catch (error) {
    versusCfssl = { failed: `${(error as Error).message} (run it alone to see why: bun bench/cfssl.ts)` };
  }
}

// depot against step-ca 0.19, side by side (issue 23): bench/stepca.ts builds
// step-ca from Debian's Go packages (installing them when missing) and lego.
let versusStepCa: StepCaSummary | { failed: string } = { failed: "not asked for (--only)" };
if (wants("stepca")) {
  const args = flags.quick
    ? ["--rounds", "2", "-n", "1000", "--generate-n", "500", "--acme-orders", "2", "--acme-c", "2"]
    : ["--rounds", "5", "-n", "4000", "--sign-n", "1000,4000,4000", "--acme-orders", "8"];
  try {
    versusStepCa = (await runJson("stepca.ts", args)) as StepCaSummary;
  } catch (error) {
    versusStepCa = { failed: `${(error as Error).message} (run it alone: bun bench/stepca.ts)` };
  }
}

if (flags.json) {
  console.log(JSON.stringify({ cores, bun: Bun.version, rows, httpRows, ledgerRowsByEngine, versusCfssl, versusStepCa }, null, 2));
} else {
  const header = ["key type", "scenario", "n", "c", "depot req/s", "reference ops/s", "ratio", "p50 ms", "p99 ms", "errors", "dup serials", "ledger rows", "worker RSS MB", "start ms"];
  const lines = rows.map((r) => [
    r.keyType, r.scenario, String(r.requests), String(r.concurrency), r.depotPerSecond.toFixed(1),
    r.referencePerSecond?.toFixed(1) ?? "-", r.ratio?.toFixed(2) ?? "-", r.p50Ms.toFixed(1), r.p99Ms.toFixed(1),
    String(r.errors), String(r.duplicateSerials), String(r.ledgerRows), r.workerRssMb.toFixed(1), r.startToReadyMs.toFixed(0),
  ]);
  console.log(`| ${header.join(" | ")} |\n|${header.map(() => " --- ").join("|")}|`);
  for (const line of lines) console.log(`| ${line.join(" | ")} |`);
  const help = rows.find((r) => r.helpMaxMs !== undefined);
  if (help) console.log(`\nhelp latency during RSA-2048 load: p95 ${help.helpP95Ms!.toFixed(1)} ms, max ${help.helpMaxMs!.toFixed(1)} ms`);
  if (help?.depotPerSecondWithDrain !== undefined) {
    console.log(
      `RSA-2048 sustained counted with each round's drain (the answers in flight at its end) in depot's time, as before: ` +
        `${help.depotPerSecondWithDrain.toFixed(1)}/s, ratio ${(help.depotPerSecondWithDrain / help.referencePerSecond!).toFixed(2)}`,
    );
  }
  const burst = rows.find((r) => r.burstP99s);
  if (burst) console.log(`RSA-2048 burst p99 per round: ${burst.burstP99s!.map((v) => v.toFixed(1)).join(", ")} ms`);
  console.log(`\n| HTTP faces and ledgers | per second | p99 ms | errors | |\n| --- | --- | --- | --- | --- |`);
  for (const r of [...httpRows, ...ledgerRowsByEngine]) console.log(`| ${r.scenario} | ${r.perSecond.toFixed(1)} | ${r.p99Ms.toFixed(1)} | ${r.errors} | ${r.note} |`);
  if ("failed" in versusCfssl) {
    console.log(`\ndepot against cfssl: not measured: ${versusCfssl.failed}`);
  } else {
    const cpuRatio = (r: CfsslRound) => (r.cfssl.cpuMsPerAnswer && r.depot.cpuMsPerAnswer ? (r.cfssl.cpuMsPerAnswer / r.depot.cpuMsPerAnswer).toFixed(2) : "-");
    console.log(`\n| depot against cfssl, EC P-256, c=16 | cfssl req/s | cfssl p99 ms | depot good/s | depot p99 ms | depot errors | ratio | CPU-efficiency ratio |\n| --- | --- | --- | --- | --- | --- | --- | --- |`);
    for (const r of versusCfssl.rounds) {
      console.log(
        `| round ${r.round} | ${r.cfssl.goodPerSecond.toFixed(0)} | ${r.cfssl.p99Ms.toFixed(1)} | ${r.depot.goodPerSecond.toFixed(0)} | ${r.depot.p99Ms.toFixed(1)} | ${r.depot.errors} | ${(r.depot.goodPerSecond / r.cfssl.goodPerSecond).toFixed(2)} | ${cpuRatio(r)} |`,
      );
    }
    console.log(`median ratio ${versusCfssl.medianRatio.toFixed(2)} (target >= 1.2); at c=64: ${versusCfssl.burst64.errors} refused, ${versusCfssl.burst64.goodPerSecond.toFixed(0)} good/s, p99 ${versusCfssl.burst64.p99Ms.toFixed(1)} ms (target: 0 refused)`);
    console.log(`PSS right after the load: ${versusCfssl.footprint.map((f) => `${f.role} ${f.pssMb.toFixed(1)} MB (VmHWM ${f.hwmMb.toFixed(1)})`).join(", ")}; total ${versusCfssl.totalPssMb.toFixed(1)} MB (target <= 90)`);
  }
  console.log(`\n${"failed" in versusStepCa ? `depot against step-ca: not measured: ${versusStepCa.failed}` : stepCaReport(versusStepCa)}`);
  console.log(`cores ${cores}, bun ${Bun.version}`);
}
const cfsslFailed = !("failed" in versusCfssl) && (versusCfssl.ledgerRows !== versusCfssl.answeredByDepot || versusCfssl.rounds.some((r) => r.depot.errors > 0));
// Asked for but not measured, or a certificate that failed its check: the run fails (never a silent skip).
const stepCaFailed = wants("stepca") && ("failed" in versusStepCa || versusStepCa.errors > 0);
const failed = stepCaFailed || rows.some((r) => r.errors > 0 || r.duplicateSerials > 0 || r.ledgerRows !== r.requests) || httpRows.some((r) => r.errors > 0) || cfsslFailed;
process.exitCode = failed ? 1 : 0;
