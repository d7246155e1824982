/**
 * @module
 * A worker process: opens the depot, opens every listener the supervisor
 * names (`listeners/`), and proves it is alive with a heartbeat on stdout.
 * Its stdin is the lifeline: when the supervisor goes away, stdin ends and
 * the worker finishes what it accepted, then exits.
 */
import type { Depot } from "../ca/depot.ts";
import { openDepot } from "../store/open-depot.ts";
import type { KeyType } from "../ca/key-types.ts";
import { generateKeyPair, type KeyPair } from "../ca/keys.ts";
import { DepotError } from "../errors.ts";
import { WorkerMetrics } from "../http/worker-metrics.ts";
import { KeyPool } from "./key-pool.ts";
import { IdleTrim } from "./idle-trim.ts";
import { receiveCaKey } from "./key-handoff.ts";
import { RepeatFilter } from "./repeat-filter.ts";
import type { ListenerContext, OpenedListener } from "./listeners/context.ts";
import { openListener } from "./listeners/registry.ts";
import { describeListener } from "./listeners/types.ts";
import type { LogLevel } from "./log.ts";
import { LOG_LEVELS } from "./log.ts";
import { type WorkerConfig, type WorkerMessage, WORKER_ENV } from "./messages.ts";
import type { Services } from "./protocol.ts";
import { printable } from "../ca/dn.ts";

export async function runWorker(): Promise<never> {
  const config = JSON.parse(process.env[WORKER_ENV] ?? "{}") as WorkerConfig;
  const worker = new Worker(config);
  await worker.start();
  return new Promise<never>(() => {});
}

class Worker {
  private depot!: Depot;
  private readonly listeners: OpenedListener[] = [];
  private keyPool: KeyPool | undefined;
  private inFlight = 0;
  private stopping = false;
  private readonly metrics: WorkerMetrics;
  private readonly idleTrim = new IdleTrim(() => this.inFlight > 0);

  constructor(private readonly config: WorkerConfig) {
    this.metrics = new WorkerMetrics({
      keyPool: () => this.keyPool && { type: this.keyPool.type, size: this.keyPool.size },
      log: (level, message) => log(level, message, config),
    });
  }

  async start(): Promise<void> {
    process.stdout.on("error", () => this.stop("lost the supervisor's pipe"));
    // An encrypted CA key arrives first on the lifeline, before it is watched.
    const decryptedKeyPem = this.config.caKeyOnStdin ? await receiveCaKey() : undefined;
    if (this.config.caKeyOnStdin && decryptedKeyPem === undefined) this.exit();
    this.watchLifeline();
    process.on("SIGQUIT", () => this.stop("asked to stop (QUIT)"));
    // Quick stop: no waiting for requests, but the deferred files go out.
    process.on("SIGTERM", () => this.exit());
    process.on("SIGINT", () => this.exit());
    if (this.config.testHooks) process.on("SIGUSR2", () => spinForever());

    try {
      this.depot = await openDepot(this.config.depot, {
        ...(decryptedKeyPem !== undefined ? { decryptedKeyPem } : {}),
        deferFiles: true,
        // The upkeep process checkpoints the ledger's WAL: a checkpoint's fsync would hold this event loop.
        walCheckpoints: "elsewhere",
        ...(this.config.publicUrl ? { publicUrl: this.config.publicUrl } : {}),
        // Issuances and revocations by every face (line, HTTPS API, ACME) count in the metrics.
        onRecorded: (event) =>
          "issued" in event
            ? this.metrics.issued(event.issued.type, event.issued.keyType)
            : this.metrics.revoked(event.revoked.revocationReason ?? "unspecified"),
        onFileError: (error) => log("error", `${(error as Error).message}; the certificate is in the ledger, its file is restored at the next start`, this.config),
      });
    } catch (error) {
      fatal(error instanceof DepotError ? error.message : `cannot open the depot ${this.config.depot}: ${(error as Error)?.message ?? error}`);
    }
    this.metrics.start(this.depot);
    const context = this.context();
    for (const spec of this.config.listeners) {
      try {
        this.listeners.push(await openListener(spec, context));
      } catch (error) {
        fatal(error instanceof DepotError ? error.message : `cannot open the ${describeListener(spec)} listener: ${(error as Error)?.message ?? error}`);
      }
    }
    setInterval(() => send({ t: "beat" }), this.config.heartbeatMs);
    send({ t: "ready" });
    this.keyPool = new KeyPool(this.depot.defaultKeyType, this.config.keyPool, this.config.keyConcurrency);
    this.keyPool.fill();
  }

  private context(): ListenerContext {
    const worker = this;
    return {
      depot: this.depot,
      services: this.services(undefined),
      servicesFor: (client) => this.services(client),
      makeKeys: (type) => this.makeKeys(type),
      config: this.config,
      metrics: this.metrics,
      log: (level, message) => log(level, message, this.config),
      logFailure: (error) => this.logFailure(error),
      begin: () => {
        this.inFlight++;
        let done = false;
        return () => {
          if (done) return;
          done = true;
          this.finished();
        };
      },
      get stopping() {
        return worker.stopping;
      },
      requestRetire: (reason) => this.retire(reason),
    };
  }

  private makeKeys(type: KeyType): Promise<KeyPair> {
    return this.keyPool && type === this.keyPool.type ? this.keyPool.take() : generateKeyPair(type);
  }

  /** The line protocol's operations; `client` (its address) goes into the audit records. */
  private services(client: string | undefined): Services {
    const requester = { requester: "line", ...(client ? { client } : {}) };
    return {
      generate: async (subject) => {
        const issued = await this.depot.issue({ profile: "client", subject, requester }, (type) => this.makeKeys(type));
        return issued.privateKeyPem + issued.certificatePem + this.depot.chainPem;
      },
      sign: async (csrPem) => (await this.depot.signCsr(csrPem, { profile: "client", requester })).certificatePem + this.depot.chainPem,
      crl: async () => this.depot.currentCrlPem(),
      revoke: async (serialText, reason) => {
        const { serial } = await this.depot.findBySerial(serialText);
        // Recorded only: the upkeep process publishes the CRL, one for a whole burst.
        const { record } = await this.depot.revoke(serial, reason, { publish: false, requester });
        log("info", `revoked ${record.serial.toUpperCase()} (${printable(record.subject)}) over the socket; the upkeep process publishes the CRL`, this.config);
        return `OK revoked ${record.serial.toUpperCase()}\n`;
      },
      allowRevoke: this.config.allowRevoke,
      allowShutdown: this.config.allowShutdown,
    };
  }

  private readonly failures = new RepeatFilter(60_000);

  private logFailure(error: unknown): void {
    const expected = error instanceof DepotError;
    const message = expected ? error.message : String((error as Error)?.message ?? error);
    const shown = this.failures.admit(message);
    if (shown === undefined) return;
    log("error", expected ? `request failed: ${shown}` : `internal error: ${shown}${(error as Error)?.stack ? `\n${(error as Error).stack}` : ""}`, this.config);
  }

  private finished(): void {
    this.inFlight--;
    this.idleTrim.served();
    if (this.stopping && this.inFlight === 0) this.exit();
  }

  private retiring = false;

  /** Asks to be replaced; serves on until the supervisor's QUIT. */
  private retire(reason: string): void {
    if (this.retiring || this.stopping) return;
    this.retiring = true;
    send({ t: "retire", reason });
    log("info", `worker stopping: ${reason}`, this.config);
  }

  /** Graceful stop: accept nothing new, answer what was accepted, then exit (bounded by a deadline). */
  stop(reason: string): void {
    if (this.stopping) return;
    this.stopping = true;
    send({ t: "stopping", reason });
    if (!this.retiring) log("info", `worker stopping: ${reason}`, this.config);
    for (const listener of this.listeners) listener.stop();
    this.keyPool?.stop();
    if (this.inFlight === 0) this.exit();
    setTimeout(() => this.exit(), this.config.gracefulTimeoutMs).unref();
  }

  private exit(): never {
    this.metrics.stop();
    this.depot?.close();
    process.exit(0);
  }

  private async watchLifeline(): Promise<void> {
    const reader = Bun.stdin.stream().getReader();
    try {
      while (!(await reader.read()).done) {
        // The supervisor sends nothing; only the end matters.
      }
    } catch {
      // A broken pipe means the same as its end.
    }
    this.stop("the supervisor is gone (lifeline closed)");
  }
}

/** Tells the supervisor why this worker cannot start, and exits. */
function fatal(message: string): never {
  send({ t: "fatal", message });
  process.exit(1);
}

function send(message: WorkerMessage): void {
  try {
    process.stdout.write(`${JSON.stringify(message)}\n`);
  } catch {
    // The supervisor is gone; the lifeline will tell us to stop.
  }
}

function log(level: LogLevel, message: string, config: WorkerConfig): void {
  if (LOG_LEVELS.indexOf(level) >= LOG_LEVELS.indexOf(config.logLevel)) send({ t: "log", level, message });
}

/** Test hook: block the event loop, as a worker stuck in a tight loop would. */
function spinForever(): never {
  for (;;) {
    // Intentionally empty.
  }
}
