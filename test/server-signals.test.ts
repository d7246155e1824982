/**
 * The supervisor's signals and its care of workers, with real processes and
 * real sockets: HUP under a steady stream of requests, TTIN/TTOU, a hung
 * worker killed and replaced, RSA key generation that never blocks a
 * worker, a graceful QUIT with requests in flight, and workers that keep
 * failing at start-up.
 *
 * Every test starts its own `dist/depot start` (startServer: free port,
 * HOME, pid file and log in a temp folder) and kills it in a finally.
 */
import { isAlive as alive } from "../src/server/pidfile.ts";
import { expect, test } from "bun:test";
import { createPrivateKey, createPublicKey, X509Certificate } from "node:crypto";
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { estabResets, type RunningServer, startServer, waitFor, workerPids } from "./server-helpers.ts";

/**
 * What `help` answers, byte for byte: the command names on one line. Asked
 * of each server once it is up (the command list grows), then every later
 * answer must be exactly this.
 */
async function helpAnswer(server: RunningServer): Promise<string> {
  const outcome = await exchange(server.port, "help", { timeoutMs: 5000 });
  expect(outcome.ok).toBe(true);
  expect(outcome.text).toMatch(/^[a-z]+( [a-z]+)*\n$/);
  expect(outcome.text.trim().split(" ")).toEqual(expect.arrayContaining(["generate", "help", "shutdown"]));
  return outcome.text;
}

// ---------------------------------------------------------------------------
// Small tools
// ---------------------------------------------------------------------------

interface Outcome {
  ok: boolean;
  /** The answer, or why there is none. */
  text: string;
  ms: number;
}

/**
 * One request on its own connection, never throwing: the answer, or a short
 * reason (connect error code, reset, timeout). `onWritten` runs once the
 * request line is handed to the kernel.
 */
function exchange(port: number, line: string, options: { timeoutMs?: number; onWritten?: () => void } = {}): Promise<Outcome> {
  const started = performance.now();
  const chunks: Buffer[] = [];
  return new Promise<Outcome>((resolve) => {
    let settled = false;
    const settle = (ok: boolean, text: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ ok, text, ms: performance.now() - started });
    };
    const timer = setTimeout(() => settle(false, `timeout after ${options.timeoutMs ?? 15_000} ms`), options.timeoutMs ?? 15_000);
    Bun.connect({
      hostname: "127.0.0.1",
      port,
      socket: {
        open(socket) {
          socket.write(`${line}\n`);
          options.onWritten?.();
        },
        data(_socket, data) {
          chunks.push(Buffer.from(data));
        },
        close() {
          settle(true, Buffer.concat(chunks).toString());
        },
        error(_socket, error) {
          settle(false, `error ${(error as NodeJS.ErrnoException).code ?? error.message}`);
        },
        connectError(_socket, error) {
          settle(false, `connect error ${(error as NodeJS.ErrnoException).code ?? error.message}`);
        },
      },
    }).catch((error: NodeJS.ErrnoException) => settle(false, `connect error ${error.code ?? error.message}`));
  });
}

/** The live workers of the server, sorted. */
function liveWorkers(server: RunningServer): number[] {
  return workerPids(server.process.pid)
    .filter(alive)
    .sort((a, b) => a - b);
}

/**
 * Reads the server's stdout and stderr as they come: the supervisor copies
 * every log line to stderr, and an unread pipe would block it once full.
 */
function drain(server: RunningServer): { stdout: () => string; stderr: () => string } {
  let out = "";
  void (async () => {
    for await (const chunk of server.process.stdout) out += Buffer.from(chunk).toString();
  })().catch(() => {});
  // startServer reads stderr itself (to tell why a server did not start).
  return { stdout: () => out, stderr: server.stderr };
}

function countMatches(text: string, pattern: RegExp): number {
  return (text.match(new RegExp(pattern.source, `${pattern.flags.replace("g", "")}g`)) ?? []).length;
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** A generate answer is a PKCS#8 key and then a certificate for it, with the subject asked for. */
function checkIssued(answer: string, commonName: string): string | undefined {
  const key = /^-----BEGIN PRIVATE KEY-----\n[\s\S]+?\n-----END PRIVATE KEY-----\n/.exec(answer);
  const cert = /-----BEGIN CERTIFICATE-----\n[\s\S]+?\n-----END CERTIFICATE-----\n$/.exec(answer);
  if (!key || !cert || key[0].length + cert[0].length !== answer.length) return `not a key and a certificate: ${JSON.stringify(answer.slice(0, 80))}`;
  try {
    const certificate = new X509Certificate(cert[0]);
    const privateKey = createPrivateKey(key[0]);
    if (!certificate.checkPrivateKey(privateKey)) return "the key does not match the certificate";
    if (certificate.subject !== `CN=${commonName}`) return `subject ${certificate.subject}`;
    if (privateKey.asymmetricKeyType !== "rsa" || createPublicKey(privateKey).asymmetricKeyDetails?.modulusLength !== 2048) return "not an RSA-2048 key";
  } catch (error) {
    return `unreadable: ${(error as Error).message}`;
  }
  return undefined;
}

// ---------------------------------------------------------------------------
// 1. HUP under a steady stream of requests
// ---------------------------------------------------------------------------

const CLIENT_LOOPS = 4;
const MIGRATE_REQ = "/proc/sys/net/ipv4/tcp_migrate_req";

/**
 * Lossless replacement needs the kernel to move a closing reuseport
 * listener's queued connections to the others (net.ipv4.tcp_migrate_req=1;
 * depot warns at start when it is 0). As root (CI) the test turns it on for
 * its run and restores it; otherwise it can only measure the loss.
 */
function withMigrateReq<T>(body: (enabled: boolean) => Promise<T>): Promise<T> {
  const original = readFileSync(MIGRATE_REQ, "utf8").trim();
  let enabled = original === "1";
  if (!enabled) {
    try {
      writeFileSync(MIGRATE_REQ, "1");
      enabled = true;
    } catch {
      // Not root: measure with the kernel's default.
    }
  }
  return body(enabled).finally(() => {
    if (original !== "1" && enabled) writeFileSync(MIGRATE_REQ, original);
  });
}

function hupUnderLoad(run: number): Promise<void> {
  return withMigrateReq((migrating) => hupUnderLoadWith(run, migrating));
}

async function hupUnderLoadWith(run: number, migrating: boolean): Promise<void> {
  const server = await startServer(["--process-count", "2"]);
  drain(server);
  try {
    await server.ready;
    const supervisor = server.process.pid;
    const before = liveWorkers(server);
    expect(before).toHaveLength(2);
    const expected = await helpAnswer(server);

    let running = true;
    let ok = 0;
    const failures: string[] = [];
    const loops = Array.from({ length: CLIENT_LOOPS }, async () => {
      while (running) {
        const outcome = await exchange(server.port, "help", { timeoutMs: 5000 });
        if (outcome.ok && outcome.text === expected) ok++;
        else failures.push(outcome.ok ? `answer ${JSON.stringify(outcome.text)}` : outcome.text);
      }
    });

    await Bun.sleep(400); // a steady stream first
    const okBeforeHup = ok;
    const estabResetsBefore = estabResets();
    process.kill(supervisor, "SIGHUP");
    await waitFor(
      () => server.log().includes("All 2 new workers ready; stopping 2 old ones") && before.every((pid) => server.log().includes(`worker ${pid} exited`)),
      10_000,
      () => `the old workers did not stop; log:\n${server.log()}`,
    );
    await waitFor(
      () => {
        const now = liveWorkers(server);
        return now.length === 2 && now.every((pid) => !before.includes(pid));
      },
      5000,
      () => `worker pids before ${before}, now ${liveWorkers(server)}`,
    );
    await Bun.sleep(400); // and on the new generation
    running = false;
    await Promise.all(loops);

    const after = liveWorkers(server);
    const kinds = new Map<string, number>();
    for (const failure of failures) kinds.set(failure, (kinds.get(failure) ?? 0) + 1);
    console.log(
      `HUP run ${run}: ${ok + failures.length} requests (${okBeforeHup} before the HUP), ${failures.length} refused or failed` +
        `${failures.length ? `: ${JSON.stringify(Object.fromEntries(kinds))}` : ""}; tcp_migrate_req=${readFileSync("/proc/sys/net/ipv4/tcp_migrate_req", "utf8").trim()}`,
    );

    expect(server.log()).toContain("HUP: starting 2 new workers; the old ones stop once the new are ready");
    expect(after).toHaveLength(2);
    expect(after.filter((pid) => before.includes(pid))).toEqual([]);
    expect(before.filter(alive)).toEqual([]);
    expect(okBeforeHup).toBeGreaterThan(20); // the stream really ran,
    expect(ok - okBeforeHup).toBeGreaterThan(20); // and went on through the switch
    // Target: not one request lost while the workers are replaced. Without
    // tcp_migrate_req the kernel resets what waits in a closing listener's
    // queue; then at most a few requests in a hundred may be lost.
    //
    // With it, the kernel still resets a connection whose handshake completes
    // on a listener in the instant it closes: no process ever sees it, the
    // client gets ECONNRESET at connect (or, when Bun had already reported the
    // connect, a close with nothing read). bench/reuseport-close.ts shows it
    // with bare Bun listeners, 14-18 per thousand closes under 8 hammering
    // clients (6.18); it failed one CI run here. So a reset of that kind is
    // let pass, at most one per listener closed and each seen by the kernel
    // (TcpEstabResets); any other failure, or more, still fails the test.
    if (migrating) {
      const kernelReset = (failure: string) => failure === "connect error ECONNRESET" || failure === 'answer ""';
      const kernelResets = failures.filter(kernelReset);
      expect({ otherFailures: Object.fromEntries([...kinds].filter(([failure]) => !kernelReset(failure))) }).toEqual({ otherFailures: {} });
      expect(kernelResets.length).toBeLessThanOrEqual(before.length);
      expect(estabResets() - estabResetsBefore).toBeGreaterThanOrEqual(kernelResets.length);
    } else expect(failures.length).toBeLessThanOrEqual(Math.ceil((ok + failures.length) * 0.02));
  } finally {
    await server.kill();
  }
}

test("HUP under a steady stream of requests replaces every worker and loses no request (run 1)", () => hupUnderLoad(1), 30_000);
test("HUP under a steady stream of requests replaces every worker and loses no request (run 2)", () => hupUnderLoad(2), 30_000);

// ---------------------------------------------------------------------------
// 2. TTIN / TTOU
// ---------------------------------------------------------------------------

/**
 * Sends `count` help requests, 4 at a time (below --max-connection-queue),
 * and returns which workers served them, from the debug log.
 */
async function servingWorkers(server: RunningServer, count: number, expected: string): Promise<Map<number, number>> {
  const logBefore = server.log().length;
  const answers: Outcome[] = [];
  for (let i = 0; i < count; i += 4) {
    answers.push(...(await Promise.all(Array.from({ length: Math.min(4, count - i) }, () => exchange(server.port, "help", { timeoutMs: 5000 })))));
  }
  expect(answers.filter((a) => !a.ok || a.text !== expected).map((a) => a.text)).toEqual([]);
  await waitFor(() => countMatches(server.log().slice(logBefore), /\| DEBUG: served help in /) >= count, 5000, () => "served lines in the log");
  const served = new Map<number, number>();
  for (const line of server.log().slice(logBefore).split("\n")) {
    const match = /^\[\s*(\d+)\] .*\| DEBUG: served help in /.exec(line);
    if (match) served.set(Number(match[1]), (served.get(Number(match[1])) ?? 0) + 1);
  }
  return served;
}

test("TTIN adds a worker that serves, TTOU removes one, never below 1", async () => {
  const server = await startServer(["--process-count", "2", "--log-level", "debug"]);
  drain(server);
  try {
    await server.ready;
    const supervisor = server.process.pid;
    const first = liveWorkers(server);
    expect(first).toHaveLength(2);
    const expected = await helpAnswer(server);

    // TTIN: a third worker, and all three take connections.
    process.kill(supervisor, "SIGTTIN");
    await waitFor(() => server.log().includes("TTIN: now 3 workers"), 5000, () => server.log());
    await waitFor(() => liveWorkers(server).length === 3, 5000, () => `workers ${liveWorkers(server)}`);
    const three = liveWorkers(server);
    const added = three.filter((pid) => !first.includes(pid));
    expect(added).toHaveLength(1);
    expect(three.filter((pid) => first.includes(pid))).toEqual(first); // the first two stay
    await waitFor(() => server.log().includes(`worker ${added[0]} ready`), 5000, () => server.log());
    const servedByThree = await servingWorkers(server, 90, expected);
    expect([...servedByThree.keys()].sort((a, b) => a - b)).toEqual(three);

    // TTOU: back to two, both still serving.
    process.kill(supervisor, "SIGTTOU");
    await waitFor(() => server.log().includes("TTOU: now 2 workers"), 5000, () => server.log());
    await waitFor(() => liveWorkers(server).length === 2, 5000, () => `workers ${liveWorkers(server)}`);
    const two = liveWorkers(server);
    const removed = three.filter((pid) => !two.includes(pid));
    expect(removed).toHaveLength(1);
    await waitFor(() => server.log().includes(`worker ${removed[0]} exited (status 0)`), 5000, () => server.log());
    const servedByTwo = await servingWorkers(server, 60, expected);
    expect([...servedByTwo.keys()].sort((a, b) => a - b)).toEqual(two);

    // TTOU twice more: one worker, not zero.
    process.kill(supervisor, "SIGTTOU");
    await waitFor(() => server.log().includes("TTOU: now 1 workers"), 5000, () => server.log());
    await waitFor(() => liveWorkers(server).length === 1, 5000, () => `workers ${liveWorkers(server)}`);
    process.kill(supervisor, "SIGTTOU");
    await waitFor(() => countMatches(server.log(), /TTOU: now 1 workers/) === 2, 5000, () => server.log());
    expect(server.log()).not.toContain("TTOU: now 0 workers");
    await Bun.sleep(1000); // four housekeeping turns: it must not stop the last one
    const one = liveWorkers(server);
    expect(one).toHaveLength(1);
    expect(two).toContain(one[0]!);
    const servedByOne = await servingWorkers(server, 10, expected);
    expect([...servedByOne.entries()]).toEqual([[one[0]!, 10]]);
    expect(alive(supervisor)).toBe(true);
  } finally {
    await server.kill();
  }
}, 40_000);

// ---------------------------------------------------------------------------
// 3. A hung worker
// ---------------------------------------------------------------------------

test("a worker that stops beating is killed with SIGKILL and replaced", async () => {
  const server = await startServer(["--process-count", "2", "--timeout", "1.5", "--log-level", "debug"], { env: { DEPOT_TEST_HOOKS: "1" } });
  drain(server);
  try {
    await server.ready;
    const before = liveWorkers(server);
    expect(before).toHaveLength(2);
    const [victim, survivor] = before as [number, number];
    const expected = await helpAnswer(server);

    const hungAt = performance.now();
    process.kill(victim, "SIGUSR2");
    await waitFor(() => !alive(victim), 4000, () => `worker ${victim} still runs; log:\n${server.log()}`);
    const goneAfter = performance.now() - hungAt;
    await waitFor(
      () => {
        const now = liveWorkers(server);
        return now.length === 2 && !now.includes(victim);
      },
      5000,
      () => `workers ${liveWorkers(server)}`,
    );
    const after = liveWorkers(server);
    const replacement = after.find((pid) => pid !== survivor)!;
    await waitFor(() => server.log().includes(`worker ${replacement} ready`), 5000, () => server.log());
    const replacedAfter = performance.now() - hungAt;
    console.log(`hung worker ${victim} gone after ${goneAfter.toFixed(0)} ms; ${replacement} ready in its place after ${replacedAfter.toFixed(0)} ms`);

    expect(goneAfter).toBeLessThan(3000);
    expect(replacedAfter).toBeLessThan(4000); // killed by ~2 s, then one worker start-up
    expect(goneAfter).toBeGreaterThan(1000); // not before --timeout (1.5 s, minus one heartbeat)
    expect(after).toContain(survivor);
    expect(after).not.toContain(victim);
    expect(server.log()).toContain(`ERROR: worker ${victim} sent no heartbeat for 1.5 s; killing it (SIGKILL)`);
    expect(server.log()).toContain(`WARN: worker ${victim} died (signal SIGKILL); starting a new one`);
    expect(countMatches(server.log(), /sent no heartbeat/)).toBe(1);

    // The server answers, on both workers.
    const served = await servingWorkers(server, 60, expected);
    expect([...served.keys()].sort((a, b) => a - b)).toEqual(after);
  } finally {
    await server.kill();
  }
}, 30_000);

// ---------------------------------------------------------------------------
// 4. RSA key generation never blocks a worker
// ---------------------------------------------------------------------------

test("RSA key generation under load never blocks a worker: help stays fast", async () => {
  const server = await startServer(["--process-count", "2", "--max-connection-queue", "64"], { keyType: "rsa-2048" });
  drain(server);
  try {
    await server.ready;
    const expected = await helpAnswer(server);
    const LOAD_MS = 5000;
    const IN_FLIGHT = 16;
    let running = true;
    const generated: Outcome[] = [];
    const loops = Array.from({ length: IN_FLIGHT }, async () => {
      while (running) generated.push(await exchange(server.port, "generate /CN=load", { timeoutMs: 20_000 }));
    });

    await Bun.sleep(1000); // the load is up, and the workers' code warm
    const helps: Promise<Outcome>[] = [];
    const start = performance.now();
    for (let i = 0; performance.now() - start < LOAD_MS; i++) {
      helps.push(exchange(server.port, "help", { timeoutMs: 5000 }));
      await Bun.sleep(Math.max(0, start + (i + 1) * 50 - performance.now()));
    }
    const helpOutcomes = await Promise.all(helps);
    running = false;
    await Promise.all(loops);

    const latencies = helpOutcomes.map((o) => o.ms).sort((a, b) => a - b);
    const p50 = percentile(latencies, 50);
    const p95 = percentile(latencies, 95);
    const max = latencies.at(-1)!;
    const generateMs = generated.map((o) => o.ms).sort((a, b) => a - b);
    console.log(
      `help latency under RSA-2048 load (${helpOutcomes.length} helps, ${generated.length} generates, generate p50 ${percentile(generateMs, 50).toFixed(0)} ms): ` +
        `p50 ${p50.toFixed(1)} ms, p95 ${p95.toFixed(1)} ms, max ${max.toFixed(1)} ms`,
    );

    expect(helpOutcomes.filter((o) => !o.ok || o.text !== expected).map((o) => o.text)).toEqual([]);
    expect(helpOutcomes.length).toBeGreaterThan(80);
    expect(generated.length).toBeGreaterThan(IN_FLIGHT); // the load really ran
    const bad = generated.map((o) => (o.ok ? checkIssued(o.text, "load") : o.text)).filter((why) => why !== undefined);
    expect(bad).toEqual([]);
    // A loop blocked by key generation (60-130 ms per RSA-2048 key, 8 keys
    // queued per worker) would make even the median help wait for keys.
    expect(p50).toBeLessThan(25);
    // The target. 2 cores, 16 RSA keys in flight, the client on the same
    // machine: p95, not max (max is printed above).
    expect(p95).toBeLessThan(50);
  } finally {
    await server.kill();
  }
}, 40_000);

// ---------------------------------------------------------------------------
// 5. QUIT with requests in flight
// ---------------------------------------------------------------------------

test("QUIT with 20 RSA generates in flight: all 20 complete, exit 0, no worker left", async () => {
  const server = await startServer(["--process-count", "2", "--max-connection-queue", "64"], { keyType: "rsa-2048" });
  const output = drain(server);
  try {
    await server.ready;
    const supervisor = server.process.pid;
    const workers = liveWorkers(server);
    expect(workers).toHaveLength(2);

    let written = 0;
    let allWritten!: () => void;
    const sent = new Promise<void>((resolve) => (allWritten = resolve));
    const COUNT = 20;
    const pending = Array.from({ length: COUNT }, (_, i) =>
      exchange(server.port, `generate /CN=quit-${i}`, {
        timeoutMs: 20_000,
        onWritten: () => {
          if (++written === COUNT) allWritten();
        },
      }),
    );
    await sent;
    process.kill(supervisor, "SIGQUIT");
    const outcomes = await Promise.all(pending);
    const exitCode = await Promise.race([server.process.exited, Bun.sleep(15_000).then(() => "still running")]);

    const bad = outcomes.map((o, i) => (o.ok ? checkIssued(o.text, `quit-${i}`) : o.text)).map((why, i) => (why ? `#${i}: ${why}` : undefined));
    expect(bad.filter(Boolean)).toEqual([]);
    expect(exitCode).toBe(0);
    expect(server.log()).toContain("QUIT: stopping gracefully");
    expect(server.log()).toMatch(/\| Stopped\n$/);
    for (const pid of workers) expect(server.log()).toContain(`worker ${pid} exited (status 0)`);
    expect(workers.filter(alive)).toEqual([]);
    expect(existsSync(server.pidFile)).toBe(false);
    expect(output.stdout()).toBe("");
  } finally {
    await server.kill();
  }
}, 40_000);

// ---------------------------------------------------------------------------
// 6. Workers that keep failing at start-up
// ---------------------------------------------------------------------------

test("workers that keep failing at start-up stop the server with their reason", async () => {
  // The supervisor checks the depot before it spawns anything, so the depot
  // goes away only once every worker runs; then the workers are killed, and
  // each replacement fails to open it.
  const server = await startServer(["--process-count", "2"]);
  const output = drain(server);
  try {
    await server.ready;
    const supervisor = server.process.pid;
    const workers = liveWorkers(server);
    expect(workers).toHaveLength(2);
    renameSync(server.depotPath, `${server.depotPath}.moved`);
    const killedAt = performance.now();
    for (const pid of workers) process.kill(pid, "SIGKILL");

    const exitCode = await Promise.race([server.process.exited, Bun.sleep(15_000).then(() => "still running")]);
    const stoppedAfter = performance.now() - killedAt;
    const log = server.log();
    console.log(`start-up failures stopped the server after ${stoppedAfter.toFixed(0)} ms`);

    const reason = `${server.depotPath} does not exist; create a depot with: depot init ${server.depotPath}`;
    expect(exitCode).toBe(1);
    for (const pid of workers) expect(log).toContain(`WARN: worker ${pid} died (signal SIGKILL); starting a new one`);
    // Five failures in a row, each with the worker's own reason, then a stop that says why.
    const failed = log.split("\n").filter((line) => line.includes(" failed to start "));
    expect(failed).toHaveLength(5);
    for (const line of failed) expect(line).toMatch(new RegExp(`\\| ERROR: worker \\d+ failed to start \\(status 1\\): ${escape(reason)}$`));
    expect(log).toContain("start-up failures: stopping now");
    expect(log).toMatch(new RegExp(`\\| Stopped: workers keep failing at start-up: ${escape(reason)}\n$`));
    // Backed off (200, 400, 800, 1600 ms after failures 1-4; two workers
    // overlap, so at least ~1 s in all), not spinning, and not for ever.
    expect(stoppedAfter).toBeGreaterThan(1000);
    expect(stoppedAfter).toBeLessThan(6000);
    expect(new Set(failed.map((line) => /worker (\d+) failed/.exec(line)![1])).size).toBe(5);
    expect(workerPids(supervisor)).toEqual([]);
    expect(existsSync(server.pidFile)).toBe(false);
    expect(output.stdout()).toBe("");
    // The command's one error line says why.
    await waitFor(() => output.stderr().includes("workers keep failing"), 2000, () => `stderr: ${output.stderr()}`);
    expect(output.stderr()).toBe(`depot: serving; the log goes to ${server.logFile}\ndepot: workers keep failing at start-up: ${reason}\n`);
  } finally {
    await server.kill();
  }
}, 30_000);

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
}

// ---------------------------------------------------------------------------
// 7. A HUP whose new workers cannot start keeps the old ones serving
// ---------------------------------------------------------------------------

test(
  "HUP while the depot cannot be opened: the new workers fail five times, the old ones keep serving, the server stays up",
  async () => {
    const server = await startServer(["--process-count", "2"]);
    try {
      await server.ready;
      const expected = await helpAnswer(server);
      const old = liveWorkers(server);
      expect(old).toHaveLength(2);
      // The running workers hold the depot open; new ones cannot find it.
      renameSync(server.depotPath, `${server.depotPath}.moved`);
      process.kill(server.process.pid, "SIGHUP");
      await waitFor(() => server.log().includes("new workers keep failing at start-up"), 15_000, () => server.log());
      const log = server.log();
      expect(log).toContain(
        `ERROR: new workers keep failing at start-up (${server.depotPath} does not exist; create a depot with: depot init ${server.depotPath}); keeping the 2 running ones`,
      );
      expect(log).not.toContain("Stopped");
      expect(alive(server.process.pid)).toBe(true);
      expect(liveWorkers(server)).toEqual(old);
      for (let i = 0; i < 10; i++) {
        const outcome = await exchange(server.port, "help", { timeoutMs: 5000 });
        expect({ ok: outcome.ok, text: outcome.text }).toEqual({ ok: true, text: expected });
      }
      // And no new worker is tried again until the next HUP.
      await Bun.sleep(1000);
      expect(liveWorkers(server)).toEqual(old);
    } finally {
      await server.kill();
    }
  },
  40_000,
);

// ---------------------------------------------------------------------------
// 8. A second TERM hastens the end
// ---------------------------------------------------------------------------

test(
  "TERM with a hung worker: SIGKILL comes 2 s after the first TERM, and a second TERM does not postpone it",
  async () => {
    const server = await startServer(["--process-count", "1"], { env: { DEPOT_TEST_HOOKS: "1" } });
    try {
      await server.ready;
      const [worker] = liveWorkers(server);
      process.kill(worker!, "SIGUSR2"); // its event loop spins: it cannot act on TERM
      await Bun.sleep(200);
      const firstTerm = performance.now();
      process.kill(server.process.pid, "SIGTERM");
      await Bun.sleep(1500);
      process.kill(server.process.pid, "SIGTERM");
      await server.process.exited;
      const elapsed = performance.now() - firstTerm;
      console.log(`exited ${elapsed.toFixed(0)} ms after the first TERM`);
      // Deadline 2 s after the first TERM (then one 250 ms housekeeping turn);
      // a deadline renewed by the second TERM would end at 3.5 s.
      expect(elapsed).toBeGreaterThan(1900);
      expect(elapsed).toBeLessThan(3200);
      expect(alive(worker!)).toBe(false);
    } finally {
      await server.kill();
    }
  },
  20_000,
);
