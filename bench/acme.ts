/**
 * ACME throughput: `bun bench/acme.ts [--seconds N] [--concurrency C] [--workers W]`.
 *
 * Complete orders per second (newOrder -> http-01 validated against a local
 * responder -> finalize -> download), C clients at once (default 8), each
 * with its own ES256 account, against the compiled server (`dist/depot start
 * --https-port P --acme`, W workers, default 2) over a depot with an EC
 * P-256 CA. Every certificate is verified (signature by the CA, the ordered
 * name). Names resolve through pebble-challtestsrv (every name -> 127.0.0.1).
 *
 * `--module` serves depot's ACME module from W bench processes instead
 * (SO_REUSEPORT, one shared depot), whose CPU profiles `--profile DIR`
 * writes; `--worker` is the mode those processes run in.
 */
import "../src/store/open-ledger.ts"; // installs the ledger factory: Depot.open and createDepot open the ledger depot.cnf names
import type { Subprocess } from "bun";
import { X509Certificate } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { createDepot } from "../src/ca/create.ts";
import { Depot } from "../src/ca/depot.ts";
import { x509 } from "../src/ca/provider.ts";
import { createAcmeServer, depotIssuer } from "../src/acme/index.ts";
import { TestAcmeClient } from "../test/acme-clients/client.ts";
import { startChallTestSrv, startHttp01Responder } from "../test/acme-clients/harness.ts";
import { freePort } from "./_ports.ts";
import { cpuSecondsOf, treePids } from "./_process-tree.ts";

const { values: flags } = parseArgs({
  options: {
    worker: { type: "boolean", default: false },
    depot: { type: "string" },
    port: { type: "string" },
    "http-port": { type: "string" },
    "dns-port": { type: "string" },
    cert: { type: "string" },
    key: { type: "string" },
    seconds: { type: "string", default: "10" },
    concurrency: { type: "string", default: "8" },
    workers: { type: "string", default: "2" },
    module: { type: "boolean", default: false },
    /** With --module: writes each worker's CPU profile (markdown) into this folder. */
    profile: { type: "string" },
  },
});

if (flags.worker) await runWorker();
else await runBench();

async function runWorker(): Promise<void> {
  const depot = await Depot.open(flags.depot!, { deferFiles: true });
  const store = depot.ledger.acme;
  const acme = createAcmeServer({
    store,
    issuer: depotIssuer(depot),
    ordersPerHour: 1_000_000,
    validators: { httpPort: Number(flags["http-port"]), resolver: `127.0.0.1:${flags["dns-port"]}`, timeoutMs: 5000 },
  });
  Bun.serve({ hostname: "127.0.0.1", port: Number(flags.port), reusePort: true, tls: { cert: Bun.file(flags.cert!), key: Bun.file(flags.key!) }, fetch: (r) => acme.handle(r) });
  console.log("ready");
  // Ends with the bench: its stdin is our lifeline, as in depot's server.
  for await (const _ of Bun.stdin.stream()) void _;
  process.exit(0);
}

async function runBench(): Promise<void> {
  const seconds = Number(flags.seconds);
  const concurrency = Number(flags.concurrency);
  const workerCount = Number(flags.workers);
  const dir = mkdtempSync(join(tmpdir(), "depot-acme-bench-"));
  const depotPath = await createDepot(join(dir, "ca"), { keyType: "ec-p256" });
  const depot = await Depot.open(depotPath);
  const tls = await depot.issue({ profile: "server", subject: [{ name: "CN", oid: "2.5.4.3", value: "localhost" }], subjectAltNames: ["localhost"], keyType: "ec-p256" });
  await Bun.write(join(dir, "tls.crt"), tls.certificatePem);
  await Bun.write(join(dir, "tls.key"), tls.privateKeyPem);
  const caPem = depot.issuer.certificatePem;
  const caKey = new X509Certificate(caPem).publicKey;
  const dns = await startChallTestSrv();
  const responder = startHttp01Responder();
  const port = await freePort();
  const workers: Subprocess[] = [];
  let server: Subprocess | undefined;
  try {
    if (!flags.module) {
      server = Bun.spawn(
        [join(import.meta.dir, "..", "dist", "depot"), "start", depotPath, "--port", String(await freePort()), "--https-port", String(port), "--process-count", String(workerCount),
          "--pid-file", join(dir, "depot.pid"), "--log-file", join(dir, "depot.log"),
          "--acme", "--acme-orders-per-hour", "1000000", "--acme-http-port", String(responder.port), "--acme-resolver", `127.0.0.1:${dns.dnsPort}`],
        { stdin: "ignore", stdout: "ignore", stderr: "inherit", env: { ...process.env, HOME: dir } },
      );
      const started = Date.now();
      while (!(await Bun.file(join(dir, "depot.log")).exists() && /All \d+ workers ready/.test(await Bun.file(join(dir, "depot.log")).text()))) {
        if (Date.now() - started > 20_000 || server.exitCode !== null) throw new Error("dist/depot did not start (run: bun build.ts)");
        await Bun.sleep(50);
      }
    }
    for (let i = 0; flags.module && i < workerCount; i++) {
      const worker = Bun.spawn(
        [process.execPath, ...(flags.profile ? ["--cpu-prof-md", `--cpu-prof-dir=${flags.profile}`] : []), import.meta.path, "--worker", "--depot", depotPath, "--port", String(port), "--http-port", String(responder.port), "--dns-port", String(dns.dnsPort), "--cert", join(dir, "tls.crt"), "--key", join(dir, "tls.key")],
        { stdin: "pipe", stdout: "pipe", stderr: "inherit" },
      );
      workers.push(worker);
      const reader = (worker.stdout as ReadableStream<Uint8Array>).getReader();
      const { value } = await reader.read();
      if (!new TextDecoder().decode(value).includes("ready")) throw new Error("a worker did not start");
    }
    const directory = `https://localhost:${port}/acme/directory`;
    const served = flags.module ? "bench processes serving the ACME module" : "dist/depot";
    const clients = await Promise.all(Array.from({ length: concurrency }, async () => {
      const client = await TestAcmeClient.connect(directory, caPem);
      await client.register();
      return client;
    }));
    // CSRs made ahead: the bench measures the server, not the client's key generation.
    let sequence = 0;
    const csrs = await Promise.all(Array.from({ length: 64 }, () => makeCsrKey()));
    let completed = 0;
    let failed = 0;
    const latencies: number[] = [];
    const orderOne = async (client: TestAcmeClient) => {
      const name = `o${sequence++}.bench.test`;
      const started = performance.now();
      const created = await client.post<{ authorizations: string[]; finalize: string }>(client.directory.newOrder, { identifiers: [{ type: "dns", value: name }] });
      if (created.status !== 201) throw new Error(`newOrder: ${created.text}`);
      const orderUrl = created.headers.get("location")!;
      const authzUrl = created.body.authorizations[0]!;
      const authz = await client.post<{ challenges: Array<{ type: string; url: string; token: string }> }>(authzUrl, undefined);
      const challenge = authz.body.challenges.find((c) => c.type === "http-01")!;
      responder.tokens.set(challenge.token, client.keyAuthorization(challenge.token));
      // The server answers a validation that ends within 100 ms in the challenge POST itself.
      const answered = (await client.post<{ status: string }>(challenge.url, {})).body.status;
      for (let status = answered === "valid" ? "valid" : "pending"; status === "pending"; ) {
        await Bun.sleep(5);
        status = (await client.post<{ status: string }>(authzUrl, undefined)).body.status;
        if (status === "invalid") throw new Error(`authorization for ${name} invalid`);
      }
      responder.tokens.delete(challenge.token);
      const csr = await csrFor(csrs[sequence % csrs.length]!, name);
      const finalized = await client.post<{ status: string; certificate?: string }>(created.body.finalize, { csr });
      let order = finalized.body;
      while (order.status !== "valid") {
        if (order.status === "invalid") throw new Error(`order for ${name} invalid`);
        await Bun.sleep(5);
        order = (await client.post<{ status: string; certificate?: string }>(orderUrl, undefined)).body;
      }
      const chain = (await client.post(order.certificate!, undefined)).text;
      const leaf = new X509Certificate(chain.slice(0, chain.indexOf("-----END CERTIFICATE-----") + 25));
      if (!leaf.verify(caKey) || leaf.subjectAltName !== `DNS:${name}`) throw new Error(`certificate for ${name} does not verify`);
      latencies.push(performance.now() - started);
    };
    // Warm up: one order per client.
    await Promise.all(clients.map(orderOne));
    latencies.length = 0;
    // CPU time is what the machine's other load does not distort: the server's (every process it runs) and ours.
    const serverPids = server ? treePids(server.pid) : workers.map((w) => w.pid);
    const serverCpuBefore = cpuMs(serverPids);
    const clientCpuBefore = process.cpuUsage();
    const deadline = performance.now() + seconds * 1000;
    const started = performance.now();
    await Promise.all(
      clients.map(async (client) => {
        while (performance.now() < deadline) {
          try {
            await orderOne(client);
            completed++;
          } catch (error) {
            failed++;
            console.error(`order failed: ${(error as Error).message}`);
          }
        }
      }),
    );
    const elapsed = (performance.now() - started) / 1000;
    const serverCpu = cpuMs(serverPids) - serverCpuBefore;
    const clientUsage = process.cpuUsage(clientCpuBefore);
    const clientCpu = (clientUsage.user + clientUsage.system) / 1000;
    latencies.sort((a, b) => a - b);
    const p = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!.toFixed(0);
    console.log(`ACME complete orders (EC P-256, http-01, ${served}, ${workerCount} workers, c=${concurrency}): ${completed} in ${elapsed.toFixed(1)} s = ${(completed / elapsed).toFixed(1)} orders/s, p50 ${p(0.5)} ms, p99 ${p(0.99)} ms, ${failed} failed, every certificate verified; CPU per order: server ${(serverCpu / completed).toFixed(1)} ms, bench client ${(clientCpu / completed).toFixed(1)} ms; load average ${loadavg()[0]!.toFixed(1)}`);
  } finally {
    // Closing a worker's stdin stops it cleanly (so a profile is written); a kill follows if it does not.
    for (const worker of workers) void (worker.stdin as import("bun").FileSink).end();
    await Promise.race([Promise.all(workers.map((w) => w.exited)), Bun.sleep(5000)]);
    for (const worker of workers) worker.kill();
    if (server) {
      server.kill("SIGTERM");
      await server.exited;
    }
    responder.stop();
    dns.stop();
    depot.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** user + system CPU of these processes, ms. */
function cpuMs(pids: number[]): number {
  return pids.reduce((sum, pid) => sum + cpuSecondsOf(pid), 0) * 1000;
}

async function makeCsrKey(): Promise<CryptoKeyPair> {
  return (await crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"])) as CryptoKeyPair;
}

async function csrFor(keys: CryptoKeyPair, name: string): Promise<string> {
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    name: `CN=${name}`,
    keys,
    signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: "dns", value: name }])],
  });
  return Buffer.from(csr.rawData).toString("base64url");
}


