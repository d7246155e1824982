/**
 * The server's life: workers dying and being replaced, the supervisor dying,
 * signals, the pid file, --daemon with status and stop, and the checks
 * `depot start` makes before it serves. Real processes, real sockets.
 */
import type { Subprocess } from "bun";
import { isAlive as alive } from "../src/server/pidfile.ts";
import { afterEach, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DEPOT_BIN, depot, openssl, pemBlocks, tempDir } from "./helpers.ts";
import { freePort, request, startServer, upkeepPid, waitFor, workerPids, type RunningServer } from "./server-helpers.ts";
import { SERVER_SETTINGS, WORKER_SETTINGS } from "../src/server/runtime-settings.ts";

/** What `help` answers. Update here when commands are added (crl, revoke, sign). */
const HELP_ANSWER = "crl generate help revoke shutdown sign\n";

// ---------------------------------------------------------------------------
// Clean-up: every server, process and port a test used is cleared after it.

const servers: RunningServer[] = [];
const procs: Subprocess[] = [];
const pids: number[] = [];
const ports: number[] = [];
const listeners: { stop(closeActive?: boolean): void }[] = [];

afterEach(async () => {
  for (const listener of listeners.splice(0)) listener.stop(true);
  for (const server of servers.splice(0)) await server.kill();
  for (const proc of procs.splice(0)) {
    for (const pid of workerPids(proc.pid)) signal(pid, "SIGKILL");
    proc.kill("SIGKILL");
    await proc.exited;
  }
  for (const pid of pids.splice(0)) signal(pid, "SIGKILL");
  for (const port of ports.splice(0)) for (const pid of workersOnPort(port)) signal(pid, "SIGKILL");
});

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // Already gone.
  }
}

// ---------------------------------------------------------------------------
// Helpers.

async function serve(args: string[] = [], options: Parameters<typeof startServer>[1] = {}): Promise<RunningServer> {
  const server = await startServer(args, options);
  servers.push(server);
  ports.push(server.port);
  await server.ready;
  return server;
}

function port(): number {
  const p = freePort();
  ports.push(p);
  return p;
}

/** Live depot workers configured for `port`, found by their DEPOT_WORKER environment, whoever their parent. */
function workersOnPort(p: number): number[] {
  const found: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const environ = readFileSync(`/proc/${entry}/environ`, "utf8");
      const config = environ.split("\0").find((v) => v.startsWith("DEPOT_WORKER="));
      if (config && (JSON.parse(config.slice("DEPOT_WORKER=".length)) as { listeners?: { port: number }[] }).listeners?.some((l) => l.port === p) && alive(Number(entry))) found.push(Number(entry));
    } catch {
      // Gone, or not ours to read.
    }
  }
  return found;
}

/** Whether a plain listener (no SO_REUSEPORT) can bind the port. */
function portIsFree(p: number): boolean {
  try {
    Bun.listen({ hostname: "127.0.0.1", port: p, socket: { data() {} } }).stop(true);
    return true;
  } catch {
    return false;
  }
}

function holdPort(p: number) {
  const listener = Bun.listen({ hostname: "127.0.0.1", port: p, socket: { data() {} } });
  listeners.push(listener);
  return listener;
}

const sorted = (list: number[]) => [...list].sort((a, b) => a - b);

/** The environment of a test's depot: HOME in the temp folder, no inherited depot settings. */
function envFor(home: string, extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) if (value !== undefined) env[key] = value;
  delete env.DEPOT_PATH;
  delete env.XDG_DATA_HOME;
  delete env.DEPOT_READY_FD;
  env.HOME = home;
  return { ...env, ...extra };
}

function collect(stream: ReadableStream<Uint8Array>) {
  const sink = { text: "" };
  const done = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) sink.text += decoder.decode(chunk, { stream: true });
  })().catch(() => {});
  return { sink, done };
}

/** `dist/depot <args>` in the background, its output collected; killed (with its workers) after the test. */
function spawnDepot(args: string[], env: Record<string, string>) {
  const proc = Bun.spawn([DEPOT_BIN, ...args], { stdin: "ignore", stdout: "pipe", stderr: "pipe", env });
  procs.push(proc);
  const stdout = collect(proc.stdout);
  const stderr = collect(proc.stderr);
  return {
    proc,
    stdout: () => stdout.sink.text,
    stderr: () => stderr.sink.text,
    /** Exit status, or "timeout" after `ms`; the output is complete once it resolves. */
    async exit(ms: number): Promise<number | "timeout"> {
      const status = await Promise.race([proc.exited, Bun.sleep(ms).then(() => "timeout" as const)]);
      await Promise.race([Promise.all([stdout.done, stderr.done]), Bun.sleep(1000)]);
      return status;
    },
  };
}

/** Runs `dist/depot <args>` to its end (killed after `ms`: a command that should exit must not hang the run). */
async function runDepot(args: string[], env: Record<string, string>, ms = 15_000) {
  const child = spawnDepot(args, env);
  const exitCode = await child.exit(ms);
  return { exitCode, stdout: child.stdout(), stderr: child.stderr() };
}

function newDepot(home: string, name = "ca", keyType = "ec-p256"): string {
  const path = join(home, name);
  const init = depot(["init", path, "Test CA", "--key-type", keyType]);
  if (init.exitCode !== 0) throw new Error(`init failed: ${init.stderr}`);
  return path;
}

const readLog = (file: string) => (existsSync(file) ? readFileSync(file, "utf8") : "");
const logPrefix = (pid: number) => `[${String(pid).padStart(5)}] `;

/** Checks one answer to `generate`: a PKCS#8 key and a certificate for `uid` that the CA verifies. */
function checkIssued(answer: string, caCert: string, dir: string, uid: string): void {
  const blocks = pemBlocks(answer);
  expect({ uid, blocks: blocks.length, whole: blocks.join("") === answer }).toEqual({ uid, blocks: 2, whole: true });
  expect(blocks[0]!.startsWith("-----BEGIN PRIVATE KEY-----\n")).toBe(true);
  expect(blocks[1]!.startsWith("-----BEGIN CERTIFICATE-----\n")).toBe(true);
  const cert = join(dir, `${uid}.crt`);
  const key = join(dir, `${uid}.key`);
  writeFileSync(cert, blocks[1]!);
  writeFileSync(key, blocks[0]!);
  expect(openssl(["verify", "-CAfile", caCert, cert]).stdout).toBe(`${cert}: OK\n`);
  expect(openssl(["x509", "-in", cert, "-noout", "-subject"]).stdout).toBe(`subject=UID = ${uid}\n`);
  expect(openssl(["pkey", "-in", key, "-pubout"]).stdout).toBe(openssl(["x509", "-in", cert, "-noout", "-pubkey"]).stdout);
}

// ---------------------------------------------------------------------------

describe("workers and supervisor dying", () => {
  test("kill -9 of a worker: a replacement is ready within 1 s and requests keep being served", async () => {
    const server = await serve(["--log-level", "debug"]);
    const before = sorted(workerPids(server.process.pid));
    expect(before.length).toBe(2);
    const victim = before[0]!;
    const survivor = before[1]!;

    const killedAt = performance.now();
    process.kill(victim, "SIGKILL");
    let replacement = 0;
    await waitFor(
      () => {
        const now = workerPids(server.process.pid);
        replacement = now.find((pid) => !before.includes(pid)) ?? 0;
        return now.length === 2 && !now.includes(victim) && replacement !== 0 && server.log().includes(`| DEBUG: worker ${replacement} ready\n`);
      },
      1000,
      () => `no ready replacement within 1 s; workers ${workerPids(server.process.pid)}; log:\n${server.log()}`,
    );
    expect(await request(server.port, "help", { timeoutMs: 1000 })).toBe(HELP_ANSWER);
    expect(performance.now() - killedAt).toBeLessThan(1000);
    expect(sorted(workerPids(server.process.pid))).toEqual(sorted([survivor, replacement]));

    for (let i = 0; i < 40; i++) expect(await request(server.port, "help")).toBe(HELP_ANSWER);
    expect(server.log()).toContain(`| WARN: worker ${victim} died (signal SIGKILL); starting a new one\n`);
    // The replacement takes its share of the connections.
    const servedBy = (pid: number) => server.log().split("\n").some((line) => line.startsWith(logPrefix(pid)) && line.includes("| DEBUG: served help in "));
    await waitFor(() => servedBy(replacement), 2000, () => `the replacement ${replacement} served nothing; log:\n${server.log()}`);
    expect(server.process.exitCode).toBeNull();
  });

  test("kill -9 of the supervisor: every worker exits within 2 s and the port is free", async () => {
    const server = await serve();
    const workers = workerPids(server.process.pid);
    expect(workers.length).toBe(2);
    expect(portIsFree(server.port)).toBe(false);

    const killedAt = performance.now();
    process.kill(server.process.pid, "SIGKILL");
    await waitFor(() => workers.every((pid) => !alive(pid)), 2000, () => `workers still alive: ${workers.filter(alive)}`);
    expect(performance.now() - killedAt).toBeLessThan(2000);
    expect(workersOnPort(server.port)).toEqual([]);
    expect(portIsFree(server.port)).toBe(true);
  });

  test("shutdown over the socket is refused unless the server allows it", async () => {
    const server = await serve();
    const before = sorted(workerPids(server.process.pid));
    expect(await request(server.port, "shutdown")).toBe("ERROR shutdown is disabled on this server (start it with --allow-shutdown)\n");
    await Bun.sleep(300);
    expect(sorted(workerPids(server.process.pid))).toEqual(before);
    expect(server.log()).not.toContain("worker stopping");
  });

  test("shutdown over the socket (--allow-shutdown): OK, that worker is replaced, the server keeps serving", async () => {
    const server = await serve(["--log-level", "debug", "--allow-shutdown"]);
    const before = sorted(workerPids(server.process.pid));
    expect(before.length).toBe(2);

    expect(await request(server.port, "shutdown")).toBe("OK\n");
    let now: number[] = [];
    await waitFor(
      () => {
        now = sorted(workerPids(server.process.pid));
        return now.length === 2 && now.filter((pid) => before.includes(pid)).length === 1 && server.log().includes(`| DEBUG: worker ${now.find((pid) => !before.includes(pid))} ready\n`);
      },
      3000,
      () => `workers ${before} -> ${now}; log:\n${server.log()}`,
    );
    const stopped = before.find((pid) => !now.includes(pid))!;
    expect(alive(stopped)).toBe(false);
    expect(server.log().split("\n").some((line) => line.startsWith(logPrefix(stopped)) && line.endsWith("| worker stopping: asked to stop by a client (shutdown)"))).toBe(true);

    for (let i = 0; i < 20; i++) expect(await request(server.port, "help")).toBe(HELP_ANSWER);
    expect(sorted(workerPids(server.process.pid))).toEqual(now);
    expect(server.process.exitCode).toBeNull();
  });
});

describe("port in use", () => {
  test("a plain listener on the port: start fails with the port error, no server left", async () => {
    const home = tempDir("depot-lifecycle-");
    const path = newDepot(home);
    const p = port();
    holdPort(p);
    const pidFile = join(home, "depot.pid");
    const result = await runDepot(["start", path, "--port", String(p), "--pid-file", pidFile, "--log-file", join(home, "depot.log")], envFor(home));
    expect(result.stderr).toBe(`depot: cannot listen on 127.0.0.1:${p}: the port is in use\n`);
    expect(result.exitCode).toBe(1);
    expect(existsSync(pidFile)).toBe(false);
    expect(workersOnPort(p)).toEqual([]);
  });

  test("another depot server on the port: the second start fails, the first is untouched", async () => {
    const first = await serve();
    const firstWorkers = sorted(workerPids(first.process.pid));
    const home = tempDir("depot-lifecycle-");
    const path = newDepot(home);
    const pidFile = join(home, "depot.pid");
    const result = await runDepot(["start", path, "--port", String(first.port), "--pid-file", pidFile, "--log-file", join(home, "depot.log")], envFor(home));
    expect(result.stderr).toBe(`depot: cannot listen on 127.0.0.1:${first.port}: the port is in use\n`);
    expect(result.exitCode).toBe(1);
    expect(existsSync(pidFile)).toBe(false);
    // Only the first server's workers hold the port, and it still answers.
    expect(sorted(workersOnPort(first.port))).toEqual(firstWorkers);
    for (let i = 0; i < 10; i++) expect(await request(first.port, "help")).toBe(HELP_ANSWER);
  }, 20_000);
});

describe("port in use, at the same moment", () => {
  test("two depot servers started together on one port: exactly one serves, the other fails with the port error", async () => {
    const p = port();
    const starts = ["a", "b"].map(() => {
      const home = tempDir("depot-lifecycle-");
      const path = newDepot(home);
      const logFile = join(home, "depot.log");
      return { logFile, home, args: ["start", path, "--port", String(p), "--pid-file", join(home, "depot.pid"), "--log-file", logFile] };
    });
    // Both launched in the same instant, as two terminals or two service units might.
    const children = starts.map(({ args, home }) => spawnDepot(args, envFor(home)));
    const settled = (i: number) => children[i]!.proc.exitCode !== null || readLog(starts[i]!.logFile).includes("| All 2 workers ready\n");
    await waitFor(() => settled(0) && settled(1), 10_000, () => "neither exited nor became ready");
    await Bun.sleep(300); // A loser that is still running would show up now.

    const running = children.filter((child) => child.proc.exitCode === null);
    const failed = children.filter((child) => child.proc.exitCode !== null);
    const listeners = sorted(workersOnPort(p));
    expect({ running: running.length, failed: failed.length, listeners: listeners.length }).toEqual({ running: 1, failed: 1, listeners: 2 });
    expect(await failed[0]!.exit(1000)).toBe(1);
    expect(failed[0]!.stderr()).toBe(`depot: cannot listen on 127.0.0.1:${p}: the port is in use\n`);
    expect(listeners).toEqual(sorted(workerPids(running[0]!.proc.pid)));
  });
});

describe("pid file", () => {
  test("a second start with the pid file of a running server is refused", async () => {
    const first = await serve();
    expect(readFileSync(first.pidFile, "utf8")).toBe(`${first.process.pid}\n`);
    const home = tempDir("depot-lifecycle-");
    const p = port();
    const result = await runDepot(["start", first.depotPath, "--port", String(p), "--pid-file", first.pidFile, "--log-file", join(home, "depot.log")], envFor(home));
    expect(result.stderr).toBe(`depot: a depot server is already running (pid ${first.process.pid}, pid file ${first.pidFile})\n`);
    expect(result.exitCode).toBe(1);
    expect(readFileSync(first.pidFile, "utf8")).toBe(`${first.process.pid}\n`);
    expect(workersOnPort(p)).toEqual([]);
    expect(portIsFree(p)).toBe(true);
    expect(await request(first.port, "help")).toBe(HELP_ANSWER);
  });

  test("a stale pid file is replaced with a warning; the pid file names the supervisor and goes on a clean exit", async () => {
    const home = tempDir("depot-lifecycle-");
    const path = newDepot(home);
    const gone = Bun.spawn(["true"]);
    await gone.exited;
    expect(alive(gone.pid)).toBe(false);
    const pidFile = join(home, "depot.pid");
    const logFile = join(home, "depot.log");
    writeFileSync(pidFile, `${gone.pid}\n`);

    const p = port();
    const server = spawnDepot(["start", path, "--port", String(p), "--pid-file", pidFile, "--log-file", logFile], envFor(home));
    await waitFor(() => readLog(logFile).includes("| All 2 workers ready\n"), 10_000, () => readLog(logFile));
    expect(readLog(logFile)).toContain(`| WARN: replacing the stale pid file ${pidFile} (pid ${gone.pid} is not running)\n`);
    expect(readFileSync(pidFile, "utf8")).toBe(`${server.proc.pid}\n`);
    expect(existsSync(`${pidFile}.json`)).toBe(true);
    expect(await request(p, "help")).toBe(HELP_ANSWER);

    server.proc.kill("SIGTERM");
    expect(await server.exit(5000)).toBe(0);
    expect(existsSync(pidFile)).toBe(false);
    expect(existsSync(`${pidFile}.json`)).toBe(false);
  });
});

/** The variables of a live process's environment that `names` lists. */
function environOf(pid: number, names: readonly string[]): Record<string, string> {
  const found: Record<string, string> = {};
  for (const entry of readFileSync(`/proc/${pid}/environ`, "utf8").split("\0")) {
    const at = entry.indexOf("=");
    if (names.includes(entry.slice(0, at))) found[entry.slice(0, at)] = entry.slice(at + 1);
  }
  return found;
}

describe("runtime settings", () => {
  test("the supervisor replaces itself once with the children's runtime settings: same pid, same arguments; a setting the user gave wins everywhere", async () => {
    const home = tempDir("depot-lifecycle-");
    const path = newDepot(home);
    const names = Object.keys(WORKER_SETTINGS);
    for (const [extra, expected] of [
      [{}, SERVER_SETTINGS],
      [{ BUN_GC_TIMER_DISABLE: "0" }, { ...SERVER_SETTINGS, BUN_GC_TIMER_DISABLE: "0" }],
    ] as const) {
      const p = port();
      const pidFile = join(home, `depot-${p}.pid`);
      const logFile = join(home, `depot-${p}.log`);
      const args = ["start", path, "--port", String(p), "--pid-file", pidFile, "--log-file", logFile];
      const server = spawnDepot(args, envFor(home, extra));
      await waitFor(() => readLog(logFile).includes("| All 2 workers ready\n"), 10_000, () => readLog(logFile));
      const pid = server.proc.pid;
      expect(readFileSync(pidFile, "utf8")).toBe(`${pid}\n`);
      expect(readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").slice(1, -1)).toEqual(args);
      expect(environOf(pid, names)).toEqual(expected);
      expect(environOf(upkeepPid(pid)!, names)).toEqual(expected);
      const workers = workerPids(pid);
      expect(workers.length).toBe(2);
      for (const worker of workers) expect(environOf(worker, names)).toEqual({ ...expected, BUN_JSC_useDFGJIT: "false" });
      // The mark that stops a second re-exec stays with the supervisor: its children are not told they were re-executed.
      for (const child of [...workers, upkeepPid(pid)!]) expect(environOf(child, ["DEPOT_RUNTIME_SETTINGS_APPLIED"])).toEqual({});
      // The log is written by the one supervisor, started once.
      expect(readLog(logFile).split("| Serving the depot at").length - 1).toBe(1);
      expect(await request(p, "help")).toBe(HELP_ANSWER);
      server.proc.kill("SIGQUIT");
      expect(await server.exit(5000)).toBe(0);
      expect(existsSync(pidFile)).toBe(false);
    }
  }, 30_000);
});

describe("signals", () => {
  test("QUIT via `kill -QUIT $(cat $HOME/.depot.pid)` while 20 generate requests are in flight: all answered, clean exit", async () => {
    const home = tempDir("depot-lifecycle-");
    const path = newDepot(home, "ca", "rsa-2048");
    const logFile = join(home, "depot.log");
    const defaultPidFile = join(home, ".depot.pid");
    const p = port();
    // No --pid-file: $HOME/.depot.pid. Room for all 20 connections on one worker, however the kernel spreads them.
    const server = spawnDepot(["start", path, "--port", String(p), "--log-file", logFile, "--max-connection-queue", "50"], envFor(home));
    await waitFor(() => readLog(logFile).includes("| All 2 workers ready\n"), 10_000, () => readLog(logFile));
    expect(readFileSync(defaultPidFile, "utf8")).toBe(`${server.proc.pid}\n`);

    const COUNT = 20;
    let answered = 0;
    const answers = Array.from({ length: COUNT }, (_, i) =>
      request(p, `generate /UID=quit-${i}`, { timeoutMs: 30_000 }).then((text) => {
        answered++;
        return text;
      }),
    );
    await Bun.sleep(150); // Every connection accepted; RSA keys still being made.
    const answeredAtQuit = answered;
    const quit = Bun.spawnSync(["sh", "-c", "kill -QUIT $(cat $HOME/.depot.pid)"], { env: envFor(home) });
    expect(quit.stderr.toString()).toBe("");
    expect(quit.exitCode).toBe(0);

    const texts = await Promise.all(answers);
    expect(answeredAtQuit).toBeLessThan(COUNT); // The QUIT really came while requests were in flight.
    const caCert = join(path, "certificates", "ca.crt");
    const dir = tempDir("depot-lifecycle-certs-");
    texts.forEach((text, i) => checkIssued(text, caCert, dir, `quit-${i}`));
    // An RSA depot issues RSA keys: these took a while.
    expect(openssl(["x509", "-in", join(dir, "quit-0.crt"), "-noout", "-text"]).stdout).toContain("Public Key Algorithm: rsaEncryption");

    expect(await server.exit(10_000)).toBe(0);
    expect(existsSync(defaultPidFile)).toBe(false);
    expect(workersOnPort(p)).toEqual([]);
    expect(readLog(logFile)).toContain("| QUIT: stopping gracefully\n");
    expect(readLog(logFile)).toEndWith("| Stopped\n");
  }, 45_000);

  test("TERM: the server exits within 3 s and the workers are gone", async () => {
    const server = await serve();
    const workers = workerPids(server.process.pid);
    expect(workers.length).toBe(2);
    const started = performance.now();
    server.process.kill("SIGTERM");
    const status = await Promise.race([server.process.exited, Bun.sleep(3000).then(() => "timeout")]);
    expect(status).toBe(0);
    expect(performance.now() - started).toBeLessThan(3000);
    await waitFor(() => workers.every((pid) => !alive(pid)), 500, () => `workers still alive: ${workers.filter(alive)}`);
    expect(existsSync(server.pidFile)).toBe(false);
    expect(portIsFree(server.port)).toBe(true);
    expect(server.log()).toContain("| TERM: stopping now\n");
  });
});

describe("--daemon, status, stop", () => {
  test("start --daemon returns once the workers are ready; status shows it; stop stops it", async () => {
    const home = tempDir("depot-lifecycle-");
    const path = newDepot(home);
    const p = port();
    const pidFile = join(home, "depot.pid");
    const logFile = join(home, "depot.log");
    const env = envFor(home);

    const started = await runDepot(["start", path, "--daemon", "--port", String(p), "--pid-file", pidFile, "--log-file", logFile], env);
    // Ask before anything else: the workers must already be listening.
    const help = await request(p, "help", { timeoutMs: 2000 }).catch((error: Error) => `failed: ${error.message}`);
    const match = /^depot started in the background \(pid (\d+)\), listening on 127\.0\.0\.1:(\d+); the log goes to (.+)\n$/.exec(started.stdout);
    if (match) pids.push(Number(match[1]));
    expect(started.stderr).toBe("");
    expect(started.exitCode).toBe(0);
    expect(help).toBe(HELP_ANSWER);
    expect(match).not.toBeNull();
    const pid = Number(match![1]);
    expect(Number(match![2])).toBe(p);
    expect(alive(pid)).toBe(true);
    expect(readFileSync(pidFile, "utf8")).toBe(`${pid}\n`);
    // The background copy runs with the runtime settings from its start (runtime-settings.ts).
    expect(environOf(pid, Object.keys(SERVER_SETTINGS))).toEqual(SERVER_SETTINGS);
    const workers = sorted(workerPids(pid));
    expect(workers.length).toBe(2);

    const status = await runDepot(["status", "--pid-file", pidFile], env);
    const shown = /^depot is running: pid (\d+)\nlistening on (.+)\ndepot: (.+)\nworkers: ([\d ]+)\n$/.exec(status.stdout);
    expect(shown?.slice(1, 4)).toEqual([String(pid), `127.0.0.1:${p}`, path]);
    expect(sorted(shown![4]!.split(" ").map(Number))).toEqual(workers);
    expect(status.exitCode).toBe(0);

    const stop = await runDepot(["stop", "--pid-file", pidFile], env);
    expect(stop.stdout).toBe(`Stopped the depot server (pid ${pid})\n`);
    expect(stop.stderr).toBe("");
    expect(stop.exitCode).toBe(0);
    expect(alive(pid)).toBe(false);
    expect(existsSync(pidFile)).toBe(false);
    await waitFor(() => workers.every((w) => !alive(w)), 2000, () => `workers still alive: ${workers.filter(alive)}`);
    expect(portIsFree(p)).toBe(true);

    const again = await runDepot(["stop", "--pid-file", pidFile], env);
    expect(again.stderr).toBe("depot: can't find a running server\n");
    expect(again.exitCode).toBe(1);

    const after = await runDepot(["status", "--pid-file", pidFile], env);
    expect(after.stdout).toBe("depot is not running\n");
    expect(after.exitCode).toBe(1);

    // The daemon's own log went to the log file.
    expect(readLog(logFile)).toContain(`${logPrefix(pid)}`);
    expect(readLog(logFile)).toContain("| All 2 workers ready\n");
  }, 20_000);

  test("start --daemon on a port in use fails with the port error", async () => {
    const home = tempDir("depot-lifecycle-");
    const path = newDepot(home);
    const p = port();
    holdPort(p);
    const pidFile = join(home, "depot.pid");
    const result = await runDepot(["start", path, "--daemon", "--port", String(p), "--pid-file", pidFile, "--log-file", join(home, "depot.log")], envFor(home));
    expect(result.stderr).toBe(`depot: cannot listen on 127.0.0.1:${p}: the port is in use\n`);
    expect(result.stdout).toBe("");
    expect(result.exitCode).toBe(1);
    expect(existsSync(pidFile)).toBe(false);
    expect(workersOnPort(p)).toEqual([]);
  });
});

describe("depots that cannot be served", () => {
  test("a path that is not a depot: one clear line, non-zero exit", async () => {
    const home = tempDir("depot-lifecycle-");
    const p = port();
    const args = (path: string) => ["start", path, "--port", String(p), "--pid-file", join(home, "depot.pid"), "--log-file", join(home, "depot.log")];

    const missing = join(home, "nothing-here");
    const none = await runDepot(args(missing), envFor(home));
    expect(none.stderr).toBe(`depot: ${missing} does not exist; create a depot with: depot init ${missing}\n`);
    expect(none.stdout).toBe("");
    expect(none.exitCode).toBe(1);

    const empty = join(home, "empty");
    mkdirSync(empty);
    const notDepot = await runDepot(args(empty), envFor(home));
    expect(notDepot.stderr).toBe(`depot: ${empty} is not a depot (it needs depot.cnf, private/ca.key and certificates/ca.crt)\n`);
    expect(notDepot.exitCode).toBe(1);
    expect(existsSync(join(home, "depot.pid"))).toBe(false);
    expect(portIsFree(p)).toBe(true);
  });

  test("a CA key readable by the group: refusing to start", async () => {
    const home = tempDir("depot-lifecycle-");
    const path = newDepot(home);
    chmodSync(join(path, "private", "ca.key"), 0o440);
    const p = port();
    const result = await runDepot(["start", path, "--port", String(p), "--pid-file", join(home, "depot.pid"), "--log-file", join(home, "depot.log")], envFor(home));
    expect(result.stderr).toBe(`depot: refusing to open the depot: ${path}/private/ca.key is readable by group or others (chmod 400 it)\n`);
    expect(result.exitCode).toBe(1);
    expect(existsSync(join(home, "depot.pid"))).toBe(false);
    expect(workersOnPort(p)).toEqual([]);
  });
});

describe("the default depot", () => {
  test("first start with no path creates $HOME/.local/share/depot and serves it", async () => {
    const home = tempDir("depot-lifecycle-");
    const p = port();
    const pidFile = join(home, "depot.pid");
    const logFile = join(home, "depot.log");
    const expected = join(home, ".local", "share", "depot");
    const args = ["start", "--port", String(p), "--pid-file", pidFile, "--log-file", logFile];

    const server = spawnDepot(args, envFor(home));
    await waitFor(() => readLog(logFile).includes("| All 2 workers ready\n"), 20_000, () => `${server.stderr()}\n${readLog(logFile)}`);
    expect(server.stdout()).toBe(`Created a depot in ${expected}\nCA certificate: ${expected}/certificates/ca.crt\nTo serve another depot: depot start PATH (make one with: depot init PATH)\n`);
    expect(existsSync(join(expected, "certificates", "ca.crt"))).toBe(true);
    expect(readLog(logFile)).toContain(`| Serving the depot at ${expected}\n`);
    expect(await request(p, "help")).toBe(HELP_ANSWER);
    const dir = tempDir("depot-lifecycle-certs-");
    checkIssued(await request(p, "generate /UID=default-1"), join(expected, "certificates", "ca.crt"), dir, "default-1");

    server.proc.kill("SIGTERM");
    expect(await server.exit(5000)).toBe(0);

    // The second start serves the same depot and creates nothing.
    const again = spawnDepot(args, envFor(home));
    await waitFor(() => readLog(logFile).split("| All 2 workers ready\n").length === 3, 10_000, () => readLog(logFile));
    expect(again.stdout()).toBe("");
    expect(await request(p, "help")).toBe(HELP_ANSWER);
    again.proc.kill("SIGTERM");
    expect(await again.exit(5000)).toBe(0);
  }, 20_000);

  test("with DEPOT_PATH set, that path is created and served", async () => {
    const home = tempDir("depot-lifecycle-");
    const p = port();
    const logFile = join(home, "depot.log");
    const custom = join(home, "elsewhere", "my-depot");
    const server = spawnDepot(["start", "--port", String(p), "--pid-file", join(home, "depot.pid"), "--log-file", logFile], envFor(home, { DEPOT_PATH: custom }));
    await waitFor(() => readLog(logFile).includes("| All 2 workers ready\n"), 20_000, () => `${server.stderr()}\n${readLog(logFile)}`);
    expect(server.stdout()).toBe(`Created a depot in ${custom}\nCA certificate: ${custom}/certificates/ca.crt\nTo serve another depot: depot start PATH (make one with: depot init PATH)\n`);
    expect(existsSync(join(custom, "certificates", "ca.crt"))).toBe(true);
    expect(existsSync(join(home, ".local", "share", "depot"))).toBe(false);
    expect(readLog(logFile)).toContain(`| Serving the depot at ${custom}\n`);
    expect(await request(p, "help")).toBe(HELP_ANSWER);
    server.proc.kill("SIGTERM");
    expect(await server.exit(5000)).toBe(0);
  });
});

describe("where the log goes", () => {
  test("in the foreground without --log-file: stderr, and no log file is written (not even /var/log/depot.log as root)", async () => {
    const home = tempDir("depot-lifecycle-");
    const path = newDepot(home);
    const p = port();
    const systemLog = "/var/log/depot.log";
    const before = existsSync(systemLog) ? readFileSync(systemLog, "utf8").length : -1;
    const server = spawnDepot(["start", path, "--port", String(p), "--pid-file", join(home, "depot.pid")], envFor(home));
    await waitFor(() => server.stderr().includes("| All 2 workers ready\n"), 20_000, () => server.stderr());
    expect(server.stderr()).toContain(`| Serving the depot at ${path}\n`);
    expect(await request(p, "help")).toBe(HELP_ANSWER);
    server.proc.kill("SIGTERM");
    expect(await server.exit(5000)).toBe(0);
    expect(existsSync(systemLog) ? readFileSync(systemLog, "utf8").length : -1).toBe(before);
    expect(existsSync(join(home, "depot.log"))).toBe(false);
  }, 20_000);
});

describe("bad options", () => {
  test("each bad option: its exact error line, non-zero exit, no server left", async () => {
    const home = tempDir("depot-lifecycle-");
    const path = newDepot(home);
    const p = port();
    const pidFile = join(home, "depot.pid");
    const base = ["start", path, "--pid-file", pidFile, "--log-file", join(home, "depot.log")];
    const cases: [string[], string][] = [
      [["--port", "0"], "depot: --port must be a number from 1 to 65535, not '0'\n"],
      [["--port", "70000"], "depot: --port must be a number from 1 to 65535, not '70000'\n"],
      [["--port", "http"], "depot: --port must be a number from 1 to 65535, not 'http'\n"],
      [["--port", "80.5"], "depot: --port must be a whole number from 1 to 65535, not '80.5'\n"],
      [["--port", String(p), "--process-count", "0"], "depot: --process-count must be a number from 1 to 64, not '0'\n"],
      [["--port", String(p), "--log-level", "loud"], "depot: --log-level must be one of debug, info, warn, error, not 'loud'\n"],
      [["--port", String(p), "--bogus"], "depot: unknown option --bogus\n"],
      [["--port", String(p), "--proces-count", "4"], "depot: unknown option --proces-count; did you mean --process-count?\n"],
      [["--port"], "depot: option --port needs a value\n"],
    ];
    for (const [extra, expected] of cases) {
      const result = await runDepot([...base, ...extra], envFor(home), 10_000);
      expect({ extra, stderr: result.stderr, stdout: result.stdout, exitCode: result.exitCode }).toEqual({ extra, stderr: expected, stdout: "", exitCode: 1 });
      expect(existsSync(pidFile)).toBe(false);
    }
    expect(workersOnPort(p)).toEqual([]);
    expect(portIsFree(p)).toBe(true);
  });
});
