/**
 * @module
 * EC P-256 issuance over the HTTPS API (keep-alive, c=16) beside the line
 * protocol (one TCP connection per certificate, c=16), on the same server
 * (dist/depot, 2 workers), in the same run: `bun bench/api.ts [--quick] [--json]`.
 * Every answer is checked (the key matches the certificate, which chains to
 * the CA; no serial twice). The aim (issue 14): the API at least 1.3 times
 * the line protocol's rate, since it makes no TCP connection per certificate.
 */
import "reflect-metadata";
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { checkAnswer, type LoadResult, runLoad } from "./load.ts";
import * as x509 from "@peculiar/x509";
import { freePort } from "./_ports.ts";
import { treeCpuSeconds } from "./_process-tree.ts";
import { benchWorkFolder } from "./_work-folder.ts";

const ROOT = resolve(import.meta.dir, "..");
const DEPOT = join(ROOT, "dist", "depot");
const { values: flags } = parseArgs({ options: { quick: { type: "boolean", default: false }, json: { type: "boolean", default: false } } });
const requests = flags.quick ? 1000 : 4000;
const concurrency = 16;

const work = await benchWorkFolder("depot-bench-api-");

const depotPath = join(work, "ca");
const init = Bun.spawnSync([DEPOT, "init", depotPath, "Bench CA", "--key-type", "ec-p256"]);
if (init.exitCode !== 0) throw new Error(`init failed: ${init.stderr}`);
const made = Bun.spawnSync([DEPOT, "token", "create", depotPath, "--name", "bench"]);
if (made.exitCode !== 0) throw new Error(`token create failed: ${made.stderr}`);
const token = made.stdout.toString().trim();
const linePort = freePort();
const httpsPort = freePort();
const server = Bun.spawn(
  [DEPOT, "start", depotPath, "--port", String(linePort), "--https-port", String(httpsPort), "--process-count", "2", "--max-connection-queue", "1024",
    "--key-pool", "0", "--pid-file", join(work, "bench.pid"), "--log-file", join(work, "bench.log"), "--log-level", "warn"],
  { stdout: "ignore", stderr: "ignore", stdin: "ignore" },
);
const caPem = readFileSync(join(depotPath, "certificates", "ca.crt"), "utf8");

async function untilReady(): Promise<void> {
  const deadline = performance.now() + 15_000;
  const stateFile = join(work, "bench.pid.json");
  while (performance.now() < deadline) {
    if (existsSync(stateFile) && JSON.parse(readFileSync(stateFile, "utf8")).workers?.length === 2) {
      const answer = await fetch(`https://localhost:${httpsPort}/v1/certificates/00`, { headers: { authorization: `Bearer ${token}` }, tls: { ca: caPem } }).catch(() => undefined);
      if (answer?.status === 400) return;
    }
    await Bun.sleep(20);
  }
  throw new Error("the server did not start in 15 s");
}

/** `count` issuances over HTTPS with `c` requests in flight, on keep-alive connections; every answer checked. */
async function apiLoad(count: number, c: number): Promise<LoadResult> {
  const answers: string[] = new Array(count);
  const latencies: number[] = [];
  let next = 0;
  const url = `https://localhost:${httpsPort}/v1/certificates`;
  const started = performance.now();
  async function loop() {
    while (next < count) {
      const i = next++;
      const t0 = performance.now();
      try {
        const response = await fetch(url, {
          method: "POST",
          headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
          body: JSON.stringify({ type: "client", subject: `/CN=bench-${i}/O=depot bench`, keyType: "ec-p256" }),
          tls: { ca: caPem },
          keepalive: true,
        });
        const body = (await response.json()) as { privateKey?: string; certificate?: string; detail?: string };
        answers[i] = response.status === 201 ? `${body.privateKey}${body.certificate}` : `HTTP ${response.status} ${body.detail}`;
      } catch (error) {
        answers[i] = `FAILED ${(error as Error).message}`;
      }
      latencies.push(performance.now() - t0);
    }
  }
  await Promise.all(Array.from({ length: c }, loop));
  const wallSeconds = (performance.now() - started) / 1000;
  const ca = new x509.X509Certificate(caPem);
  const serials: string[] = [];
  const errorSamples: string[] = [];
  let ok = 0;
  for (const text of answers) {
    const problem = await checkAnswer(text, ca, serials);
    if (problem === undefined) ok++;
    else if (errorSamples.length < 5) errorSamples.push(problem);
  }
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
  return {
    ok,
    errors: count - ok,
    errorSamples,
    wallSeconds,
    requestsPerSecond: count / wallSeconds,
    latencyMs: { p50: at(0.5), p95: at(0.95), p99: at(0.99), max: latencies.at(-1) ?? 0 },
    duplicateSerials: serials.length - new Set(serials).size,
    serials,
  };
}

/** Runs a phase and notes the server's and this client's CPU time per certificate, which the machine's other load does not skew as much as rates. */
async function measured(phase: () => Promise<LoadResult>): Promise<LoadResult & { serverCpuMs: number; clientCpuMs: number }> {
  const server0 = treeCpuSeconds(server.pid);
  const client0 = process.cpuUsage();
  const result = await phase();
  const client = process.cpuUsage(client0);
  return { ...result, serverCpuMs: ((treeCpuSeconds(server.pid) - server0) * 1000) / result.ok, clientCpuMs: (client.user + client.system) / 1000 / result.ok };
}

const lineLoad = (count: number) =>
  runLoad({ host: "127.0.0.1", port: linePort, requests: count, concurrency, dnTemplate: "/CN=bench-{i}/O=depot bench", caPem });

try {
  await untilReady();
  await lineLoad(200); // warm-up (JIT), not counted
  await apiLoad(200, concurrency);
  // Alternate rounds so that neither side gets the machine's quieter moments.
  const line: Awaited<ReturnType<typeof measured>>[] = [];
  const api: Awaited<ReturnType<typeof measured>>[] = [];
  for (let round = 0; round < 2; round++) {
    line.push(await measured(() => lineLoad(requests / 2)));
    api.push(await measured(() => apiLoad(requests / 2, concurrency)));
  }
  const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
  const rate = (results: LoadResult[]) => results.reduce((n, r) => n + r.ok, 0) / results.reduce((s, r) => s + r.wallSeconds, 0);
  const summary = {
    requests,
    concurrency,
    linePerSecond: rate(line),
    apiPerSecond: rate(api),
    ratio: rate(api) / rate(line),
    lineP99Ms: Math.max(...line.map((r) => r.latencyMs.p99)),
    apiP99Ms: Math.max(...api.map((r) => r.latencyMs.p99)),
    lineServerCpuMs: mean(line.map((r) => r.serverCpuMs)),
    apiServerCpuMs: mean(api.map((r) => r.serverCpuMs)),
    lineClientCpuMs: mean(line.map((r) => r.clientCpuMs)),
    apiClientCpuMs: mean(api.map((r) => r.clientCpuMs)),
    errors: [...line, ...api].reduce((n, r) => n + r.errors, 0),
    duplicateSerials: new Set([...line, ...api].flatMap((r) => r.serials)).size !== [...line, ...api].flatMap((r) => r.serials).length,
    errorSamples: [...line, ...api].flatMap((r) => r.errorSamples).slice(0, 5),
  };
  if (flags.json) console.log(JSON.stringify(summary, null, 2));
  else {
    console.log("| EC P-256 issuance, 2 workers, c=16 | req/s | p99 ms | server CPU ms/cert | client CPU ms/cert |\n| --- | --- | --- | --- | --- |");
    console.log(`| line protocol (a connection each) | ${summary.linePerSecond.toFixed(1)} | ${summary.lineP99Ms.toFixed(1)} | ${summary.lineServerCpuMs.toFixed(2)} | ${summary.lineClientCpuMs.toFixed(2)} |`);
    console.log(`| HTTPS API (keep-alive) | ${summary.apiPerSecond.toFixed(1)} | ${summary.apiP99Ms.toFixed(1)} | ${summary.apiServerCpuMs.toFixed(2)} | ${summary.apiClientCpuMs.toFixed(2)} |`);
    console.log(`\nAPI / line: ${summary.ratio.toFixed(2)} (aim >= 1.3); errors ${summary.errors}; duplicate serials ${summary.duplicateSerials ? "yes" : "none"}`);
    for (const sample of summary.errorSamples) console.log(`  error: ${sample}`);
  }
  process.exitCode = summary.errors > 0 || summary.duplicateSerials ? 1 : 0;
} finally {
  server.kill("SIGQUIT");
  await server.exited;
}
