import type { Subprocess } from "bun";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { DEPOT_BIN, depot, run, tempDir } from "./helpers.ts";

/** A port nobody listens on right now (the kernel picks it; we close it again). */
export function freePort(): number {
  const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = probe.port;
  probe.stop(true);
  return port;
}

/**
 * Sends one line (the line ending is added unless `raw`) and reads until the
 * server closes. `halfClose` shuts the client's write side after the request
 * (a FIN, as `nc -N` does) and keeps reading.
 */
export async function request(port: number, line: string | Uint8Array, options: { raw?: boolean; timeoutMs?: number; halfClose?: boolean } = {}): Promise<string> {
  const chunks: Buffer[] = [];
  const payload = typeof line === "string" ? Buffer.from(options.raw ? line : `${line}\n`) : Buffer.from(line);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer to ${JSON.stringify(String(line).slice(0, 40))} within ${options.timeoutMs ?? 15000} ms`)), options.timeoutMs ?? 15000);
    Bun.connect({
      hostname: "127.0.0.1",
      port,
      allowHalfOpen: options.halfClose === true,
      socket: {
        open(socket) {
          if (payload.length) socket.write(payload);
          if (options.halfClose) socket.shutdown(); // FIN: no more to send, still reading
        },
        data(_socket, data) {
          chunks.push(Buffer.from(data));
        },
        close() {
          clearTimeout(timer);
          resolve();
        },
        error(_socket, error) {
          clearTimeout(timer);
          reject(error);
        },
        connectError(_socket, error) {
          clearTimeout(timer);
          reject(error);
        },
      },
    }).catch(reject);
  });
  return Buffer.concat(chunks).toString();
}

export interface RunningServer {
  process: Subprocess<"ignore", "pipe", "pipe">;
  port: number;
  home: string;
  depotPath: string;
  pidFile: string;
  logFile: string;
  log(): string;
  /** What the server wrote to stderr so far (the helper reads the pipe: read it here). */
  stderr(): string;
  /** Resolves once the log says every worker is ready. */
  ready: Promise<void>;
  /** Kills the supervisor and its workers, whatever state they are in. */
  kill(): Promise<void>;
}

/**
 * Starts `dist/depot start` in the foreground with HOME in a temp folder, a
 * fresh depot (made by `depot init`, ec-p256 unless told, then handed to
 * `beforeStart`), a free port and its own pid and log files. Extra
 * arguments go to `start`.
 */
export async function startServer(
  extraArgs: string[] = [],
  options: { keyType?: string; env?: Record<string, string>; beforeStart?: (depotPath: string) => void } = {},
): Promise<RunningServer> {
  const home = tempDir("depot-server-");
  const depotPath = join(home, "ca");
  const init = depot(["init", depotPath, "Test CA", "--key-type", options.keyType ?? "ec-p256"]);
  if (init.exitCode !== 0) throw new Error(`init failed: ${init.stderr}`);
  // What the depot needs before it is served (templates in depot.cnf, ...).
  options.beforeStart?.(depotPath);
  const port = freePort();
  const pidFile = join(home, "depot.pid");
  const logFile = join(home, "depot.log");
  const proc = Bun.spawn(
    [DEPOT_BIN, "start", depotPath, "--port", String(port), "--pid-file", pidFile, "--log-file", logFile, ...extraArgs],
    { stdin: "ignore", stdout: "pipe", stderr: "pipe", env: { ...process.env, HOME: home, ...options.env } },
  );
  const log = () => (existsSync(logFile) ? readFileSync(logFile, "utf8") : "");
  // What the server said on stderr (a refusal before its log opens goes there), for a start that fails.
  let stderr = "";
  void (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of proc.stderr) stderr += decoder.decode(chunk, { stream: true });
  })();
  const isReady = () => /All \d+ workers ready/.test(log());
  const story = () => `log:\n${log()}\nstderr:\n${stderr}`;
  const ready = (async () => {
    await waitFor(() => isReady() || proc.exitCode !== null, 10_000, () => `server not ready; ${story()}`);
    if (!isReady()) throw new Error(`server exited (${proc.exitCode ?? proc.signalCode}) before it was ready; ${story()}`);
  })();
  return {
    process: proc,
    port,
    home,
    depotPath,
    pidFile,
    logFile,
    log,
    stderr: () => stderr,
    ready,
    kill: () => killServer(proc),
  };
}

/** Polls `condition` every 20 ms until it holds, or fails with `describe()` after `timeoutMs`. */
export async function waitFor(condition: () => boolean | Promise<boolean>, timeoutMs: number, describe: string | (() => string) = "condition"): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await condition())) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${typeof describe === "string" ? describe : describe()}`);
    await Bun.sleep(20);
  }
}

/**
 * The kernel's count of connections reset while established (/proc/net/snmp,
 * Tcp EstabResets). A handshake that completes on a reuseport listener in the
 * instant it closes is reset there, tcp_migrate_req=1 or not, and no process
 * ever sees it (bench/reuseport-close.ts): a test that closes listeners under
 * load checks that each such failure is one the kernel counted.
 */
export function estabResets(): number {
  const lines = readFileSync("/proc/net/snmp", "utf8").split("\n").filter((line) => line.startsWith("Tcp:"));
  const names = lines[0]!.split(/\s+/);
  return Number(lines[1]!.split(/\s+/)[names.indexOf("EstabResets")]);
}

/** Pids of the workers of a supervisor: its children running `__worker`. */
export function workerPids(supervisorPid: number): number[] {
  return childPids(supervisorPid, "__worker");
}

/** Pid of a supervisor's upkeep process (`__upkeep`), if one runs. */
export function upkeepPid(supervisorPid: number): number | undefined {
  return childPids(supervisorPid, "__upkeep")[0];
}

function childPids(supervisorPid: number, command: string): number[] {
  const result = Bun.spawnSync(["pgrep", "-P", String(supervisorPid)]);
  return result.stdout
    .toString()
    .split(/\s+/)
    .filter(Boolean)
    .map(Number)
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").includes(command);
      } catch {
        return false;
      }
    });
}

/** SIGKILL a supervisor and its workers at once (the upkeep process follows through its lifeline). */
export async function killServer(proc: Subprocess): Promise<void> {
  const workers = workerPids(proc.pid);
  proc.kill("SIGKILL");
  for (const pid of workers) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // Already gone.
    }
  }
  await proc.exited;
}

export interface CurlAnswer {
  status: number;
  /** Header names in lower case. */
  headers: Record<string, string>;
  body: string;
}

/**
 * Runs the real curl against a depot HTTPS listener (`--cacert caFile`),
 * keeping the answer's status and headers (dumped to a file in `folder`):
 * what the HTTPS API, EST and renewal tests assert on.
 */
export function curlAnswer(caFile: string, folder: string, args: string[]): CurlAnswer {
  const headersFile = join(folder, "headers.txt");
  const result = run(["curl", "-sS", "--cacert", caFile, "-D", headersFile, "-o", "-", ...args], { cwd: folder });
  if (result.exitCode !== 0) throw new Error(`curl failed (${result.exitCode}): ${result.stderr}`);
  return answerOf(readFileSync(headersFile, "utf8"), result.stdout);
}

let asyncCalls = 0;

/**
 * `curlAnswer` without blocking this process's event loop, for tests that
 * serve something in it the server calls back (a webhook): spawnSync would
 * hold the loop until curl gave up.
 */
export async function curlAnswerAsync(caFile: string, folder: string, args: string[]): Promise<CurlAnswer> {
  const headersFile = join(folder, `headers-${++asyncCalls}.txt`);
  const child = Bun.spawn(["curl", "-sS", "--cacert", caFile, "-D", headersFile, "-o", "-", ...args], { cwd: folder, stdin: "ignore", stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, exitCode] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  if (exitCode !== 0) throw new Error(`curl failed (${exitCode}): ${stderr}`);
  return answerOf(readFileSync(headersFile, "utf8"), stdout);
}

/** The status line and headers curl dumped (names in lower case), with the body. */
function answerOf(headerText: string, body: string): CurlAnswer {
  const status = Number(/^HTTP\/[\d.]+ (\d+)/.exec(headerText)![1]);
  const headers = Object.fromEntries(
    headerText
      .split("\r\n")
      .slice(1)
      .filter((line) => line.includes(":"))
      .map((line) => [line.slice(0, line.indexOf(":")).toLowerCase(), line.slice(line.indexOf(":") + 1).trim()]),
  );
  return { status, headers, body };
}
