import { defineCommand } from "citty";
import { existsSync, openSync, readFileSync, statSync } from "node:fs";
import { availableParallelism } from "node:os";
import { createDepot } from "../ca/create.ts";
import { Depot } from "../ca/depot.ts";
import { DepotError } from "../errors.ts";
import { claimServerNames, probePort } from "../server/bind.ts";
import { chooseLogFile, LOG_LEVELS, type LogLevel, Logger } from "../server/log.ts";
import { inspectPidFile } from "../server/pidfile.ts";
import { defaultDepotPath, defaultLogFiles, defaultPidFile } from "../server/paths.ts";
import { currentSelfCommand } from "../server/self.ts";
import { depotUpkeep } from "../server/upkeep.ts";
import { READY_FD_ENV, tellStarter } from "../server/starter.ts";
import { Supervisor } from "../server/supervisor.ts";
import { lastOf, rejectUnknownArgs } from "./_strict.ts";
import { requireServerPlatform } from "./_server-platform.ts";


const args = {
  path: { type: "positional", required: false, description: "The depot to serve (default: $DEPOT_PATH, else $XDG_DATA_HOME/depot, created on first start)" },
  host: { type: "string", alias: "H", description: "Address to listen on (127.0.0.1)" },
  port: { type: "string", alias: "P", description: "Port to listen on (35553)" },
  "process-count": { type: "string", alias: "n", description: "Worker processes (2)" },
  "max-connection-queue": { type: "string", alias: "q", description: "Connections one worker holds unanswered before it answers ERROR busy (10)" },
  "pid-file": { type: "string", alias: "p", description: "PID file (~/.depot.pid)" },
  "log-file": { type: "string", alias: "l", description: "Log file (/var/log/depot.log if writable, else ~/depot.log)" },
  "log-level": { type: "string", description: "debug, info (default), warn or error" },
  "key-pool": { type: "string", description: "Key pairs each worker makes ahead while idle, to absorb a burst (32; 0 disables)" },
  timeout: { type: "string", description: "Seconds a worker may go without a heartbeat before it is killed and replaced, and that a graceful stop waits for requests in flight (30)" },
  daemon: { type: "boolean", alias: "d", description: "Run in the background; returns once every worker listens" },
  "allow-revoke": { type: "boolean", description: "Let clients revoke certificates over the socket (off: anyone who can connect could revoke)" },
} as const;

export default defineCommand({
  meta: { name: "start", description: "Run the depot server: a supervisor and its worker processes." },
  args,
  async run({ rawArgs, args: parsed }) {
    const readyFd = process.env[READY_FD_ENV] ? Number(process.env[READY_FD_ENV]) : undefined;
    try {
      requireServerPlatform();
      rejectUnknownArgs(rawArgs, args);
      return await start(rawArgs, parsed, readyFd);
    } catch (error) {
      if (readyFd !== undefined && error instanceof DepotError) tellStarter(readyFd, `error ${error.message}`);
      throw error;
    }
  },
});

async function start(rawArgs: string[], parsed: Record<string, unknown>, readyFd: number | undefined): Promise<number> {
  const host = lastOf(parsed.host) ?? "127.0.0.1";
  const port = integer(parsed.port, "port", 35553, 1, 65535);
  const processCount = integer(parsed["process-count"], "process-count", 2, 1, 64);
  const maxConnectionQueue = integer(parsed["max-connection-queue"], "max-connection-queue", 10, 1, 100_000);
  const keyPool = integer(parsed["key-pool"], "key-pool", 32, 0, 10_000);
  const timeoutMs = Math.round(number(parsed.timeout, "timeout", 30, 0.1, 86_400) * 1000);
  const logLevel = logLevelOf(lastOf(parsed["log-level"]) ?? "info");
  const pidFile = lastOf(parsed["pid-file"]) ?? defaultPidFile();

  const depotPath = await depotToServe(parsed.path as string | undefined);
  await checkDepot(depotPath);

  const running = inspectPidFile(pidFile);
  if (running.kind === "running") throw new DepotError("E_SERVER", `a depot server is already running (pid ${running.pid}, pid file ${pidFile})`);
  // The server itself (not the --daemon starter) claims its port and pid file for its lifetime.
  if (!parsed.daemon || readyFd !== undefined) claimServerNames(host, port, pidFile);
  probePort(host, port);

  const logFile = chooseLogFile(lastOf(parsed["log-file"]) ? [lastOf(parsed["log-file"])!] : defaultLogFiles());
  if (lastOf(parsed["log-file"]) && !logFile) throw new DepotError("E_IO", `cannot write the log file ${lastOf(parsed["log-file"])}`);

  if (parsed.daemon && readyFd === undefined) return daemonize(rawArgs, logFile, host, port);

  const log = new Logger(logLevel, logFile, readyFd === undefined);
  if (running.kind === "stale") log.warn(`replacing the stale pid file ${pidFile} (pid ${running.pid} is not running)`);
  log.info(`Serving the depot at ${depotPath}`);
  if (!isLoopback(host)) {
    // generate and sign need no credentials: whoever reaches the port gets certificates this CA vouches for.
    log.warn(`listening on ${host}, beyond this machine: anyone who can reach port ${port} can have certificates issued by this CA`);
  }
  if (readFileText("/proc/sys/net/ipv4/tcp_migrate_req") === "0") {
    // Without it, connections queued on a stopping worker's listener are reset.
    log.warn("net.ipv4.tcp_migrate_req is 0: when a worker stops (HUP, TTOU, shutdown), connections still queued on its listener are reset; set it to 1 for lossless worker replacement");
  }
  const supervisor = new Supervisor(
    {
      worker: { depot: depotPath, host, port, maxConnectionQueue, logLevel, gracefulTimeoutMs: timeoutMs, keyPool, keyConcurrency: Math.max(1, Math.round(availableParallelism() / processCount)), allowRevoke: parsed["allow-revoke"] === true, testHooks: process.env.DEPOT_TEST_HOOKS === "1" },
      processCount,
      pidFile,
      timeoutMs,
      readyFd,
      upkeep: (afterCrash) => depotUpkeep(depotPath, log, afterCrash),
    },
    log,
  );
  const status = await supervisor.join();
  log.close();
  process.exit(status);
}

/** The given depot, or the default one, made on first start so that `depot` alone serves at once. */
async function depotToServe(given: string | undefined): Promise<string> {
  if (given) return given;
  const path = defaultDepotPath();
  if (!existsSync(path)) {
    await createDepot(path, { label: "Depot CA" });
    console.log(`Created a depot in ${path}`);
    console.log(`CA certificate: ${path}/certificates/ca.crt`);
  }
  return path;
}

/** Opens the depot once, so a broken one fails here with a clear message, not in every worker. */
async function checkDepot(path: string): Promise<void> {
  const depot = await Depot.open(path);
  // Workers write certificate files just after their answers; a crash in
  // between leaves a certificate recorded in the ledger without its file.
  const restored = await depot.restoreMissingFiles();
  if (restored > 0) console.error(`depot: restored ${restored} certificate file(s) from the ledger`);
  depot.close();
  const keyMode = statSync(depot.layout.caKey).mode;
  if (keyMode & 0o077) {
    throw new DepotError("E_INSECURE_KEY", `refusing to start: ${depot.layout.caKey} is readable by group or others (chmod 400 it)`);
  }
}

/**
 * Starts the server in a new session, its output going to the log file, and
 * waits on a pipe until it says every worker is ready (or why it failed).
 */
async function daemonize(rawArgs: string[], logFile: string | undefined, host: string, port: number): Promise<number> {
  const output = logFile ? openSync(logFile, "a") : "ignore";
  const childArgs = rawArgs.filter((arg) => arg !== "-d" && arg !== "--daemon");
  const child = Bun.spawn([...currentSelfCommand(), "start", ...childArgs], {
    stdio: ["ignore", output, output, "pipe"],
    env: { ...process.env, [READY_FD_ENV]: "3" },
    detached: true,
  });
  const reply = (await new Response(Bun.file(child.stdio[3] as unknown as number).stream()).text()).trim();
  child.unref();
  if (reply.startsWith("ready ")) {
    console.log(`depot started in the background (pid ${reply.slice(6)}), listening on ${host}:${port}`);
    return 0;
  }
  const why = reply.startsWith("error ") ? reply.slice(6) : `the server stopped during start-up${logFile ? `; see ${logFile}` : ""}`;
  throw new DepotError("E_SERVER", why);
}

function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || /^127\./.test(host);
}

function readFileText(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8").trim();
  } catch {
    return undefined;
  }
}

function number(value: unknown, name: string, fallback: number, min: number, max: number): number {
  const text = lastOf(value);
  if (text === undefined) return fallback;
  const parsed = Number(text);
  if (!Number.isFinite(parsed) || parsed < min || parsed > max) {
    throw new DepotError("E_BAD_ARGUMENT", `--${name} must be a number from ${min} to ${max}, not '${text}'`);
  }
  return parsed;
}

function integer(value: unknown, name: string, fallback: number, min: number, max: number): number {
  const parsed = number(value, name, fallback, min, max);
  if (!Number.isInteger(parsed)) throw new DepotError("E_BAD_ARGUMENT", `--${name} must be a whole number from ${min} to ${max}, not '${lastOf(value)}'`);
  return parsed;
}

function logLevelOf(text: string): LogLevel {
  const level = LOG_LEVELS.find((l) => l === text.toLowerCase());
  if (!level) throw new DepotError("E_BAD_ARGUMENT", `--log-level must be one of ${LOG_LEVELS.join(", ")}, not '${text}'`);
  return level;
}
