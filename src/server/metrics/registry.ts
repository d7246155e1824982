/**
 * @module
 * The metrics registry: what depot counts, per process, and the Prometheus
 * text format (version 0.0.4) a scrape answers.
 *
 * A worker counts into its own registry; every second it flushes the
 * increments into the depot's metrics store (metrics-store.ts), where the
 * totals of every worker (and of workers long gone) add up. A scrape, which
 * the kernel hands to any one worker, flushes that worker's increments and
 * reads the totals: across all workers, at most about a second old, and
 * monotonic across worker restarts and from one scrape to the next, because
 * no worker holds the only copy of a count and nothing unstored is shown. Gauges (key pool fill) are per worker, reported
 * with each flush and summed over the workers heard from in the last seconds.
 */

export type MetricType = "counter" | "gauge" | "histogram";

interface Family {
  type: MetricType;
  help: string;
}

/** Every metric depot exports: one home for names, types and help. */
export const FAMILIES = {
  depot_requests_total: { type: "counter", help: "Requests answered, by listener (line, http, https), command or route, and outcome." },
  depot_request_duration_seconds: { type: "histogram", help: "Time to answer a request, by listener and command or route." },
  depot_certificates_issued_total: { type: "counter", help: "Certificates issued by the server, by profile and key type." },
  depot_revocations_total: { type: "counter", help: "Certificates revoked by the server, by reason." },
  depot_ocsp_responses_total: { type: "counter", help: "OCSP responses, by certificate status (good, revoked, unknown) or response status when unsuccessful." },
  depot_worker_starts_total: { type: "counter", help: "Worker processes started (the first generation, then every replacement or restart)." },
  depot_key_pool_keys: { type: "gauge", help: "Key pairs made ahead and waiting in the workers' pools." },
  depot_workers: { type: "gauge", help: "Worker processes that reported in the last 3 seconds." },
  depot_crl_number: { type: "gauge", help: "The CRL number of crl.pem." },
  depot_crl_age_seconds: { type: "gauge", help: "Seconds since the thisUpdate of crl.pem." },
  depot_crl_expiry_seconds: { type: "gauge", help: "Seconds until the nextUpdate of crl.pem (negative once expired)." },
} satisfies Record<string, Family>;

export type MetricName = keyof typeof FAMILIES;

/** Upper bounds of the request duration buckets, seconds. */
export const DURATION_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** One sample line: a series name (a family name, or its _bucket/_sum/_count), its labels, its value. */
export interface Sample {
  name: string;
  /** Label text as written between the braces: `outcome="ok",route="/ocsp"`, canonical (sorted by label name). */
  labels: string;
  value: number;
}

export type Labels = Record<string, string>;

/** The text between a series' braces, label names sorted so that one series always has one key. */
export function labelText(labels: Labels): string {
  // Every request counts with a handful of label sets: remember their text.
  let key = "";
  for (const name in labels) key += `${name}\u0000${labels[name]}\u0000`;
  let text = LABEL_TEXTS.get(key);
  if (text === undefined) {
    text = Object.keys(labels)
      .sort()
      .map((name) => `${name}="${escapeLabel(labels[name]!)}"`)
      .join(",");
    if (LABEL_TEXTS.size >= 10_000) LABEL_TEXTS.clear();
    LABEL_TEXTS.set(key, text);
  }
  return text;
}
const LABEL_TEXTS = new Map<string, string>();

function escapeLabel(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');
}

/**
 * One histogram series' observations since the last flush: a count per
 * bucket, not cumulative. Kept that way through the store too, and made
 * cumulative only when rendered: an observation then adds to one bucket's
 * row rather than to every bucket above it (a flush wrote all 17 rows of
 * each series; a probe with ACME's routes measured 700 -> 300 µs a flush).
 */
interface PendingHistogram {
  name: string;
  labels: string;
  /** The label text of each bucket (le added), made once for the series. */
  bucketLabels: string[];
  buckets: number[];
  sum: number;
  count: number;
}

/** The index of the bucket `seconds` falls in: the first bound it does not exceed, or the last (+Inf). */
function bucketOf(seconds: number): number {
  for (let i = 0; i < DURATION_BUCKETS.length; i++) if (seconds <= DURATION_BUCKETS[i]!) return i;
  return DURATION_BUCKETS.length;
}

/** The le label values in bucket order, +Inf last. */
const BUCKET_BOUNDS = [...DURATION_BUCKETS.map(String), "+Inf"];

/** A process's own counts since its last flush, and its current gauges. */
export class MetricsRegistry {
  private pending = new Map<string, Sample>();
  private readonly histograms = new Map<string, PendingHistogram>();
  private readonly gauges = new Map<string, Sample>();

  count(name: MetricName, labels: Labels = {}, by = 1): void {
    this.add(name, labelText(labels), by);
  }

  /**
   * One observation into a histogram. Kept as one count per bucket (a hot
   * path: every request); expanded into cumulative _bucket series, _sum
   * and _count when taken.
   */
  observe(name: MetricName, labels: Labels, seconds: number): void {
    const text = labelText(labels);
    const key = `${name}{${text}}`;
    let histogram = this.histograms.get(key);
    if (!histogram) {
      const bucketLabels = BUCKET_BOUNDS.map((le) => labelText({ ...labels, le }));
      this.histograms.set(key, (histogram = { name, labels: text, bucketLabels, buckets: new Array(BUCKET_BOUNDS.length).fill(0), sum: 0, count: 0 }));
    }
    histogram.buckets[bucketOf(seconds)]!++;
    histogram.sum += seconds;
    histogram.count++;
  }

  /**
   * Moves the pending observations into the pending samples: a _bucket
   * sample for each bucket that was hit (its own count, see
   * PendingHistogram), _sum and _count. The series stay, emptied: a worker
   * answers the same few routes all its life.
   */
  private expandHistograms(): void {
    for (const histogram of this.histograms.values()) {
      if (histogram.count === 0) continue;
      const buckets = histogram.buckets;
      for (let i = 0; i < buckets.length; i++) {
        if (buckets[i] === 0) continue;
        this.add(`${histogram.name}_bucket`, histogram.bucketLabels[i]!, buckets[i]!);
        buckets[i] = 0;
      }
      this.add(`${histogram.name}_sum`, histogram.labels, histogram.sum);
      this.add(`${histogram.name}_count`, histogram.labels, histogram.count);
      histogram.sum = 0;
      histogram.count = 0;
    }
  }

  setGauge(name: MetricName, labels: Labels, value: number): void {
    const text = labelText(labels);
    this.gauges.set(`${name}{${text}}`, { name, labels: text, value });
  }

  /** The increments since the last call, handed to the store. */
  takePending(): Sample[] {
    this.expandHistograms();
    const taken = [...this.pending.values()];
    this.pending = new Map();
    return taken;
  }

  /** Puts increments back (a flush that failed), so none is lost. */
  restore(samples: Sample[]): void {
    for (const sample of samples) this.add(sample.name, sample.labels, sample.value);
  }

  /** Increments not yet flushed (a scrape adds its own to the stored totals). */
  peekPending(): Sample[] {
    this.expandHistograms();
    return [...this.pending.values()];
  }

  currentGauges(): Sample[] {
    return [...this.gauges.values()];
  }

  private add(series: string, labels: string, by: number): void {
    const key = `${series}{${labels}}`;
    const sample = this.pending.get(key);
    if (sample) sample.value += by;
    else this.pending.set(key, { name: series, labels, value: by });
  }
}

/**
 * The Prometheus text exposition format: each family's HELP and TYPE, then
 * its series (a histogram's _bucket, _sum, _count) grouped by labels so that
 * a histogram's lines stay together, buckets in ascending order.
 */
export function renderPrometheus(samples: Sample[]): string {
  const byFamily = new Map<string, Sample[]>();
  for (const sample of cumulateBuckets(samples)) {
    const family = familyOf(sample.name);
    if (!family) continue;
    const list = byFamily.get(family) ?? [];
    list.push(sample);
    byFamily.set(family, list);
  }
  const lines: string[] = [];
  for (const [name, family] of Object.entries(FAMILIES) as [MetricName, Family][]) {
    lines.push(`# HELP ${name} ${family.help}`, `# TYPE ${name} ${family.type}`);
    const series = (byFamily.get(name) ?? []).sort(seriesOrder);
    for (const sample of series) lines.push(`${sample.name}${sample.labels ? `{${sample.labels}}` : ""} ${formatValue(sample.value)}`);
  }
  return `${lines.join("\n")}\n`;
}

/**
 * Prometheus's buckets from depot's: the registry and the store count each
 * bucket on its own (PendingHistogram), a scrape shows each bound with the
 * observations at or below it, every bound of a series, +Inf last.
 */
function cumulateBuckets(samples: Sample[]): Sample[] {
  const others: Sample[] = [];
  /** Per series (its name and labels without le): each bound's own count. */
  const series = new Map<string, { name: string; labels: string; counts: Map<string, number> }>();
  for (const sample of samples) {
    if (!sample.name.endsWith("_bucket")) {
      others.push(sample);
      continue;
    }
    const le = /le="([^"]*)"/.exec(sample.labels)?.[1] ?? "+Inf";
    const key = `${sample.name}{${withoutLe(sample.labels)}}`;
    let entry = series.get(key);
    if (!entry) series.set(key, (entry = { name: sample.name, labels: sample.labels, counts: new Map() }));
    entry.counts.set(le, (entry.counts.get(le) ?? 0) + sample.value);
  }
  for (const { name, labels, counts } of series.values()) {
    let cumulative = 0;
    for (const le of BUCKET_BOUNDS) {
      cumulative += counts.get(le) ?? 0;
      // le sorts to the same place whatever its value: swapping the value keeps the labels canonical.
      others.push({ name, labels: labels.replace(/le="[^"]*"/, `le="${le}"`), value: cumulative });
    }
  }
  return others;
}

function familyOf(series: string): MetricName | undefined {
  if (series in FAMILIES) return series as MetricName;
  const base = series.replace(/_(bucket|sum|count)$/, "");
  return base in FAMILIES && FAMILIES[base as MetricName].type === "histogram" ? (base as MetricName) : undefined;
}

/** Groups a histogram's series by their labels (without le), buckets by bound, then _sum and _count. */
function seriesOrder(a: Sample, b: Sample): number {
  const groupA = withoutLe(a.labels);
  const groupB = withoutLe(b.labels);
  if (groupA !== groupB) return groupA < groupB ? -1 : 1;
  const rank = (s: Sample) => (s.name.endsWith("_bucket") ? 0 : s.name.endsWith("_sum") ? 1 : s.name.endsWith("_count") ? 2 : 0);
  if (rank(a) !== rank(b)) return rank(a) - rank(b);
  return boundOf(a) - boundOf(b);
}

const withoutLe = (labels: string) => labels.replace(/,?le="[^"]*"/, "");

function boundOf(sample: Sample): number {
  const le = /le="([^"]*)"/.exec(sample.labels)?.[1];
  return le === undefined ? 0 : le === "+Inf" ? Infinity : Number(le);
}

function formatValue(value: number): string {
  if (Number.isInteger(value)) return String(value);
  return Number.isFinite(value) ? String(Number(value.toPrecision(15))) : value > 0 ? "+Inf" : "-Inf";
}
