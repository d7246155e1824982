/**
 * @module
 * What a worker adds for the `http` listener kind and the metrics, in one
 * place so that the worker itself only calls start, stop and the counting
 * hooks: the metrics reporter (always on: H4's /v1/metrics and /metrics read
 * it), the plain-HTTP listener (when --http-port is given), and the
 * on-crl-change command run in the background with its outcome logged.
 */
import type { Depot } from "../../ca/depot.ts";
import { describeOutcome, runCrlChangeCommand, type CrlPublished } from "../../ca/crl-change.ts";
import { MetricsReporter } from "../metrics-reporter.ts";
import { metricsStorePath } from "../metrics-store.ts";
import { PublicListener } from "./listener.ts";
import type { HttpListenerConfig } from "./options.ts";
import { type CrlCopy, Publication } from "./publication.ts";

export type { HttpListenerConfig };

export interface WorkerHttpOptions {
  http: HttpListenerConfig | undefined;
  /** Workers the supervisor keeps, for /health. */
  processCount: number;
  /** The key pool's current fill, for the gauge. */
  keyPool: () => { type: string; size: number } | undefined;
  log: (level: "debug" | "info" | "warn" | "error", message: string) => void;
}

export class WorkerHttp {
  private metrics: MetricsReporter | undefined;
  private listener: PublicListener | undefined;

  constructor(private readonly options: WorkerHttpOptions) {}

  /** Starts the metrics reporter and, if configured, the HTTP listener. Throws a DepotError when it cannot listen. */
  start(depot: Depot): void {
    const publication = new Publication(depot.layout.caCertificate, depot.layout.crl);
    this.metrics = new MetricsReporter({
      storePath: metricsStorePath(depot.layout.root),
      worker: String(process.pid),
      gauges: () => {
        const pool = this.options.keyPool();
        return pool ? [{ name: "depot_key_pool_keys", labels: { key_type: pool.type }, value: pool.size }] : [];
      },
      scrapeSamples: () => crlSamples(publication),
      onError: (error) => this.options.log("debug", `metrics flush deferred: ${(error as Error)?.message ?? error}`),
    });
    this.metrics.start();
    if (!this.options.http) return;
    this.listener = new PublicListener({
      depot,
      host: this.options.http.host,
      port: this.options.http.port,
      ...(this.options.http.ocspValiditySeconds ? { ocspValiditySeconds: this.options.http.ocspValiditySeconds } : {}),
      metrics: this.metrics,
      workers: () => this.options.processCount,
      onError: (error) => this.options.log("error", `internal error (http): ${(error as Error)?.stack ?? error}`),
    });
    this.listener.start();
  }

  /** A line-protocol request answered. */
  lineServed(command: string, milliseconds: number, outcome: "ok" | "error"): void {
    this.metrics?.registry.count("depot_requests_total", { listener: "line", route: command, outcome });
    this.metrics?.registry.observe("depot_request_duration_seconds", { listener: "line", route: command }, milliseconds / 1000);
  }

  issued(profile: string, keyType: string): void {
    this.metrics?.registry.count("depot_certificates_issued_total", { profile, key_type: keyType });
  }

  revoked(reason: string): void {
    this.metrics?.registry.count("depot_revocations_total", { reason });
  }

  /** Graceful: the HTTP listener finishes its requests; the last counts are flushed. */
  async stop(): Promise<void> {
    await this.listener?.stop();
    this.metrics?.stop();
    this.metrics = undefined;
  }

  /** Quick: connections dropped, counts flushed. */
  stopNow(): void {
    this.listener?.stopNow();
    this.metrics?.stop();
    this.metrics = undefined;
  }
}

/**
 * A server's `onCrlPublished`: runs the on-crl-change command without
 * holding up the answer that caused the new CRL, and logs how it ended.
 */
export function crlChangeLogger(command: string | undefined, log: WorkerHttpOptions["log"]): ((published: CrlPublished) => void) | undefined {
  if (!command) return undefined;
  return (published) => {
    runCrlChangeCommand(command, published)
      .then((outcome) => log(outcome.exitCode === 0 ? "info" : "warn", describeOutcome(outcome, published.crlNumber)))
      .catch((error: unknown) => log("error", `on-crl-change \`${command}\` could not be run: ${(error as Error)?.message ?? error}`));
  };
}

/** The CRL's number and age, read at scrape time from crl.pem (any process may have rewritten it). */
function crlSamples(publication: Publication) {
  let crl: CrlCopy;
  try {
    crl = publication.currentCrl();
  } catch {
    return [];
  }
  const now = Date.now();
  return [
    { name: "depot_crl_number", labels: "", value: crl.number },
    { name: "depot_crl_age_seconds", labels: "", value: Math.round((now - crl.thisUpdate.getTime()) / 1000) },
    ...(crl.nextUpdate ? [{ name: "depot_crl_expiry_seconds", labels: "", value: Math.round((crl.nextUpdate.getTime() - now) / 1000) }] : []),
  ];
}
