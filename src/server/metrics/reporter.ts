/**
 * @module
 * A worker's side of the metrics: counts into its registry, flushes the
 * increments to the shared store every second, and answers a scrape with
 * the totals of all workers.
 */
import { type Labels, MetricsRegistry, type Sample, renderPrometheus } from "./registry.ts";
import { MetricsStore } from "./store.ts";

export const FLUSH_MS = 1000;

export interface ReporterOptions {
  storePath: string;
  /** This worker's name in the store (its pid). */
  worker: string;
  /** Gauges this worker reads fresh at each flush (its key pool fill). */
  gauges?: () => { name: "depot_key_pool_keys"; labels: Labels; value: number }[];
  /** Samples computed at scrape time (the CRL's number and age). */
  scrapeSamples?: () => Sample[];
  /** Told of a flush that failed (the increments are kept for the next one). */
  onError?: (error: unknown) => void;
  /** Run after each timed flush: another once-a-second job, sharing the flush's wake-up. */
  eachSecond?: () => void;
}

export class MetricsReporter {
  readonly registry = new MetricsRegistry();
  private readonly store: MetricsStore;
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(private readonly options: ReporterOptions) {
    this.store = new MetricsStore(options.storePath);
  }

  /** Counts this worker's start and flushes every second from now on. */
  start(): void {
    this.registry.count("depot_worker_starts_total");
    this.flush();
    this.timer = setInterval(() => {
      this.flush();
      this.options.eachSecond?.();
    }, FLUSH_MS);
    this.timer.unref?.();
  }

  flush(): void {
    // Each worker counts 1 while it reports: their sum is the live workers.
    this.registry.setGauge("depot_workers", {}, 1);
    for (const gauge of this.options.gauges?.() ?? []) this.registry.setGauge(gauge.name, gauge.labels, gauge.value);
    const increments = this.registry.takePending();
    try {
      this.store.flush(this.options.worker, increments, this.registry.currentGauges());
    } catch (error) {
      this.registry.restore(increments);
      this.options.onError?.(error);
    }
  }

  /**
   * The Prometheus text of all workers' totals. This worker flushes first
   * and the answer shows only what is stored: adding its increments without
   * storing them would let the next scrape, answered by another worker, show
   * less, which Prometheus reads as a counter reset.
   */
  scrape(): string {
    this.flush();
    return renderPrometheus([...this.store.counters(), ...this.store.gauges().samples, ...(this.options.scrapeSamples?.() ?? [])]);
  }

  /** Workers that reported in the last few seconds (for /health). */
  liveWorkers(): number {
    return this.store.gauges().workers;
  }

  /** Last flush, then the worker's gauges leave the totals. */
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.flush();
    this.store.forget(this.options.worker);
    this.store.close();
  }
}
