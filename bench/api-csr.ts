/**
 * @module
 * The HTTPS API's cost per certificate, A/B: `bun bench/api-csr.ts
 * [--depot BIN]... [--concurrency 1,8,32] [--requests 2000] [--rounds 3] [--keys]`.
 *
 * One server per `--depot` binary (default dist/depot), each on its own
 * fresh EC P-256 depot with default options (2 workers) and `--https-port`,
 * all running at once; rounds alternate between them, so that no build gets
 * the machine's quieter moments. Each phase sends `--requests` POST
 * /v1/certificates with an EC P-256 CSR (a server certificate, its name in
 * CN and SAN; `--keys`: a depot-made key instead) over keep-alive
 * connections, c at a time. Reported per binary and c, as the median over
 * the rounds: rate, p50 and p99, the server's CPU per certificate (all its
 * processes, from /proc: the robust figure on a shared machine), and the
 * server's total PSS right after the phase. Every answer is checked after
 * the phase (201, a certificate the CA signed, no serial twice).
 */
import "reflect-metadata";
import { X509Certificate, webcrypto } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import * as x509 from "@peculiar/x509";
import { dropFromPageCache } from "./_page-cache.ts";
import { freePort } from "./_ports.ts";
import { cpuSecondsOf, cpuSplitOf, readTree, roleOf, treePids } from "./_process-tree.ts";
import { median } from "./_stats.ts";
import { benchWorkFolder } from "./_work-folder.ts";

const ROOT = resolve(import.meta.dir, "..");
const { values: flags } = parseArgs({
  options: {
    depot: { type: "string", multiple: true },
    /** `N:NAME=VALUE`: an environment variable for the N-th server only (0-based), e.g. 1:BUN_JSC_useDFGJIT=true. */
    "server-env": { type: "string", multiple: true },
    concurrency: { type: "string", default: "1,8,32" },
    requests: { type: "string", default: "2000" },
    rounds: { type: "string", default: "3" },
    keys: { type: "boolean", default: false },
    json: { type: "boolean", default: false },
  },
});
const binaries = (flags.depot ?? [join(ROOT, "dist", "depot")]).map((path) => resolve(path));
const concurrencies = flags.concurrency.split(",").map(Number);
const requests = Number(flags.requests);
const rounds = Number(flags.rounds);
const work = await benchWorkFolder("depot-bench-api-csr-");

interface Server {
  binary: string;
  process: ReturnType<typeof Bun.spawn>;
  httpsPort: number;
  token: string;
  caPem: string;
  caKey: X509Certificate["publicKey"];
}

function serverEnv(index: number): Record<string, string> {
  const env: Record<string, string> = {};
  for (const setting of flags["server-env"] ?? []) {
    const match = /^(\d+):([^=]+)=(.*)$/.exec(setting);
    if (!match) throw new Error(`--server-env ${setting}: expected N:NAME=VALUE`);
    if (Number(match[1]) === index) env[match[2]!] = match[3]!;
  }
  return env;
}

async function startServer(binary: string, index: number): Promise<Server> {
  const depotPath = join(work, `ca-${index}`);
  const init = Bun.spawnSync([binary, "init", depotPath, "Bench CA", "--key-type", "ec-p256"]);
  if (init.exitCode !== 0) throw new Error(`init failed: ${init.stderr}`);
  const made = Bun.spawnSync([binary, "token", "create", depotPath, "--name", "bench"]);
  if (made.exitCode !== 0) throw new Error(`token create failed: ${made.stderr}`);
  const token = made.stdout.toString().trim();
  const httpsPort = freePort();
  const pidFile = join(work, `bench-${index}.pid`);
  dropFromPageCache(binary);
  const proc = Bun.spawn(
    [binary, "start", depotPath, "--port", String(freePort()), "--https-port", String(httpsPort), "--pid-file", pidFile, "--log-file", join(work, `bench-${index}.log`), "--log-level", "warn"],
    { stdout: "ignore", stderr: "ignore", stdin: "ignore", env: { ...process.env, ...serverEnv(index) } },
  );
  const caPem = readFileSync(join(depotPath, "certificates", "ca.crt"), "utf8");
  const deadline = performance.now() + 20_000;
  while (performance.now() < deadline) {
    if (existsSync(`${pidFile}.json`) && JSON.parse(readFileSync(`${pidFile}.json`, "utf8")).workers?.length === 2) {
      const answer = await fetch(`https://localhost:${httpsPort}/v1/certificates/00`, { headers: { authorization: `Bearer ${token}` }, tls: { ca: caPem } }).catch(() => undefined);
      if (answer?.status === 400) return { binary, process: proc, httpsPort, token, caPem, caKey: new X509Certificate(caPem).publicKey };
    }
    await Bun.sleep(20);
  }
  throw new Error(`${binary}: the server did not start in 20 s`);
}

/** A few hundred distinct EC P-256 requests, made once and sent in turn. */
async function makeCsrs(count: number): Promise<string[]> {
  x509.cryptoProvider.set(webcrypto as unknown as Crypto);
  const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
  const csrs: string[] = [];
  for (let i = 0; i < count; i++) {
    const keys = (await webcrypto.subtle.generateKey(alg, false, ["sign", "verify"])) as CryptoKeyPair;
    const csr = await x509.Pkcs10CertificateRequestGenerator.create({
      name: `CN=host-${i}.bench.test`,
      keys,
      signingAlgorithm: alg,
      extensions: [new x509.SubjectAlternativeNameExtension([{ type: "dns", value: `host-${i}.bench.test` }])],
    });
    csrs.push(csr.toString("pem"));
  }
  return csrs;
}

interface Phase {
  ok: number;
  rate: number;
  p50: number;
  p99: number;
  serverCpuMs: number;
  pssMb: number;
  errors: string[];
  /** ms of CPU per certificate by role (supervisor, __upkeep, __worker), user+system, and the kernel's part. */
  byRole: Record<string, { cpuMs: number; kernelMs: number }>;
}

/** CPU seconds of the server's processes by role, and the kernel's part. */
function cpuByRole(root: number): Map<string, { total: number; system: number }> {
  const cpu = new Map<string, { total: number; system: number }>();
  for (const pid of treePids(root)) {
    const role = pid === root ? "supervisor" : roleOf(pid);
    const sum = cpu.get(role) ?? { total: 0, system: 0 };
    cpu.set(role, { total: sum.total + cpuSecondsOf(pid), system: sum.system + cpuSplitOf(pid).system });
  }
  return cpu;
}

const serials = new Set<string>();
let duplicates = 0;

async function phase(server: Server, c: number, csrs: string[]): Promise<Phase> {
  const url = `https://localhost:${server.httpsPort}/v1/certificates`;
  const headers = { authorization: `Bearer ${server.token}`, "content-type": "application/json" };
  const bodies = flags.keys
    ? Array.from({ length: 64 }, (_, i) => JSON.stringify({ type: "client", cn: `bench-${i}`, keyType: "ec-p256" }))
    : csrs.map((csr) => JSON.stringify({ type: "server", csr }));
  const answers: { status: number; text: string }[] = new Array(requests);
  const latencies: number[] = [];
  let next = 0;
  const cpu0 = cpuByRole(server.process.pid);
  const started = performance.now();
  async function loop() {
    while (next < requests) {
      const i = next++;
      const t0 = performance.now();
      try {
        const response = await fetch(url, { method: "POST", headers, body: bodies[i % bodies.length], tls: { ca: server.caPem }, keepalive: true });
        answers[i] = { status: response.status, text: await response.text() };
      } catch (error) {
        answers[i] = { status: 0, text: (error as Error).message };
      }
      latencies.push(performance.now() - t0);
    }
  }
  await Promise.all(Array.from({ length: c }, loop));
  const wall = (performance.now() - started) / 1000;
  const cpu1 = cpuByRole(server.process.pid);
  const byRole: Phase["byRole"] = {};
  let cpu = 0;
  for (const [role, { total, system }] of cpu1) {
    const before = cpu0.get(role) ?? { total: 0, system: 0 };
    cpu += total - before.total;
    byRole[role] = { cpuMs: total - before.total, kernelMs: system - before.system };
  }
  const pssMb = readTree(server.process.pid).reduce((sum, r) => sum + r.pssMb, 0);
  let ok = 0;
  const errors: string[] = [];
  for (const { status, text } of answers) {
    try {
      if (status !== 201) throw new Error(`HTTP ${status} ${text.slice(0, 200)}`);
      const certificate = new X509Certificate((JSON.parse(text) as { certificate: string }).certificate);
      if (!certificate.verify(server.caKey)) throw new Error("not signed by the CA");
      if (serials.has(certificate.serialNumber)) duplicates++;
      serials.add(certificate.serialNumber);
      ok++;
    } catch (error) {
      if (errors.length < 3) errors.push((error as Error).message);
    }
  }
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
  for (const role of Object.values(byRole)) {
    role.cpuMs = (role.cpuMs * 1000) / Math.max(1, ok);
    role.kernelMs = (role.kernelMs * 1000) / Math.max(1, ok);
  }
  return { ok, rate: ok / wall, p50: at(0.5), p99: at(0.99), serverCpuMs: (cpu * 1000) / Math.max(1, ok), pssMb, errors, byRole };
}


const csrs = await makeCsrs(256);
const servers: Server[] = [];
try {
  for (const [index, binary] of binaries.entries()) servers.push(await startServer(binary, index));
  // Warm-up: every worker's first requests load code and fill caches.
  for (const server of servers) await phase(server, 8, csrs);
  const results = new Map<string, Phase[]>();
  for (let round = 0; round < rounds; round++) {
    for (const c of concurrencies) {
      // Alternate the order too, so neither build always goes first.
      const order = round % 2 ? [...servers].reverse() : servers;
      for (const server of order) {
        const result = await phase(server, c, csrs);
        const key = `${servers.indexOf(server)}\t${c}`;
        results.set(key, [...(results.get(key) ?? []), result]);
      }
    }
  }
  const rows = [...results].map(([key, phases]) => {
    const [index, c] = key.split("\t");
    const binary = binaries[Number(index)]!;
    return {
      binary: `${binary}${Object.entries(serverEnv(Number(index))).map(([k, v]) => ` ${k}=${v}`).join("")}`,
      c: Number(c),
      rate: median(phases.map((p) => p.rate)),
      p50: median(phases.map((p) => p.p50)),
      p99: median(phases.map((p) => p.p99)),
      serverCpuMs: median(phases.map((p) => p.serverCpuMs)),
      serverCpuMsAll: phases.map((p) => Number(p.serverCpuMs.toFixed(2))),
      pssMb: Math.max(...phases.map((p) => p.pssMb)),
      errors: phases.reduce((n, p) => n + (requests - p.ok), 0),
      errorSamples: phases.flatMap((p) => p.errors).slice(0, 3),
      byRole: Object.keys(phases[0]!.byRole).map((role) => `${role} ${median(phases.map((p) => p.byRole[role]?.cpuMs ?? 0)).toFixed(2)} (kernel ${median(phases.map((p) => p.byRole[role]?.kernelMs ?? 0)).toFixed(2)})`).join(", "),
    };
  });
  if (flags.json) console.log(JSON.stringify({ requests, rounds, keys: flags.keys, rows, duplicates }, null, 2));
  else {
    console.log(`${flags.keys ? "depot-made EC P-256 keys" : "EC P-256 CSRs"}, ${requests} per phase, median of ${rounds} rounds\n`);
    console.log("| binary | c | cert/s | p50 ms | p99 ms | server CPU ms/cert (each round) | PSS MB after (max) | errors |\n| --- | --- | --- | --- | --- | --- | --- | --- |");
    for (const row of rows.sort((a, b) => a.c - b.c)) {
      console.log(`| ${row.binary.replace(`${ROOT}/`, "")} | ${row.c} | ${row.rate.toFixed(0)} | ${row.p50.toFixed(1)} | ${row.p99.toFixed(1)} | ${row.serverCpuMs.toFixed(2)} (${row.serverCpuMsAll.join(", ")}) | ${row.pssMb.toFixed(1)} | ${row.errors} |`);
      console.log(`|  | by role: ${row.byRole} |`);
      for (const sample of row.errorSamples) console.log(`  error: ${sample}`);
    }
    console.log(`\nduplicate serials: ${duplicates}`);
  }
  process.exitCode = duplicates > 0 || rows.some((row) => row.errors > 0) ? 1 : 0;
} finally {
  for (const server of servers) server.process.kill("SIGQUIT");
  await Promise.all(servers.map((server) => server.process.exited));
}
