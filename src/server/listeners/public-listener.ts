/**
 * @module
 * The plain-HTTP listener of one worker: Bun.serve with reusePort on the
 * shared --http-host:--http-port (the kernel spreads connections over the
 * workers, as for the line protocol), serving the public routes.
 *
 * Stopping (QUIT, HUP, TTOU, the lifeline) is graceful, as every Bun.serve
 * listener's (`ServeDrain`, `src/server/listeners/serve-stop.ts`).
 */
import type { Server } from "bun";
import type { Depot } from "../../ca/depot.ts";
import { DepotError } from "../../errors.ts";
import { OcspResponder } from "../../ocsp/responder.ts";
import { ServeDrain } from "./serve-stop.ts";
import type { MetricsReporter } from "../metrics/reporter.ts";
import { publicRoutes } from "../../http/public/handler.ts";
import { publicationOf } from "../../http/public/publication.ts";
import type { KeyType } from "../../ca/key-types.ts";
import type { KeyPair } from "../../ca/keys.ts";
import type { ScepHandler } from "../../http/scep/handler.ts";

export interface PublicListenerOptions {
  depot: Depot;
  host: string;
  port: number;
  /** nextUpdate - thisUpdate of OCSP answers, seconds (--ocsp-validity). */
  ocspValiditySeconds?: number;
  metrics?: MetricsReporter;
  /** Workers serving, for /health. */
  workers: () => number;
  /** SCEP at /scep (its services are loaded by the first SCEP request). */
  scep?: { makeKeys: (type: KeyType) => Promise<KeyPair>; raKeyPem?: string; template?: string; refused(reason: string): void };
  /** Marks a request, or the stop's drain, in flight for the worker's graceful stop; returns its end. */
  begin?: () => () => void;
  onError: (error: unknown) => void;
}

export class PublicListener {
  private server: Server<undefined> | undefined;
  private readonly drain: ServeDrain;

  constructor(private readonly options: PublicListenerOptions) {
    this.drain = new ServeDrain(options.begin);
  }

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
      ...(this.options.scep ? { scep: this.lazyScep(this.options.scep) } : {}),
    });
    try {
      this.server = Bun.serve({
        hostname: this.options.host,
        port: this.options.port,
        reusePort: true,
        fetch: (request, server) => this.drain.answer(() => handler(request, server.requestIP(request)?.address)),
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

  /**
   * SCEP's handler, made by the first /scep request: the API's services and
   * the SCEP face stay unloaded in a worker whose clients never ask.
   */
  private lazyScep(options: NonNullable<PublicListenerOptions["scep"]>): ScepHandler {
    let made: Promise<ScepHandler> | undefined;
    const make = async () => {
      const [{ depotApiServices }, { depotScepServices }, { scepHandler }] = await Promise.all([
        import("../../http/api/depot-services.ts"),
        import("../../http/scep/depot-services.ts"),
        import("../../http/scep/handler.ts"),
      ]);
      const { depot } = this.options;
      const api = depotApiServices(depot, { makeKeys: options.makeKeys, publishOnRevoke: false });
      return scepHandler(
        depotScepServices(depot, { api, ...(options.raKeyPem ? { raKeyPem: options.raKeyPem } : {}), ...(options.template ? { template: options.template } : {}), refused: options.refused, internalError: this.options.onError }),
      );
    };
    return async (request, clientAddress) => (await (made ??= make()))(request, clientAddress);
  }

  get port(): number | undefined {
    return this.server?.port;
  }

  /** Requests being answered now (a graceful stop waits for them). */
  get pending(): number {
    return this.drain.pending;
  }

  /** Graceful: stop accepting, close idle connections, finish what is in flight. Resolves when done. */
  async stop(): Promise<void> {
    if (this.server) await this.drain.stop(this.server);
  }

  /** Quick: drop every connection. */
  stopNow(): void {
    void this.server?.stop(true);
  }
}
