/**
 * @module depot against cfssl, side by side in one run: `bun bench/cfssl.ts [--rounds 3] [-n 4000] [--json] [--depot dist/depot]`.
 *
 * Both issue an EC P-256 key and certificate per request: depot over its line
 * protocol (compiled dist/depot, 2 workers, default options, every answer
 * checked and recorded in the ledger), cfssl 1.2 through `cfssl serve`'s
 * `newcert` endpoint (no database). Rounds alternate so that the machine's
 * noise falls on both. Afterwards depot's footprint is read: PSS (which
 * shares the binary's pages fairly between processes) and VmHWM of the
 * supervisor and each child, and a burst at concurrency 64 counts refusals.
 *
 * cfssl comes from Debian's `golang-cfssl` package; this script installs it
 * when it is missing (as root) and says so.
 */
import type { Subprocess } from "bun";
import { readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { runLoad } from "./load.ts";
import { dropFromPageCache } from "./_page-cache.ts";
import { freePort } from "./_ports.ts";
import { type ProcessReading, readTree, treeCpuSeconds } from "./_process-tree.ts";
import { median } from "./_stats.ts";
import { type DefaultServer, startDefaultServer } from "./_default-server.ts";
import { benchWorkFolder } from "./_work-folder.ts";

const ROOT = resolve(import.meta.dir, "..");
const { values: flags } = parseArgs({
  options: {
    depot: { type: "string", default: join(ROOT, "dist", "depot") },
    rounds: { type: "string", default: "3" },
    n: { type: "string", short: "n", default: "4000" },
    c: { type: "string", short: "c", default: "16" },
    json: { type: "boolean", default: false },
  },
});
/** The binary under test: the build of this checkout unless `--depot` names another (an A/B against an older build). */
const DEPOT = resolve(flags.depot);
const rounds = Number(flags.rounds);
const requests = Number(flags.n);
const concurrency = Number(flags.c);

const work = await benchWorkFolder("depot-cfssl-");

function ensureCfssl(): void {
  if (Bun.which("cfssl") && Bun.which("cfssljson")) return;
  console.error("bench: installing Debian's golang-cfssl (cfssl and cfssljson are missing)");
  const run = (cmd: string[]) => {
    const r = Bun.spawnSync(cmd, { stdout: "ignore", stderr: "inherit", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } });
    if (r.exitCode !== 0) throw new Error(`${cmd.join(" ")} failed; install golang-cfssl by hand`);
  };
  run(["apt-get", "update"]);
  run(["apt-get", "install", "-y", "-o", "DPkg::Lock::Timeout=600", "golang-cfssl"]);
}

interface RoundResult {
  goodPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  errorSamples: string[];
  /** The server's CPU (user + system, all its processes) per good answer, in ms: the machine's load does not inflate it much. */
  cpuMsPerAnswer?: number;
}

/** Runs `load` and adds the server's CPU per good answer to its result. */
async function withCpu(pid: number, load: () => Promise<RoundResult>, requests: number): Promise<RoundResult> {
  const before = treeCpuSeconds(pid);
  const result = await load();
  const good = requests - result.errors;
  return { ...result, cpuMsPerAnswer: good > 0 ? ((treeCpuSeconds(pid) - before) * 1000) / good : undefined };
}

// ---- cfssl -------------------------------------------------------------

async function startCfssl(): Promise<{ port: number; process: Subprocess }> {
  const dir = join(work, "cfssl");
  Bun.spawnSync(["mkdir", "-p", dir]);
  writeFileSync(join(dir, "csr.json"), JSON.stringify({ CN: "cfssl bench CA", key: { algo: "ecdsa", size: 256 } }));
  writeFileSync(
    join(dir, "config.json"),
    JSON.stringify({ signing: { default: { expiry: "8760h", usages: ["digital signature", "client auth"] } } }),
  );
  const gen = Bun.spawnSync(["sh", "-c", "cfssl gencert -initca csr.json 2>/dev/null | cfssljson -bare ca"], { cwd: dir });
  if (gen.exitCode !== 0) throw new Error("cfssl could not make its CA");
  const port = freePort();
  dropFromPageCache(Bun.which("cfssl")!);
  const proc = Bun.spawn(
    ["cfssl", "serve", "-address", "127.0.0.1", "-port", String(port), "-ca", "ca.pem", "-ca-key", "ca-key.pem", "-config", "config.json"],
    { cwd: dir, stdout: "ignore", stderr: "ignore" },
  );
  for (let i = 0; i < 200; i++) {
    try {
      await fetch(`http://127.0.0.1:${port}/api/v1/cfssl/info`, { method: "POST", body: "{}" });
      return { port, process: proc };
    } catch {
      await Bun.sleep(25);
    }
  }
  throw new Error("cfssl serve did not start");
}

/** cfssl's newcert at a fixed concurrency; an answer counts when it holds a certificate and a key. */
async function loadCfssl(port: number, n: number, c: number): Promise<RoundResult> {
  const latencies: number[] = [];
  const samples: string[] = [];
  let good = 0;
  let next = 0;
  const started = performance.now();
  async function loop() {
    while (next < n) {
      const i = next++;
      const t0 = performance.now();
      try {
        const response = await fetch(`http://127.0.0.1:${port}/api/v1/cfssl/newcert`, {
          method: "POST",
          body: JSON.stringify({ request: { CN: `bench-${i}`, names: [{ O: "depot bench" }], key: { algo: "ecdsa", size: 256 }, hosts: [] } }),
        });
        const body = (await response.json()) as { success: boolean; result?: { certificate?: string; private_key?: string } };
        if (body.success && body.result?.certificate?.includes("BEGIN CERTIFICATE") && body.result.private_key?.includes("PRIVATE KEY")) good++;
        else if (samples.length < 5) samples.push(JSON.stringify(body).slice(0, 200));
      } catch (error) {
        if (samples.length < 5) samples.push((error as Error).message);
      }
      latencies.push(performance.now() - t0);
    }
  }
  await Promise.all(Array.from({ length: c }, loop));
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
  return { goodPerSecond: good / seconds, p50Ms: at(0.5), p99Ms: at(0.99), errors: n - good, errorSamples: samples };
}

// ---- depot -------------------------------------------------------------

type DepotServer = DefaultServer;

const startDepot = () => startDefaultServer(DEPOT, work);

async function loadDepot(server: DepotServer, n: number, c: number): Promise<RoundResult> {
  const result = await runLoad({
    host: "127.0.0.1",
    port: server.port,
    requests: n,
    concurrency: c,
    dnTemplate: "/CN=bench-{i}/O=depot bench",
    caPem: readFileSync(join(server.depotPath, "certificates", "ca.crt"), "utf8"),
  });
  return {
    goodPerSecond: result.ok / result.wallSeconds,
    p50Ms: result.latencyMs.p50,
    p99Ms: result.latencyMs.p99,
    errors: result.errors + result.duplicateSerials,
    errorSamples: result.errorSamples,
  };
}

type Footprint = Pick<ProcessReading, "pid" | "role" | "pssMb" | "hwmMb">;

function ledgerRows(depotPath: string): number {
  const { Database } = require("bun:sqlite") as typeof import("bun:sqlite");
  const db = new Database(join(depotPath, "ledger.sqlite3"), { readonly: true });
  const n = db.query<{ n: number }, []>("SELECT count(*) AS n FROM certificates WHERE type = 'client'").get()!.n;
  db.close();
  return n;
}

// ---- the run -----------------------------------------------------------

ensureCfssl();
const cfssl = await startCfssl();
const depot = await startDepot();
const table: { round: number; cfssl: RoundResult; depot: RoundResult }[] = [];
let answeredByDepot = 0;
let footprintAfterLoad: Footprint[] = [];
let burst64: RoundResult | undefined;
try {
  // Warm-up for both (JIT, connection pools), not counted.
  await loadCfssl(cfssl.port, 200, concurrency);
  const warm = await loadDepot(depot, 200, concurrency);
  answeredByDepot += Math.round(200 - warm.errors);
  for (let round = 1; round <= rounds; round++) {
    const cfsslResult = await withCpu(cfssl.process.pid, () => loadCfssl(cfssl.port, requests, concurrency), requests);
    const depotResult = await withCpu(depot.process.pid, () => loadDepot(depot, requests, concurrency), requests);
    answeredByDepot += requests - depotResult.errors;
    table.push({ round, cfssl: cfsslResult, depot: depotResult });
  }
  footprintAfterLoad = readTree(depot.process.pid).map(({ pid, role, pssMb, hwmMb }) => ({ pid, role, pssMb, hwmMb }));
  burst64 = await loadDepot(depot, 2000, 64);
  answeredByDepot += 2000 - burst64.errors;
} finally {
  depot.process.kill("SIGQUIT");
  await depot.process.exited;
  cfssl.process.kill();
}
const rows = ledgerRows(depot.depotPath);

const ratios = table.map((r) => r.depot.goodPerSecond / r.cfssl.goodPerSecond);
const summary = {
  rounds: table,
  medianRatio: median(ratios),
  burst64,
  footprint: footprintAfterLoad,
  totalPssMb: footprintAfterLoad.reduce((sum, f) => sum + f.pssMb, 0),
  ledgerRows: rows,
  answeredByDepot,
};
if (flags.json) {
  console.log(JSON.stringify(summary, null, 2));
} else {
  console.log(`| round | cfssl req/s | cfssl p99 ms | cfssl errors | depot good/s | depot p99 ms | depot errors | ratio | cfssl CPU ms/cert | depot CPU ms/cert | CPU ratio |`);
  console.log(`| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |`);
  for (const r of table) {
    console.log(
      `| ${r.round} | ${r.cfssl.goodPerSecond.toFixed(0)} | ${r.cfssl.p99Ms.toFixed(1)} | ${r.cfssl.errors} | ${r.depot.goodPerSecond.toFixed(0)} | ${r.depot.p99Ms.toFixed(1)} | ${r.depot.errors} | ${(r.depot.goodPerSecond / r.cfssl.goodPerSecond).toFixed(2)} | ${r.cfssl.cpuMsPerAnswer?.toFixed(3)} | ${r.depot.cpuMsPerAnswer?.toFixed(3)} | ${((r.cfssl.cpuMsPerAnswer ?? 0) / (r.depot.cpuMsPerAnswer ?? 1)).toFixed(2)} |`,
    );
  }
  console.log(`median ratio depot/cfssl: ${summary.medianRatio.toFixed(2)}`);
  const cpuRatios = table.map((r) => (r.cfssl.cpuMsPerAnswer ?? 0) / (r.depot.cpuMsPerAnswer ?? 1));
  console.log(`median CPU-efficiency ratio (cfssl CPU per cert / depot CPU per cert; > 1: depot needs less CPU per certificate): ${median(cpuRatios).toFixed(2)}`);
  if (burst64) console.log(`depot at c=64, n=2000: ${burst64.errors} refused or wrong, ${burst64.goodPerSecond.toFixed(0)} good/s, p99 ${burst64.p99Ms.toFixed(1)} ms`);
  console.log(`footprint after the load (MB): ${footprintAfterLoad.map((f) => `${f.role} ${f.pid}: PSS ${f.pssMb.toFixed(1)}, VmHWM ${f.hwmMb.toFixed(1)}`).join("; ")}`);
  console.log(`total PSS ${summary.totalPssMb.toFixed(1)} MB`);
  console.log(`ledger rows ${rows} for ${answeredByDepot} good answers`);
  for (const r of table) for (const s of [...r.depot.errorSamples, ...r.cfssl.errorSamples]) console.log(`  sample error: ${s}`);
}
process.exitCode = rows === answeredByDepot ? 0 : 1;
