/**
 * @module
 * A worker's metrics, in one place so that the worker and its listeners
 * only call the counting hooks: the reporter (flushes to metrics.sqlite
 * every second, answers scrapes with every worker's totals), the key pool
 * gauge, and the CRL's number and age read at scrape time.
 */
import type { Depot } from "../../ca/depot.ts";
import { MetricsReporter } from "./reporter.ts";
import { metricsStorePath } from "./store.ts";
import { type CrlCopy, type Publication, publicationOf } from "../../http/public/publication.ts";

export interface WorkerMetricsOptions {
  /** The key pool's current fill, for the gauge. */
  keyPool: () => { type: string; size: number } | undefined;
  /** Told of a flush that had to wait for the next one. */
  log: (level: "debug", message: string) => void;
  /** The worker's other once-a-second job (idle-trim.ts), run after each timed flush. */
  eachSecond?: () => void;
}

export class WorkerMetrics {
  reporter: MetricsReporter | undefined;

  constructor(private readonly options: WorkerMetricsOptions) {}

  start(depot: Depot): void {
    const publication = publicationOf(depot.layout);
    this.reporter = new MetricsReporter({
      storePath: metricsStorePath(depot.layout.root),
      worker: String(process.pid),
      gauges: () => {
        const pool = this.options.keyPool();
        return pool ? [{ name: "depot_key_pool_keys", labels: { key_type: pool.type }, value: pool.size }] : [];
      },
      scrapeSamples: () => crlSamples(publication),
      onError: (error) => this.options.log("debug", `metrics flush deferred: ${(error as Error)?.message ?? error}`),
      ...(this.options.eachSecond ? { eachSecond: this.options.eachSecond } : {}),
    });
    this.reporter.start();
  }

  /** A line-protocol request answered. */
  lineServed(command: string, milliseconds: number, outcome: "ok" | "error"): void {
    this.reporter?.registry.count("depot_requests_total", { listener: "line", route: command, outcome });
    this.reporter?.registry.observe("depot_request_duration_seconds", { listener: "line", route: command }, milliseconds / 1000);
  }

  /** An HTTP request answered by another face (the HTTPS API counts here; the plain listener counts itself). */
  httpServed(listener: string, route: string, status: number, milliseconds: number): void {
    const outcome = status < 400 ? "ok" : status < 500 ? "client_error" : "server_error";
    this.reporter?.registry.count("depot_requests_total", { listener, route, outcome });
    this.reporter?.registry.observe("depot_request_duration_seconds", { listener, route }, milliseconds / 1000);
  }

  issued(profile: string, keyType: string): void {
    this.reporter?.registry.count("depot_certificates_issued_total", { profile, key_type: keyType });
  }

  revoked(reason: string): void {
    this.reporter?.registry.count("depot_revocations_total", { reason });
  }

  /** The last counts are flushed; this worker's gauges leave the totals. */
  stop(): void {
    this.reporter?.stop();
    this.reporter = undefined;
  }
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
