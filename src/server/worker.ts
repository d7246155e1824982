/**
 * @module
 * A worker process: opens the depot, opens every listener the supervisor
 * names (`listeners/`), and proves it is alive with a heartbeat on stdout.
 * Its stdin is the lifeline: when the supervisor goes away, stdin ends and
 * the worker finishes what it accepted, then exits.
 */
import { Depot } from "../ca/depot.ts";
import { generateKeyPair } from "../ca/keys.ts";
import { DepotError } from "../errors.ts";
import { KeyPool } from "./key-pool.ts";
import { receiveCaKey } from "./key-handoff.ts";
import type { ListenerContext, OpenedListener } from "./listeners/context.ts";
import { openListener } from "./listeners/registry.ts";
import { describeListener } from "./listeners/types.ts";
import type { LogLevel } from "./log.ts";
import { LOG_LEVELS } from "./log.ts";
import { type WorkerConfig, type WorkerMessage, WORKER_ENV } from "./messages.ts";
import type { Services } from "./protocol.ts";

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

  constructor(private readonly config: WorkerConfig) {}

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
      this.depot = await Depot.open(this.config.depot, {
        ...(decryptedKeyPem !== undefined ? { decryptedKeyPem } : {}),
        deferFiles: true,
        onFileError: (error) => log("error", `${(error as Error).message}; the certificate is in the ledger, its file is restored at the next start`, this.config),
      });
    } catch (error) {
      fatal(error instanceof DepotError ? error.message : `cannot open the depot ${this.config.depot}: ${(error as Error)?.message ?? error}`);
    }
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
      services: this.services(),
      config: this.config,
      log: (level, message) => log(level, message, this.config),
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
      requestStop: (reason) => this.stop(reason),
    };
  }

  private services(): Services {
    return {
      generate: async (subject) => {
        const issued = await this.depot.issue({ profile: "client", subject }, (type) =>
          this.keyPool && type === this.keyPool.type ? this.keyPool.take() : generateKeyPair(type),
        );
        return issued.privateKeyPem + issued.certificatePem + this.depot.chainPem;
      },
      sign: async (csrPem) => (await this.depot.signCsr(csrPem, { profile: "client" })).certificatePem + this.depot.chainPem,
      crl: async () => this.depot.currentCrlPem(),
      revoke: async (serialText, reason) => {
        const { serial } = await this.depot.findBySerial(serialText);
        // Recorded only: the upkeep process publishes the CRL, one for a whole burst.
        const { record } = await this.depot.revoke(serial, reason, { publish: false });
        log("info", `revoked ${record.serial.toUpperCase()} (${record.subject}) over the socket; the upkeep process publishes the CRL`, this.config);
        return `OK revoked ${record.serial.toUpperCase()}\n`;
      },
      allowRevoke: this.config.allowRevoke,
    };
  }

  private finished(): void {
    this.inFlight--;
    if (this.stopping && this.inFlight === 0) this.exit();
  }

  /** Graceful stop: accept nothing new, answer what was accepted, then exit (bounded by a deadline). */
  stop(reason: string): void {
    if (this.stopping) return;
    this.stopping = true;
    send({ t: "stopping", reason });
    log("info", `worker stopping: ${reason}`, this.config);
    for (const listener of this.listeners) listener.stop();
    this.keyPool?.stop();
    if (this.inFlight === 0) this.exit();
    setTimeout(() => this.exit(), this.config.gracefulTimeoutMs).unref();
  }

  private exit(): never {
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
