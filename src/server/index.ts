/**
 * @module
 * The server's entry: `serve(options)` checks that the depot can be served,
 * claims its pid file and ports, and runs the supervisor until it stops (or
 * hands all of that to a background copy of itself with `daemon`). The
 * CLI's `start` only parses flags into `ServerOptions`; code and tests can
 * call `serve` the same way (unjs/listhen's `listen()`, unicorn's
 * `HttpServer#start`).
 */
import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { AuditFile, lastSeqInFile } from "../ca/audit-file.ts";
import { DepotError, messageOf } from "../errors.ts";
import { claimServerNames, probePorts } from "./bind.ts";
import { startDaemon } from "./daemon.ts";
import { isLoopback } from "./listeners/types.ts";
import { chooseLogFile, Logger } from "./log.ts";
import { defaultLogFiles } from "./paths.ts";
import { inspectPidFile } from "./pidfile.ts";
import { READY_FD_ENV, tellStarter } from "./starter.ts";
import { Supervisor } from "./supervisor.ts";
import type { ServerOptions } from "./options.ts";
import { SHARED_FD } from "./child.ts";
import { allowedCpus, type CpuAffinity, pinThread, threadsOf, type WorkerCpus } from "./cpu-affinity.ts";
import { createNonceBookFile } from "../acme/shared-nonce-book.ts";
import { readDepotConfig } from "../ca/depot-checks.ts";
import { depotLayout } from "../ca/layout.ts";
import { isPostgresUrl } from "../ca/ledger-url.ts";

export type { ServerOptions } from "./options.ts";

export type { HttpListenerSpec, LineListenerSpec, ListenerKind, ListenerSpec } from "./listeners/types.ts";


/**
 * Serves the depot until the server is stopped; resolves with the exit
 * status (0 after QUIT, TERM or INT). With `daemon`, resolves with 0 as soon
 * as the background server is ready. Throws a `DepotError` for whatever
 * keeps the server from starting (port in use, not a depot, insecure key)
 * or stopped it (workers that keep failing at start-up).
 */
export async function serve(options: ServerOptions): Promise<number> {
  if (!options.daemon) return runServer(options, undefined);
  checkListeners(options);
  // The usual mistakes fail here, in the foreground; the background copy
  // checks the depot, claims the names and probes again, and reports.
  checkPidFile(options);
  probePorts(options.listeners);
  const logFile = options.logFile ?? chooseLogFile(defaultLogFiles());
  return startDaemon({ ...options, daemon: false, logFile }, logFile);
}

/**
 * The server itself: in the foreground, or as the background copy of a
 * `daemon` start, which reports `ready <pid>` or `error <reason>` on `readyFd`.
 */
export async function runServer(options: ServerOptions, readyFd: number | undefined): Promise<number> {
  let release: (() => void) | undefined;
  let log: Logger | undefined;
  // The starter hears one line, once: its fd may be reused after it is closed.
  let starterFd = readyFd;
  const tellOnce = (line: string) => {
    if (starterFd !== undefined) tellStarter(starterFd, line);
    starterFd = undefined;
  };
  try {
    checkListeners(options);
    const stale = checkPidFile(options);
    // The server itself (not the --daemon starter) claims its ports and pid file for its lifetime.
    release = claimServerNames(options.listeners, options.pidFile);
    probePorts(options.listeners);
    const inBackground = readyFd !== undefined;
    // A background server's stderr is the log file already: no copies there.
    const logger = new Logger(options.logLevel, options.logFile, !inBackground && options.logFile === undefined);
    log = logger;
    if (stale !== undefined) log.warn(`replacing the stale pid file ${options.pidFile} (pid ${stale} is not running)`);
    log.info(`Serving the depot at ${options.depot}`);
    for (const listener of options.listeners) {
      // generate and sign need no credentials: whoever reaches the port gets certificates this CA vouches for.
      if (listener.kind === "line" && !isLoopback(listener.host)) {
        log.warn(`listening on ${listener.host}, beyond this machine: anyone who can reach port ${listener.port} can have certificates issued by this CA`);
      }
    }
    if (readFileText("/proc/sys/net/ipv4/tcp_migrate_req") === "0") {
      // Without it, connections queued on a stopping worker's listener are reset.
      log.warn("net.ipv4.tcp_migrate_req is 0: when a worker stops (HUP, TTOU, shutdown), connections still queued on its listener are reset; set it to 1 for lossless worker replacement");
    }
    const https = options.listeners.find((l) => l.kind === "https");
    const httpsNames = https?.issueNames;
    const templates: { flag: string; name: string; base?: "client" | "server" }[] = [
      ...(https?.acme?.template ? [{ flag: "--acme-template", name: https.acme.template, base: "server" as const }] : []),
      ...(options.scepTemplate ? [{ flag: "--scep-template", name: options.scepTemplate }] : []),
    ];
    const auditFile = options.auditLog ? new AuditFile(options.auditLog) : undefined;
    const nonceBookFd = https?.acme ? sharedNonceBook(options.depot, logger) : undefined;
    const supervisor = new Supervisor(
      {
        worker: {
          depot: options.depot,
          listeners: options.listeners,
          maxConnectionQueue: options.maxConnectionQueue,
          logLevel: options.logLevel,
          gracefulTimeoutMs: options.timeoutMs,
          keyPool: options.keyPool,
          keyConcurrency: Math.max(1, Math.round(availableParallelism() / options.processCount)),
          allowRevoke: options.allowRevoke === true,
          allowShutdown: options.allowShutdown === true,
          testHooks: options.testHooks === true,
          caKeyOnStdin: options.handedKeys !== undefined,
          processCount: options.processCount,
          ...(options.publicUrl ? { publicUrl: options.publicUrl } : {}),
          ...(options.webhooks ? { webhooks: options.webhooks } : {}),
          ...(options.scepTemplate ? { scepTemplate: options.scepTemplate } : {}),
          ...(nonceBookFd !== undefined ? { nonceBookFd: SHARED_FD } : {}),
        },
        upkeep: {
          depot: options.depot,
          logLevel: options.logLevel,
          pollMs: UPKEEP_POLL_MS,
          caKeyOnStdin: options.handedKeys !== undefined,
          ...(httpsNames ? { https: { names: httpsNames } } : {}),
          ...(auditFile ? { auditFrom: lastSeqInFile(auditFile.path) ?? -1 } : {}),
          ...(options.onCrlChange ? { onCrlChange: options.onCrlChange } : {}),
          ...(templates.length > 0 ? { templates } : {}),
        },
        ...(options.handedKeys !== undefined ? { handedKeys: options.handedKeys } : {}),
        ...(nonceBookFd !== undefined ? { workerSharedFd: nonceBookFd } : {}),
        ...workerCpusOf(options.cpuAffinity),
        processCount: options.processCount,
        pidFile: options.pidFile,
        timeoutMs: options.timeoutMs,
        testHooks: options.testHooks === true,
        onReady: () => {
          if (readyFd !== undefined) tellOnce(`ready ${process.pid}`);
          else if (options.logFile !== undefined) console.error(`depot: serving; the log goes to ${options.logFile}`);
        },
        onReopenLog: () => {
          logger.reopen();
          auditFile?.reopen();
        },
        onAudit: (lines) => {
          try {
            auditFile?.append(lines);
          } catch (error) {
            logger.error(`${messageOf(error)}; ${lines.length} audit record(s) are in the ledger only (depot audit export)`);
          }
        },
      },
      log,
    );
    const { status, failure } = await supervisor.join();
    if (failure) throw new DepotError("E_SERVER", failure);
    return status;
  } catch (error) {
    tellOnce(`error ${error instanceof DepotError ? error.message : "internal error; see the log"}`);
    throw error;
  } finally {
    log?.close();
    release?.();
  }
}

/** How often the upkeep process looks for a CRL to publish. */
const UPKEEP_POLL_MS = 400;

/** At least one listener; the unauthenticated line protocol on loopback unless opened on purpose. */
function checkListeners(options: ServerOptions): void {
  if (options.listeners.length === 0) throw new DepotError("E_BAD_ARGUMENT", "the server needs at least one listener");
  for (const listener of options.listeners) {
    if (listener.kind === "line" && !isLoopback(listener.host) && !options.openLineProtocol) {
      throw new DepotError(
        "E_BAD_ARGUMENT",
        `refusing to serve the line protocol on ${listener.host}: it has no authentication, so anyone who can reach it gets certificates from this CA; add --open-line-protocol if that is what you want`,
      );
    }
  }
}

/** The pid file must name no running server; returns the pid of a stale one. */
function checkPidFile(options: ServerOptions): number | undefined {
  const running = inspectPidFile(options.pidFile);
  if (running.kind === "running") throw new DepotError("E_SERVER", `a depot server is already running (pid ${running.pid}, pid file ${options.pidFile})`);
  if (running.kind === "untrusted") throw new DepotError("E_SERVER", `not trusting the pid file: ${running.reason}; remove it, or give another with --pid-file`);
  return running.kind === "stale" ? running.pid : undefined;
}

function readFileText(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8").trim();
  } catch {
    return undefined;
  }
}

/** The background copy: reads its options from stdin and serves, reporting on fd 3. */
export async function runDaemonChild(): Promise<number> {
  const options = JSON.parse(await Bun.stdin.text()) as ServerOptions;
  try {
    return await runServer(options, Number(process.env[READY_FD_ENV] ?? 3));
  } catch (error) {
    // The starter has heard the reason; the log keeps it too.
    console.error(`depot: ${error instanceof DepotError ? error.message : ((error as Error)?.stack ?? error)}`);
    return 1;
  }
}

/**
 * The ACME nonce book the workers share, open for them to inherit, on a
 * SQLite depot; a PostgreSQL depot's other hosts must know every nonce, so
 * there the ledger keeps them. A depot that cannot be read gets none: the
 * upkeep process says why it cannot be served.
 */
function sharedNonceBook(depot: string, log: Logger): number | undefined {
  const layout = depotLayout(depot);
  try {
    if (isPostgresUrl(readDepotConfig(layout).settings.ledger)) return undefined;
  } catch {
    return undefined;
  }
  try {
    return createNonceBookFile(layout.root);
  } catch (error) {
    log.warn(`cannot make the ACME nonce book in ${layout.root} (${messageOf(error)}); the ledger keeps spent nonces instead`);
    return undefined;
  }
}

/** The supervisor's `workerCpus` for --cpu-affinity auto (the default): the CPUs this process may use, unless only one. */
function workerCpusOf(affinity: CpuAffinity = "auto"): { workerCpus?: WorkerCpus } {
  if (affinity === "off") return {};
  const cpus = allowedCpus();
  return cpus && cpus.length > 1 ? { workerCpus: { cpus, pin: pinThread, threads: threadsOf } } : {};
}
