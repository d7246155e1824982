/**
 * @module depot against step-ca 0.19 (smallstep), side by side in one run:
 *
 *   bun bench/stepca.ts [--rounds 3] [-n 2000] [--concurrency 1,8,32] [--sign-n 500,2000,2000]
 *                       [--generate-n 1000] [--generate-c 8] [--acme-orders 4] [--acme-c 4]
 *                       [--only sign,generate,acme] [--json] [--depot dist/depot] [--step-ca PATH]
 *
 * What it measures, both servers running at once with default options (depot:
 * compiled dist/depot, 2 workers, `--https-port`, `--acme`; step-ca: one Go
 * process, JWK and ACME provisioners, badger database), rounds alternating
 * which server goes first so that the machine's noise falls on both:
 *
 * 1. sign: HTTPS CSR signing, EC P-256, keep-alive, at each concurrency:
 *    step-ca `POST /1.0/sign` with a one-time JWK token vs depot `POST
 *    /v1/certificates` with a bearer token. The same CSRs go to both (a
 *    pool of 16 keys; CN = the one DNS SAN); step-ca's tokens are minted
 *    before the timed window. Rate (verified answers/s), server CPU per
 *    certificate (/proc, all the server's processes: for depot supervisor,
 *    workers and upkeep), p50/p99 latency, the client's CPU apart.
 * 2. generate (depot only): the HTTPS API with server-made keys (`POST
 *    /v1/certificates` without a CSR) vs the line protocol's `generate`
 *    (a connection per certificate), same server, same concurrency; here
 *    the client's CPU includes checking the answers (runLoad checks inside).
 * 3. acme: the same lego loop (lego 4.9 `run`, http-01, a process per
 *    order) against both: N orders one after another, then N spread over C
 *    loops at once (an account per loop). Server CPU per order; lego's CPU
 *    is the client's, reported apart.
 * 4. footprint: total PSS of each server's processes after each load.
 *
 * Every certificate is verified after its timed window: it must be signed by
 * the server's issuing CA (step-ca: its intermediate, itself checked against
 * the root; lego's bundles link by link to the root), hold the requested
 * name and the CSR's key (sign) or match the key returned (generate), and no
 * depot serial comes twice.
 *
 * Set-up: step-ca is built from Debian's packaged Go sources by
 * bench/_stepca-build.ts (installs golang-go and
 * golang-github-smallstep-certificates-dev; cached in ~/.cache/depot-bench);
 * lego and pebble (for pebble-challtestsrv, the DNS server both CAs ask) are
 * installed from Debian when missing. The ACME part needs 127.0.0.1:80 free.
 * Anything missing or failing makes the bench fail with the reason: it never
 * skips step-ca. Loopback only. Build dist/depot first: `bun build.ts`.
 */
import "reflect-metadata";
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import * as x509 from "@peculiar/x509";
import { checkAnswer, runLoad } from "./load.ts";
import { freePort } from "./_ports.ts";
import { readTree, treeCpuSeconds } from "./_process-tree.ts";
import { startDefaultServer } from "./_default-server.ts";
import { benchWorkFolder } from "./_work-folder.ts";
import { ensureStepCa, versionOf } from "./_stepca-build.ts";
import { type StepCa, startStepCa, stepCaSignToken } from "./_stepca-server.ts";
import { type PostAnswers, postLoad, quantile } from "./_https-load.ts";
import { type AcmeTarget, checkLegoCertificate, ensureLego, legoLoops, startWebroot } from "./_lego-orders.ts";
import { type Comparison, type FootprintReading, type Measure, stepCaReport, type StepCaSummary } from "./_stepca-report.ts";
import { startChallTestSrv } from "../test/acme-clients/harness.ts";

x509.cryptoProvider.set(globalThis.crypto);

const ROOT = resolve(import.meta.dir, "..");
const { values: flags } = parseArgs({
  options: {
    depot: { type: "string", default: join(ROOT, "dist", "depot") },
    "step-ca": { type: "string" },
    rounds: { type: "string", default: "3" },
    n: { type: "string", short: "n", default: "2000" },
    concurrency: { type: "string", default: "1,8,32" },
    /** Requests per round at each --concurrency; default -n, a quarter of it at c=1 (which is latency-bound, so slow). */
    "sign-n": { type: "string" },
    "generate-n": { type: "string" },
    "generate-c": { type: "string", default: "8" },
    "acme-orders": { type: "string", default: "4" },
    "acme-c": { type: "string", default: "4" },
    only: { type: "string", default: "sign,generate,acme" },
    json: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (flags.help) {
  // The usage is the first lines of this file's header.
  console.log(readFileSync(import.meta.path, "utf8").split("\n").slice(1, 6).map((l) => l.replace(/^ \*( |$)/, "").replace("@module ", "")).join("\n"));
  process.exit(0);
}

function positive(text: string, flag: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1) throw new Error(`--${flag} must be a whole number >= 1, not '${text}'`);
  return value;
}
const DEPOT = resolve(flags.depot);
const rounds = positive(flags.rounds, "rounds");
const n = positive(flags.n, "n");
const concurrencies = flags.concurrency.split(",").map((c) => positive(c, "concurrency"));
const signN = flags["sign-n"]
  ? flags["sign-n"].split(",").map((v) => positive(v, "sign-n"))
  : concurrencies.map((c) => (c === 1 ? Math.max(1, Math.round(n / 4)) : n));
if (signN.length !== concurrencies.length) throw new Error("--sign-n needs one count per --concurrency");
const generateN = positive(flags["generate-n"] ?? String(Math.max(1, Math.round(n / 2))), "generate-n");
const generateC = positive(flags["generate-c"], "generate-c");
const acmeOrders = positive(flags["acme-orders"], "acme-orders");
const acmeC = positive(flags["acme-c"], "acme-c");
const sections = flags.only.split(",");
for (const s of sections) if (!["sign", "generate", "acme"].includes(s)) throw new Error(`--only takes sign, generate, acme; not '${s}'`);
const wants = (section: "sign" | "generate" | "acme") => sections.includes(section);

// ---- set-up: programs, then both servers ------------------------------

const stepCaBinary = flags["step-ca"] ? resolve(flags["step-ca"]) : ensureStepCa();
const stepCaVersion = versionOf(stepCaBinary);
if (!stepCaVersion) throw new Error(`${stepCaBinary} does not run (--version fails)`);
if (wants("acme")) ensureLego();

const work = await benchWorkFolder("depot-stepca-");
const dns = wants("acme") ? await startChallTestSrv() : undefined;
const resolver = dns ? `127.0.0.1:${dns.dnsPort}` : undefined;
const webroot = join(work, "webroot");
const webrootServer = wants("acme") ? startWebroot(webroot) : undefined;

const httpsPort = freePort();
const acmeArgs = resolver ? ["--acme", "--acme-http-port", "80", "--acme-resolver", resolver, "--acme-orders-per-hour", "1000000"] : [];
// Only the listeners are asked for; the rate limit is lifted as the shared scripts did, since one account orders far more than 300 an hour here.
const depot = await startDefaultServer(DEPOT, work, ["--https-port", String(httpsPort), ...acmeArgs]);
let stepCa: StepCa | undefined;
const errorSamples: string[] = [];
let errors = 0;
const sign: Comparison[] = concurrencies.map((c, i) => ({ work: `c=${c}, n=${signN[i]}`, sides: ["step-ca", "depot"], rounds: [] }));
const generate: Comparison[] = wants("generate") ? [{ work: `c=${generateC}, n=${generateN}`, sides: ["line protocol", "HTTPS API"], rounds: [] }] : [];
const acme: Comparison[] = wants("acme")
  ? [
      { work: `${acmeOrders} orders one after another`, sides: ["step-ca", "depot"], rounds: [] },
      { work: `${acmeOrders} orders over ${acmeC} loops at once`, sides: ["step-ca", "depot"], rounds: [] },
    ]
  : [];
/** The latest reading after each kind of load (the last round's). */
const footprint = new Map<string, FootprintReading>();

try {
  stepCa = await startStepCa(stepCaBinary, join(work, "step-ca"), resolver);
  const running = stepCa;
  const intermediate = new X509Certificate(running.intermediatePem);
  if (!intermediate.verify(new X509Certificate(running.rootPem).publicKey)) throw new Error("step-ca's intermediate does not chain to its root");
  const depotCaPem = readFileSync(join(depot.depotPath, "certificates", "ca.crt"), "utf8");
  const depotCa = new X509Certificate(depotCaPem);
  const made = Bun.spawnSync([DEPOT, "token", "create", depot.depotPath, "--name", "bench"]);
  if (made.exitCode !== 0) throw new Error(`depot token create failed: ${made.stderr}`);
  const token = made.stdout.toString().trim();
  const depotBase = `https://127.0.0.1:${httpsPort}`;
  await untilAnswering(`${depotBase}/v1/certificates/00`, token, depotCaPem);

  // A few keys for every CSR: the client's key generation stays out of the bench.
  const keys = await Promise.all(Array.from({ length: 16 }, () => crypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"]) as Promise<CryptoKeyPair>));
  const spkis = await Promise.all(keys.map(async (k) => Buffer.from(await crypto.subtle.exportKey("spki", k.publicKey))));
  const csrFor = async (name: string, i: number) =>
    (
      await x509.Pkcs10CertificateRequestGenerator.create({
        name: `CN=${name}`,
        keys: keys[i % keys.length]!,
        signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
        extensions: [new x509.SubjectAlternativeNameExtension([{ type: "dns", value: name }])],
      })
    ).toString("pem");

  const pss = (pid: number) => readTree(pid).reduce((sum, p) => sum + p.pssMb, 0);
  const noteFootprint = (after: string) => footprint.set(after, { after, pssMb: { "step-ca": pss(running.process.pid), depot: pss(depot.process.pid) } });

  /** Runs `load` and reads the server's CPU (all its processes) and ours around it. */
  async function timed<T>(serverPid: number, load: () => Promise<T>): Promise<{ result: T; serverCpuMs: number; clientCpuMs: number }> {
    const server0 = treeCpuSeconds(serverPid);
    const client0 = process.cpuUsage();
    const result = await load();
    const client = process.cpuUsage(client0);
    return { result, serverCpuMs: (treeCpuSeconds(serverPid) - server0) * 1000, clientCpuMs: (client.user + client.system) / 1000 };
  }

  /** A Measure from a load (POSTs, or lego runs) whose results were judged (undefined: good). */
  function measure(answers: Pick<PostAnswers, "wallSeconds" | "latenciesMs">, serverCpuMs: number, clientCpuMs: number, problems: (string | undefined)[]): Measure {
    const bad = problems.filter((p) => p !== undefined) as string[];
    const good = problems.length - bad.length;
    errors += bad.length;
    errorSamples.push(...bad.slice(0, Math.max(0, 5 - errorSamples.length)));
    return {
      perSecond: good / answers.wallSeconds,
      serverCpuMs: serverCpuMs / Math.max(good, 1),
      clientCpuMs: clientCpuMs / Math.max(good, 1),
      p50Ms: quantile(answers.latenciesMs, 0.5),
      p99Ms: quantile(answers.latenciesMs, 0.99),
      good,
      errors: bad.length,
    };
  }

  /** Whether an answer is a certificate for `name`, with CSR `i`'s key, signed by `issuer`; pushes its serial. */
  function checkSigned(pem: string | undefined, name: string, i: number, issuer: X509Certificate, serials: string[]): string | undefined {
    if (!pem?.includes("BEGIN CERTIFICATE")) return `no certificate for ${name}`;
    const leaf = new X509Certificate(pem);
    serials.push(leaf.serialNumber);
    if (!leaf.verify(issuer.publicKey)) return `${name}: not signed by the issuing CA`;
    if (!(leaf.subjectAltName ?? "").split(", ").includes(`DNS:${name}`)) return `${name}: SAN is ${leaf.subjectAltName}`;
    if (!Buffer.from(leaf.publicKey.export({ type: "spki", format: "der" })).equals(spkis[i % spkis.length]!)) return `${name}: not the CSR's key`;
    return undefined;
  }

  type Side = "step-ca" | "depot";
  /** One signing load against one server: bodies made beforehand, answers checked afterwards. */
  async function signLoad(side: Side, names: string[], csrs: string[], c: number): Promise<Measure> {
    let answers: PostAnswers;
    let cpu: { serverCpuMs: number; clientCpuMs: number };
    const serials: string[] = [];
    let problems: (string | undefined)[];
    if (side === "step-ca") {
      // One-time tokens (step-ca refuses a token's second use), minted before the clock starts.
      const bodies = await Promise.all(names.map(async (name, i) => JSON.stringify({ csr: csrs[i], ott: await stepCaSignToken(running, name) })));
      const { result, ...rest } = await timed(running.process.pid, () => postLoad({ url: `${running.base}/1.0/sign`, headers: {}, bodies, concurrency: c, caPem: running.rootPem }));
      answers = result;
      cpu = rest;
      problems = answers.answers.map(({ status, text }, i) => {
        if (status !== 201) return `step-ca HTTP ${status}: ${text.slice(0, 200)}`;
        return checkSigned((JSON.parse(text) as { crt?: string }).crt, names[i]!, i, intermediate, serials);
      });
    } else {
      const bodies = csrs.map((csr) => JSON.stringify({ type: "server", csr }));
      const headers = { authorization: `Bearer ${token}` };
      const { result, ...rest } = await timed(depot.process.pid, () => postLoad({ url: `${depotBase}/v1/certificates`, headers, bodies, concurrency: c, caPem: depotCaPem }));
      answers = result;
      cpu = rest;
      problems = answers.answers.map(({ status, text }, i) => {
        if (status !== 201) return `depot HTTP ${status}: ${text.slice(0, 200)}`;
        return checkSigned((JSON.parse(text) as { certificate?: string }).certificate, names[i]!, i, depotCa, serials);
      });
      if (new Set(serials).size !== serials.length) problems.push("depot: a serial came twice");
    }
    return measure(answers, cpu.serverCpuMs, cpu.clientCpuMs, problems);
  }

  /**
   * Depot's API with server-made keys: each answer's key must match its certificate, which chains to the CA.
   * The check is inside the CPU reading, as runLoad's is for the line protocol, so the client CPU compares.
   */
  async function apiGenerate(count: number, c: number, prefix: string): Promise<Measure> {
    const bodies = Array.from({ length: count }, (_, i) => JSON.stringify({ type: "client", subject: `/CN=${prefix}-${i}/O=depot bench`, keyType: "ec-p256" }));
    const ca = new x509.X509Certificate(depotCaPem);
    const serials: string[] = [];
    const problems: (string | undefined)[] = [];
    const { result, serverCpuMs, clientCpuMs } = await timed(depot.process.pid, async () => {
      const answers = await postLoad({ url: `${depotBase}/v1/certificates`, headers: { authorization: `Bearer ${token}` }, bodies, concurrency: c, caPem: depotCaPem });
      for (const { status, text } of answers.answers) {
        if (status !== 201) problems.push(`depot HTTP ${status}: ${text.slice(0, 200)}`);
        else {
          const body = JSON.parse(text) as { privateKey?: string; certificate?: string };
          problems.push(await checkAnswer(`${body.privateKey}${body.certificate}`, ca, serials));
        }
      }
      return answers;
    });
    if (new Set(serials).size !== serials.length) problems.push("depot: a serial came twice");
    return measure(result, serverCpuMs, clientCpuMs, problems);
  }

  /** The line protocol's generate (runLoad checks every answer itself, after its timed run). */
  async function lineGenerate(count: number, c: number, prefix: string): Promise<Measure> {
    const { result, serverCpuMs, clientCpuMs } = await timed(depot.process.pid, () =>
      runLoad({ host: "127.0.0.1", port: depot.port, requests: count, concurrency: c, dnTemplate: `/CN=${prefix}-{i}/O=depot bench`, caPem: depotCaPem }),
    );
    const bad = result.errors + result.duplicateSerials;
    errors += bad;
    errorSamples.push(...result.errorSamples.slice(0, Math.max(0, 5 - errorSamples.length)));
    return {
      perSecond: result.ok / result.wallSeconds,
      serverCpuMs: serverCpuMs / Math.max(result.ok, 1),
      clientCpuMs: clientCpuMs / Math.max(result.ok, 1),
      p50Ms: result.latencyMs.p50,
      p99Ms: result.latencyMs.p99,
      good: result.ok,
      errors: bad,
    };
  }

  const acmeTargets: Record<Side, AcmeTarget> = {
    "step-ca": { label: "stepca", directory: running.acmeDirectory, rootFile: running.rootFile },
    depot: { label: "depot", directory: `${depotBase}/acme/directory`, rootFile: join(depot.depotPath, "certificates", "ca.crt") },
  };
  /** `orders` lego orders over `loops` loops against one server; every certificate checked afterwards. */
  async function acmeLoad(side: Side, orders: number, loops: number, prefix: string): Promise<Measure> {
    const pid = side === "step-ca" ? running.process.pid : depot.process.pid;
    const target = acmeTargets[side];
    const server0 = treeCpuSeconds(pid);
    const run = await legoLoops(target, work, webroot, orders, loops, prefix);
    const serverCpuMs = (treeCpuSeconds(pid) - server0) * 1000;
    const rootPem = readFileSync(target.rootFile, "utf8");
    const problems = [...run.failures, ...run.issued.map(({ name, file }) => checkLegoCertificate(file, name, rootPem))];
    // An order's latency is lego's whole run (a process start, an account look-up, the order).
    return measure(run, serverCpuMs, run.clientCpuMs, problems);
  }

  // Warm-up for both (JIT, connection pools, ACME accounts), not counted.
  const warm = await Promise.all(Array.from({ length: 200 }, (_, i) => csrFor(`warm-${i}.sign.test`, i)));
  const warmNames = warm.map((_, i) => `warm-${i}.sign.test`);
  const beforeWarm = errors;
  if (wants("sign")) for (const side of ["step-ca", "depot"] as const) await signLoad(side, warmNames, warm, 8);
  if (wants("generate")) {
    await lineGenerate(100, generateC, "warm-line");
    await apiGenerate(100, generateC, "warm-api");
  }
  if (wants("acme")) for (const side of ["step-ca", "depot"] as const) await acmeLoad(side, acmeC, acmeC, `warm-${acmeTargets[side].label}`);
  if (errors > beforeWarm) throw new Error(`the warm-up failed: ${errorSamples.join("; ")}`);

  for (let round = 1; round <= rounds; round++) {
    // Odd rounds step-ca first, even rounds depot first.
    const order: Side[] = round % 2 === 1 ? ["step-ca", "depot"] : ["depot", "step-ca"];
    for (const [k, c] of (wants("sign") ? concurrencies : []).entries()) {
      const names = Array.from({ length: signN[k]! }, (_, i) => `r${round}-c${c}-${i}.sign.test`);
      const csrs = await Promise.all(names.map((name, i) => csrFor(name, i)));
      const measured: Partial<Record<Side, Measure>> = {};
      for (const side of order) {
        measured[side] = await signLoad(side, names, csrs, c);
        noteFootprint(`CSR signing, c=${c} (${side === "depot" ? "depot's" : "step-ca's"} load)`);
      }
      sign[k]!.rounds.push([measured["step-ca"]!, measured.depot!]);
    }
    if (wants("generate")) {
      const faces: Partial<Record<"line" | "api", Measure>> = {};
      for (const face of round % 2 === 1 ? (["line", "api"] as const) : (["api", "line"] as const)) {
        faces[face] = face === "line" ? await lineGenerate(generateN, generateC, `line-r${round}`) : await apiGenerate(generateN, generateC, `api-r${round}`);
      }
      generate[0]!.rounds.push([faces.line!, faces.api!]);
      noteFootprint(`depot issuance with server-made keys, c=${generateC}`);
    }
    if (wants("acme")) {
      for (const [m, loops] of [1, acmeC].entries()) {
        const measured: Partial<Record<Side, Measure>> = {};
        for (const side of order) measured[side] = await acmeLoad(side, acmeOrders, loops, `r${round}-l${loops}-${acmeTargets[side].label}`);
        acme[m]!.rounds.push([measured["step-ca"]!, measured.depot!]);
      }
      noteFootprint(`ACME (both servers' loads)`);
    }
  }
} finally {
  depot.process.kill("SIGQUIT");
  await depot.process.exited;
  await stepCa?.stop();
  webrootServer?.stop(true);
  dns?.stop();
}

const summary: StepCaSummary = {
  stepCaVersion,
  options: { rounds, concurrencies, signN, generateN, generateC, acmeOrders, acmeC, sections },
  sign: wants("sign") ? sign : [],
  generate,
  acme,
  footprint: [...footprint.values()],
  errors,
  errorSamples,
};
console.log(flags.json ? JSON.stringify(summary, null, 2) : stepCaReport(summary));
process.exitCode = errors > 0 ? 1 : 0;

/** Waits until depot's HTTPS API answers (any HTTP status): its workers listen. */
async function untilAnswering(url: string, bearer: string, caPem: string): Promise<void> {
  const started = performance.now();
  while (performance.now() - started < 15_000) {
    const answered = await fetch(url, { headers: { authorization: `Bearer ${bearer}` }, tls: { ca: caPem } }).then(() => true, () => false);
    if (answered) return;
    await Bun.sleep(50);
  }
  throw new Error(`depot's HTTPS API did not answer at ${url} in 15 s`);
}
