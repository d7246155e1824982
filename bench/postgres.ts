/**
 * @module
 * The PostgreSQL ledger's speed, next to SQLite's in the same run:
 * `bun bench/postgres.ts [--quick] [--json]`.
 *
 * 1. EC P-256 issuance on 2 workers (dist/depot, one host), SQLite ledger
 *    and PostgreSQL ledger (a throw-away cluster on this machine, started
 *    by test/pg-server.ts), alternating runs so both see the same machine;
 *    the best run of each is kept and their ratio printed (aim: >= 0.7).
 * 2. Two hosts on one PostgreSQL ledger: the time from a revoke answered on
 *    host A to host B's OCSP (the real `openssl ocsp`) saying revoked, and to
 *    B's `crl` answer listing the serial.
 */
import "reflect-metadata";
import type { Subprocess } from "bun";
import { cpSync, existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import * as x509 from "@peculiar/x509";
import { type PgDatabase, pgDatabase } from "../test/pg-server.ts";
import { type LoadResult, request, runLoad } from "./load.ts";
import { freePort } from "./_ports.ts";
import { benchWorkFolder } from "./_work-folder.ts";

const ROOT = resolve(import.meta.dir, "..");
const DEPOT = join(ROOT, "dist", "depot");
const { values: flags } = parseArgs({ options: { quick: { type: "boolean", default: false }, json: { type: "boolean", default: false } } });
const REQUESTS = flags.quick ? 1000 : 4000;
const CONCURRENCY = 32;
const ROUNDS = flags.quick ? 2 : 3;
const REVOCATIONS = flags.quick ? 5 : 20;

const work = await benchWorkFolder("depot-bench-pg-");
const started: Subprocess[] = [];
// Ahead of the folder's removal: the servers go before their files.
process.prependListener("exit", () => {
  for (const proc of started) proc.kill("SIGKILL");
});

function init(path: string, db?: PgDatabase): void {
  const result = Bun.spawnSync([DEPOT, "init", path, "Bench CA", "--key-type", "ec-p256", ...(db ? ["--ledger", db.url] : [])], { env: { ...process.env, ...db?.env } });
  if (result.exitCode !== 0) throw new Error(`init failed: ${result.stderr}`);
}

async function start(path: string, db?: PgDatabase, http = false): Promise<{ port: number; httpPort: number; stop(): Promise<void> }> {
  const port = freePort();
  const httpPort = freePort();
  const proc = Bun.spawn(
    [DEPOT, "start", path, "--port", String(port), "--process-count", "2", "--max-connection-queue", "1024", "--allow-revoke",
      "--pid-file", join(path, "bench.pid"), "--log-file", join(path, "bench.log"), "--log-level", "warn", ...(http ? ["--http-port", String(httpPort)] : [])],
    { stdout: "ignore", stderr: "ignore", stdin: "ignore", env: { ...process.env, ...db?.env, HOME: path } },
  );
  started.push(proc);
  const stateFile = join(path, "bench.pid.json");
  const deadline = performance.now() + 20_000;
  while (!(existsSync(stateFile) && JSON.parse(readFileSync(stateFile, "utf8")).workers.length === 2)) {
    if (performance.now() > deadline) throw new Error(`server for ${path} did not start in 20 s`);
    await Bun.sleep(5);
  }
  return {
    port,
    httpPort,
    async stop() {
      proc.kill("SIGQUIT");
      await proc.exited;
    },
  };
}

async function issuance(label: string, db?: PgDatabase): Promise<LoadResult> {
  const path = join(work, `${label}-${Date.now()}`);
  init(path, db);
  const server = await start(path, db);
  try {
    await runLoad({ host: "127.0.0.1", port: server.port, requests: 200, concurrency: CONCURRENCY, dnTemplate: "/CN=warm {i}" }); // warm-up
    const result = await runLoad({
      host: "127.0.0.1",
      port: server.port,
      requests: REQUESTS,
      concurrency: CONCURRENCY,
      dnTemplate: "/CN=bench {i}",
      caPem: readFileSync(join(path, "certificates", "ca.crt"), "utf8"),
    });
    if (result.errors > 0 || result.duplicateSerials > 0) throw new Error(`${label}: ${result.errors} errors, ${result.duplicateSerials} duplicate serials: ${result.errorSamples.join("; ")}`);
    return result;
  } finally {
    await server.stop();
  }
}

/** B's OCSP status for a certificate, through the real `openssl ocsp`. */
async function ocspStatus(httpPort: number, caFile: string, certFile: string): Promise<string> {
  const proc = Bun.spawn(["openssl", "ocsp", "-issuer", caFile, "-cert", certFile, "-url", `http://127.0.0.1:${httpPort}/ocsp`, "-CAfile", caFile], { stdout: "pipe", stderr: "ignore" });
  const out = await new Response(proc.stdout).text();
  return /: (good|revoked|unknown)\b/.exec(out)?.[1] ?? "none";
}

/** Milliseconds from host A answering `revoke` to host B's OCSP and then its `crl` answer saying so, `count` times. */
async function revocationLag(db: PgDatabase, count: number): Promise<{ ocsp: number[]; crl: number[] }> {
  const pathA = join(work, "host-a");
  const pathB = join(work, "host-b");
  init(pathA, db);
  cpSync(pathA, pathB, { recursive: true });
  const [a, b] = [await start(pathA, db, true), await start(pathB, db, true)];
  const caFile = join(pathA, "certificates", "ca.crt");
  try {
    const lags: number[] = [];
    const ocspLags: number[] = [];
    for (let i = 0; i < count; i++) {
      const answer = await request("127.0.0.1", a.port, `generate /CN=to revoke ${i}`);
      const certificate = new x509.X509Certificate(answer.slice(answer.indexOf("-----BEGIN CERTIFICATE-----")));
      const serial = certificate.serialNumber.replace(/^0+/, "").toLowerCase();
      const certFile = join(work, `revoke-${i}.pem`);
      await Bun.write(certFile, certificate.toString("pem"));
      if ((await ocspStatus(b.httpPort, caFile, certFile)) !== "good") throw new Error("B's OCSP does not say good before the revoke");
      const ok = await request("127.0.0.1", a.port, `revoke ${serial}`);
      if (!ok.startsWith("OK")) throw new Error(`revoke failed: ${ok}`);
      const revokedAt = performance.now();
      while ((await ocspStatus(b.httpPort, caFile, certFile)) !== "revoked") {
        if (performance.now() - revokedAt > 10_000) throw new Error(`host B's OCSP did not say revoked within 10 s`);
      }
      ocspLags.push(performance.now() - revokedAt);
      for (;;) {
        const crl = new x509.X509Crl(await request("127.0.0.1", b.port, "crl"));
        if (crl.entries.some((e) => e.serialNumber.replace(/^0+/, "").toLowerCase() === serial)) break;
        if (performance.now() - revokedAt > 10_000) throw new Error(`host B's CRL did not list ${serial} within 10 s`);
        await Bun.sleep(10);
      }
      lags.push(performance.now() - revokedAt);
      await Bun.sleep(Math.random() * 300); // not in step with the followers' 1 s timer
    }
    return { ocsp: ocspLags.sort((x, y) => x - y), crl: lags.sort((x, y) => x - y) };
  } finally {
    await a.stop();
    await b.stop();
  }
}

const best = (results: LoadResult[]) => results.reduce((x, y) => (y.requestsPerSecond > x.requestsPerSecond ? y : x));

const sqliteRuns: LoadResult[] = [];
const postgresRuns: LoadResult[] = [];
for (let round = 0; round < ROUNDS; round++) {
  sqliteRuns.push(await issuance("sqlite"));
  postgresRuns.push(await issuance("postgres", await pgDatabase()));
}
const { ocsp: ocspLags, crl: lags } = await revocationLag(await pgDatabase(), REVOCATIONS);
const [sqlite, postgres] = [best(sqliteRuns), best(postgresRuns)];
const summary = {
  requests: REQUESTS,
  concurrency: CONCURRENCY,
  rounds: ROUNDS,
  sqlitePerSecond: sqliteRuns.map((r) => Math.round(r.requestsPerSecond)),
  postgresPerSecond: postgresRuns.map((r) => Math.round(r.requestsPerSecond)),
  ratio: postgres.requestsPerSecond / sqlite.requestsPerSecond,
  sqliteP99Ms: sqlite.latencyMs.p99,
  postgresP99Ms: postgres.latencyMs.p99,
  revokeToOtherHostOcspMs: { median: ocspLags[Math.floor(ocspLags.length / 2)]!, max: ocspLags[ocspLags.length - 1]!, count: ocspLags.length },
  revokeToOtherHostCrlMs: { median: lags[Math.floor(lags.length / 2)]!, max: lags[lags.length - 1]!, count: lags.length },
};
if (flags.json) {
  console.log(JSON.stringify(summary, null, 2));
} else {
  console.log(`EC P-256 issuance, 2 workers, ${REQUESTS} requests x ${ROUNDS} rounds, ${CONCURRENCY} in flight`);
  console.log(`  SQLite      req/s ${summary.sqlitePerSecond.join(", ")}   p99 ${sqlite.latencyMs.p99.toFixed(1)} ms`);
  console.log(`  PostgreSQL  req/s ${summary.postgresPerSecond.join(", ")}   p99 ${postgres.latencyMs.p99.toFixed(1)} ms`);
  console.log(`  PostgreSQL / SQLite (best runs): ${summary.ratio.toFixed(2)} (aim >= 0.70)`);
  console.log(`Revoke on host A to host B's OCSP saying revoked (${ocspLags.length} times): median ${summary.revokeToOtherHostOcspMs.median.toFixed(0)} ms, max ${summary.revokeToOtherHostOcspMs.max.toFixed(0)} ms (target 1000)`);
  console.log(`Revoke on host A to host B's CRL listing it (${lags.length} times): median ${summary.revokeToOtherHostCrlMs.median.toFixed(0)} ms, max ${summary.revokeToOtherHostCrlMs.max.toFixed(0)} ms (target 5000)`);
}
process.exit(0);
