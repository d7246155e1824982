/**
 * @module
 * The plain-HTTP listener of one worker: Bun.serve with reusePort on the
 * shared --http-host:--http-port (the kernel spreads connections over the
 * workers, as for the line protocol), serving the public routes.
 *
 * Stopping (QUIT, HUP, TTOU, the lifeline) is graceful: every answer from
 * then on carries `Connection: close`, so a busy keep-alive client learns
 * to reconnect from an answer rather than from a closed socket; after
 * CLOSE_GRACE_MS the listening socket closes (queued connections move to
 * the other workers with tcp_migrate_req=1), the keep-alive connections
 * still idle are closed, and requests in flight complete.
 */
import type { Server } from "bun";
import type { Depot } from "../../ca/depot.ts";
import { DepotError } from "../../errors.ts";
import { OcspResponder } from "../../ocsp/responder.ts";
import type { MetricsReporter } from "../metrics-reporter.ts";
import { publicRoutes } from "./handler.ts";
import { publicationOf } from "./publication.ts";

export interface PublicListenerOptions {
  depot: Depot;
  host: string;
  port: number;
  /** nextUpdate - thisUpdate of OCSP answers, seconds (--ocsp-validity). */
  ocspValiditySeconds?: number;
  metrics?: MetricsReporter;
  /** Workers serving, for /health. */
  workers: () => number;
  /** Marks a request in flight for the worker's graceful stop; returns its end. */
  begin?: () => () => void;
  onError: (error: unknown) => void;
}

/** How long a stopping listener keeps answering (each answer with Connection: close) before it closes. */
export const CLOSE_GRACE_MS = 250;

export class PublicListener {
  private server: Server<undefined> | undefined;
  private stopping = false;
  private inFlight = 0;

  constructor(private readonly options: PublicListenerOptions) {}

  /** Listens; throws a DepotError naming the address when it cannot. */
  start(): void {
    const { depot, metrics } = this.options;
    const handler = publicRoutes({
      ocsp: new OcspResponder({
        issuer: depot.issuer,
        find: (serial) => depot.ledger.find(serial),
        changes: () => depot.ledger.changeVersion(),
        ...(this.options.ocspValiditySeconds ? { validitySeconds: this.options.ocspValiditySeconds } : {}),
      }),
      publication: publicationOf(depot.layout),
      ...(metrics ? { metrics: metrics.registry, scrape: () => metrics.scrape() } : {}),
      ledgerReachable: async () => (await depot.ledger.count()) > 0,
      workers: this.options.workers,
      onError: this.options.onError,
    });
    try {
      this.server = Bun.serve({
        hostname: this.options.host,
        port: this.options.port,
        reusePort: true,
        fetch: async (request, server) => {
          this.inFlight++;
          const done = this.options.begin?.();
          try {
            const response = await handler(request, server.requestIP(request)?.address);
            // Once stopping, no connection is kept for another request.
            if (this.stopping) response.headers.set("Connection", "close");
            return response;
          } finally {
            this.inFlight--;
            done?.();
          }
        },
        error: (error) => {
          this.options.onError(error);
          return new Response("internal error\n", { status: 500 });
        },
      });
    } catch (error) {
      const code = (error as NodeJS.ErrnoException)?.code;
      const why = code === "EADDRINUSE" ? "the address is in use" : code === "EACCES" ? "permission denied" : String((error as Error)?.message ?? error);
      throw new DepotError("E_SERVER", `cannot listen for HTTP on ${this.options.host}:${this.options.port}: ${why}`);
    }
  }

  get port(): number | undefined {
    return this.server?.port;
  }

  /** Requests being answered now (a graceful stop waits for them). */
  get pending(): number {
    return this.inFlight;
  }

  /** Graceful: stop accepting, close idle connections, finish what is in flight. Resolves when done. */
  async stop(): Promise<void> {
    if (!this.server || this.stopping) return;
    this.stopping = true;
    await Bun.sleep(CLOSE_GRACE_MS);
    await this.server.stop(false);
  }

  /** Quick: drop every connection. */
  stopNow(): void {
    this.stopping = true;
    void this.server?.stop(true);
  }
}
