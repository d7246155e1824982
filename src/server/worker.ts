/**
 * @module
 * A worker process: opens the depot, opens every listener the supervisor
 * names (`listeners/`), and proves it is alive with a heartbeat on stdout.
 * Its stdin is the lifeline: when the supervisor goes away, stdin ends and
 * the worker finishes what it accepted, then exits. The lifeline and the
 * messages are `child-process.ts`'s; the listeners' protocols are theirs
 * (`src/line/`, `src/http/`): this module holds the process's own concerns
 * (the depot, the key pool, requests in flight, stopping).
 */
import type { Depot } from "../ca/depot.ts";
import { openDepot } from "../store/open-depot.ts";
import type { KeyType } from "../ca/key-types.ts";
import { generateKeyPair, type KeyPair } from "../ca/keys.ts";
import { DepotError } from "../errors.ts";
import { WorkerMetrics } from "./metrics/worker-metrics.ts";
import { KeyPool } from "./key-pool.ts";
import { IdleTrim } from "./idle-trim.ts";
import { fatal, logAbove, readLifeline, send, startHeartbeat } from "./child-process.ts";
import { RepeatFilter } from "./repeat-filter.ts";
import type { ListenerContext, OpenedListener } from "./listeners/context.ts";
import type { SshCaKeys } from "../ca/ssh/ssh-ca.ts";
import { openListener } from "./listeners/registry.ts";
import { describeListener } from "./listeners/types.ts";
import type { LogLevel } from "./log.ts";
import { type WorkerConfig, WORKER_ENV } from "./messages.ts";
import type { WebhookGate } from "./webhooks/gate.ts";

export async function runWorker(): Promise<never> {
  const config = JSON.parse(process.env[WORKER_ENV] ?? "{}") as WorkerConfig;
  const worker = new Worker(config);
  await worker.start();
  return new Promise<never>(() => {});
}

class Worker {
  private depot!: Depot;
  /** The SSH CA keys the supervisor handed over (the depot's keys are encrypted). */
  private sshCaKeys: SshCaKeys | undefined;
  /** The SCEP RA's key the supervisor handed over (the depot's keys are encrypted). */
  private scepRaKey: string | undefined;
  private readonly listeners: OpenedListener[] = [];
  private keyPool: KeyPool | undefined;
  private inFlight = 0;
  private stopping = false;
  private readonly metrics: WorkerMetrics;
  private readonly idleTrim = new IdleTrim(() => this.inFlight > 0);
  private readonly log: (level: LogLevel, message: string) => void;

  constructor(private readonly config: WorkerConfig) {
    this.log = logAbove(config.logLevel);
    this.metrics = new WorkerMetrics({
      keyPool: () => this.keyPool && { type: this.keyPool.type, size: this.keyPool.size },
      log: this.log,
      eachSecond: () => this.idleTrim.tick(),
    });
  }

  async start(): Promise<void> {
    process.stdout.on("error", () => this.stop("lost the supervisor's pipe"));
    // An encrypted CA key arrives first on the lifeline; the supervisor sends a worker nothing else.
    const handed = await readLifeline({
      caKeyOnStdin: this.config.caKeyOnStdin === true,
      ended: () => this.stop("the supervisor is gone (lifeline closed)"),
    });
    const decryptedKeyPem = handed?.ca;
    this.sshCaKeys = handed?.ssh;
    this.scepRaKey = handed?.scepRa;
    process.on("SIGQUIT", () => this.stop("asked to stop (QUIT)"));
    // Quick stop: no waiting for requests, but the deferred files go out.
    process.on("SIGTERM", () => this.exit());
    process.on("SIGINT", () => this.exit());
    if (this.config.testHooks) process.on("SIGUSR2", () => spinForever());

    let gate: WebhookGate | undefined;
    try {
      // Loaded only with webhooks; the secret is read from its file here, never handed over in the config.
      if (this.config.webhooks) gate = (await import("./webhooks/gate.ts")).openWebhookGate(this.config.webhooks, this.log);
    } catch (error) {
      fatal(error, "cannot set up the issuance webhooks");
    }
    try {
      this.depot = await openDepot(this.config.depot, {
        // Every issuance of every face (line, HTTPS API, EST, ACME, SSH) asks the webhooks first.
        ...(gate ? { gate, enrichableExtensions: this.config.webhooks?.extensions ?? [] } : {}),
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
        onFileError: (error) => this.log("error", `${(error as Error).message}; the certificate is in the ledger, its file is restored at the next start`),
      });
    } catch (error) {
      fatal(error, `cannot open the depot ${this.config.depot}`);
    }
    this.metrics.start(this.depot);
    const context = this.context();
    for (const spec of this.config.listeners) {
      try {
        this.listeners.push(await openListener(spec, context));
      } catch (error) {
        fatal(error, `cannot open the ${describeListener(spec)} listener`);
      }
    }
    startHeartbeat(this.config.heartbeatMs);
    send({ t: "ready" });
    this.keyPool = new KeyPool(this.depot.defaultKeyType, this.config.keyPool, this.config.keyConcurrency);
    this.keyPool.fill();
  }

  private context(): ListenerContext {
    const worker = this;
    return {
      depot: this.depot,
      ...(this.sshCaKeys ? { sshCaKeys: this.sshCaKeys } : {}),
      ...(this.scepRaKey ? { scepRaKey: this.scepRaKey } : {}),
      makeKeys: (type) => this.makeKeys(type),
      config: this.config,
      metrics: this.metrics,
      log: this.log,
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

  private readonly failures = new RepeatFilter(60_000);

  private logFailure(error: unknown): void {
    const expected = error instanceof DepotError;
    const message = expected ? error.message : String((error as Error)?.message ?? error);
    const shown = this.failures.admit(message);
    if (shown === undefined) return;
    this.log("error", expected ? `request failed: ${shown}` : `internal error: ${shown}${(error as Error)?.stack ? `\n${(error as Error).stack}` : ""}`);
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
    this.log("info", `worker stopping: ${reason}`);
  }

  /** Graceful stop: accept nothing new, answer what was accepted, then exit (bounded by a deadline). */
  stop(reason: string): void {
    if (this.stopping) return;
    this.stopping = true;
    send({ t: "stopping", reason });
    if (!this.retiring) this.log("info", `worker stopping: ${reason}`);
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
}

/** Test hook: block the event loop, as a worker stuck in a tight loop would. */
function spinForever(): never {
  for (;;) {
    // Intentionally empty.
  }
}
