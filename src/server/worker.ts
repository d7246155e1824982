import type { Socket, TCPSocketListener } from "bun";
import { Depot } from "../ca/depot.ts";
import { DepotError } from "../errors.ts";
import { listenErrorMessage } from "./bind.ts";
import { Connection } from "./connection.ts";
import { KeyPool } from "./key-pool.ts";
import { generateKeyPair } from "../ca/keys.ts";
import type { LogLevel } from "./log.ts";
import { LOG_LEVELS } from "./log.ts";
import { type WorkerConfig, type WorkerMessage, WORKER_ENV } from "./messages.ts";
import type { Services } from "./protocol.ts";
import { crlChangeLogger, WorkerHttp } from "../http/public/worker-http.ts";

/**
 * A worker process: opens the depot, listens on the shared port (reusePort:
 * the kernel spreads connections over the workers), answers the line
 * protocol, and proves it is alive with a heartbeat on stdout. Its stdin is
 * the lifeline: when the supervisor goes away, stdin ends and the worker
 * finishes what it accepted, then exits.
 */
export async function runWorker(): Promise<never> {
  const config = JSON.parse(process.env[WORKER_ENV] ?? "{}") as WorkerConfig;
  const worker = new Worker(config);
  await worker.start();
  return new Promise<never>(() => {});
}

class Worker {
  private depot!: Depot;
  private listener: TCPSocketListener<Connection> | undefined;
  private keyPool: KeyPool | undefined;
  private inService = 0;
  private stopping = false;
  /** The HTTP listener (if --http-port) and the metrics. */
  private readonly http: WorkerHttp;
  private httpDrained = true;

  constructor(private readonly config: WorkerConfig) {
    this.services = this.makeServices();
    this.http = new WorkerHttp({
      http: config.http,
      processCount: config.processCount ?? 1,
      keyPool: () => this.keyPool && { type: this.keyPool.type, size: this.keyPool.size },
      log: (level, message) => log(level, message, config),
    });
  }

  async start(): Promise<void> {
    process.stdout.on("error", () => this.stop("lost the supervisor's pipe"));
    this.watchLifeline();
    process.on("SIGQUIT", () => this.stop("asked to stop (QUIT)"));
    // Quick stop: no waiting for requests, but the deferred files go out.
    process.on("SIGTERM", () => this.exit());
    process.on("SIGINT", () => this.exit());
    if (this.config.testHooks) process.on("SIGUSR2", () => spinForever());

    try {
      const logCrlChange = (published: { path: string; crlNumber: number }) =>
        crlChangeLogger(this.config.onCrlChange ?? this.depot.crlChangeCommand, (level, message) => log(level, message, this.config))?.(published);
      this.depot = await Depot.open(this.config.depot, {
        deferFiles: true,
        onCrlPublished: logCrlChange,
        ...(this.config.publicUrl ? { publicUrl: this.config.publicUrl } : {}),
        onFileError: (error) => log("error", `${(error as Error).message}; the certificate is in the ledger, its file is restored at the next start`, this.config),
      });
    } catch (error) {
      fatal(error instanceof DepotError ? error.message : `cannot open the depot ${this.config.depot}: ${(error as Error)?.message ?? error}`);
    }
    try {
      // reusePort is read by Bun.listen, though bun-types only declares it for connect.
      const options = { hostname: this.config.host, port: this.config.port, reusePort: true, socket: this.socketHandlers() };
      this.listener = Bun.listen<Connection>(options as unknown as Bun.TCPSocketListenOptions<Connection>);
    } catch (error) {
      fatal(listenErrorMessage(error, this.config.host, this.config.port));
    }
    try {
      this.http.start(this.depot);
    } catch (error) {
      fatal(error instanceof DepotError ? error.message : `cannot start the HTTP listener: ${(error as Error)?.message ?? error}`);
    }
    setInterval(() => send({ t: "beat" }), this.config.heartbeatMs);
    send({ t: "ready" });
    this.keyPool = new KeyPool(this.depot.defaultKeyType, this.config.keyPool, this.config.keyConcurrency);
    this.keyPool.fill();
  }

  private readonly services: Services;

  private makeServices(): Services {
    return {
      generate: async (subject) => {
        const issued = await this.depot.issue({ profile: "client", subject }, (type) =>
          this.keyPool && type === this.keyPool.type ? this.keyPool.take() : generateKeyPair(type),
        );
        this.http.issued("client", issued.record.keyType);
        return issued.privateKeyPem + issued.certificatePem;
      },
      sign: async (csrPem) => {
        const issued = await this.depot.signRequest(csrPem, { profile: "client" });
        this.http.issued("client", issued.record.keyType);
        return issued.certificatePem;
      },
      crl: async () => this.depot.currentCrlPem(),
      revoke: async (serialText, reason) => {
        const { serial } = await this.depot.findBySerial(serialText);
        const { record, crl } = await this.depot.revoke(serial, reason);
        this.http.revoked(reason);
        log("info", `revoked ${record.serial.toUpperCase()} (${record.subject}) over the socket; CRL ${crl.crlNumber}`, this.config);
        return `OK revoked ${record.serial.toUpperCase()}\n`;
      },
      allowRevoke: this.config.allowRevoke,
    };
  }

  private socketHandlers() {
    return {
      open: (socket: Socket<Connection>) => {
        if (this.stopping || this.inService >= this.config.maxConnectionQueue) {
          socket.end("ERROR busy\n");
          return;
        }
        this.inService++;
        socket.data = new Connection(socket, {
          services: this.services,
          finished: () => this.finished(),
          shutdownRequested: () => setImmediate(() => this.stop("asked to stop by a client (shutdown)")),
          internalError: (error) => log("error", `internal error: ${(error as Error)?.stack ?? error}`, this.config),
          served: (command, ms, outcome) => {
            this.http.lineServed(command, ms, outcome);
            log("debug", `served ${command} in ${ms.toFixed(1)} ms`, this.config);
          },
        });
      },
      data: (socket: Socket<Connection>, chunk: Buffer) => socket.data?.onData(chunk),
      drain: (socket: Socket<Connection>) => socket.data?.onDrain(),
      close: (socket: Socket<Connection>) => socket.data?.onClose(),
      error: (socket: Socket<Connection>) => socket.data?.onClose(),
    };
  }

  private finished(): void {
    this.inService--;
    if (this.stopping && this.inService === 0 && this.httpDrained) this.exit();
  }

  /** Graceful stop: accept nothing new, answer what was accepted, then exit (bounded by a deadline). */
  stop(reason: string): void {
    if (this.stopping) return;
    this.stopping = true;
    send({ t: "stopping", reason });
    log("info", `worker stopping: ${reason}`, this.config);
    this.listener?.stop(false);
    this.keyPool?.stop();
    // HTTP requests in flight complete too; the worker exits when both are done.
    this.httpDrained = false;
    void this.http.stop().then(() => {
      this.httpDrained = true;
      if (this.inService === 0) this.exit();
    });
    setTimeout(() => this.exit(), this.config.gracefulTimeoutMs).unref();
  }

  private exit(): never {
    this.http.stopNow();
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
