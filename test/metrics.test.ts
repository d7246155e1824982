/**
 * The metrics: Prometheus text that the real `promtool check metrics`
 * accepts, totals that add up over several workers' reporters sharing one
 * store, and counts that survive a worker's replacement (monotonic).
 */
import { beforeAll, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { join } from "node:path";
import { labelText, MetricsRegistry, renderPrometheus } from "../src/server/metrics/registry.ts";
import { MetricsReporter } from "../src/server/metrics/reporter.ts";
import { MetricsStore } from "../src/server/metrics/store.ts";
import { tempDir } from "./helpers.ts";
import { runAsync } from "./ocsp-helpers.ts";
import { ensureTool } from "./tools.ts";

beforeAll(() => ensureTool("promtool", "prometheus"));

/** promtool reads the exposition on stdin; it prints problems and exits non-zero on errors. */
export async function promtoolCheck(text: string): Promise<{ exitCode: number; output: string }> {
  const result = await runAsync(["promtool", "check", "metrics"], text);
  return { exitCode: result.exitCode, output: result.stdout + result.stderr };
}

/** The value of one series in Prometheus text, or undefined. */
export function valueOf(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

test("a full exposition (every family, histograms, escaped labels) passes promtool check metrics", async () => {
  const registry = new MetricsRegistry();
  registry.count("depot_requests_total", { listener: "http", route: "/ocsp", outcome: "ok" }, 3);
  registry.count("depot_requests_total", { listener: "line", route: "generate", outcome: "ok" });
  registry.count("depot_certificates_issued_total", { profile: "client", key_type: "ec-p256" }, 2);
  registry.count("depot_revocations_total", { reason: 'odd "quoted"\\name' });
  registry.count("depot_ocsp_responses_total", { status: "good" }, 3);
  registry.count("depot_worker_starts_total");
  for (const seconds of [0.0001, 0.003, 0.2, 20]) registry.observe("depot_request_duration_seconds", { listener: "http", route: "/ocsp" }, seconds);
  registry.observe("depot_request_duration_seconds", { listener: "line", route: "generate" }, 0.01);
  const text = renderPrometheus([
    ...registry.takePending(),
    { name: "depot_key_pool_keys", labels: labelText({ key_type: "ec-p256" }), value: 32 },
    { name: "depot_workers", labels: "", value: 2 },
    { name: "depot_crl_number", labels: "", value: 7 },
    { name: "depot_crl_age_seconds", labels: "", value: 12.5 },
    { name: "depot_crl_expiry_seconds", labels: "", value: 604_000 },
  ]);
  const checked = await promtoolCheck(text);
  expect(checked.output).toBe("");
  expect(checked.exitCode).toBe(0);
  expect(valueOf(text, 'depot_request_duration_seconds_bucket{le="0.0025",listener="http",route="/ocsp"}')).toBe(1);
  expect(valueOf(text, 'depot_request_duration_seconds_bucket{le="10",listener="http",route="/ocsp"}')).toBe(3);
  expect(valueOf(text, 'depot_request_duration_seconds_bucket{le="+Inf",listener="http",route="/ocsp"}')).toBe(4);
  expect(valueOf(text, 'depot_request_duration_seconds_count{listener="http",route="/ocsp"}')).toBe(4);
  expect(text).toContain('depot_revocations_total{reason="odd \\"quoted\\"\\\\name"} 1');
});

test("promtool catches a broken exposition (so the check above can fail)", async () => {
  const unparsable = `${renderPrometheus([])}depot_requests_total{route="/x"} one\n`;
  expect((await promtoolCheck(unparsable)).exitCode).not.toBe(0);
  const unlinted = "# HELP depot_requests A counter.\n# TYPE depot_requests counter\ndepot_requests 1\n";
  expect((await promtoolCheck(unlinted)).output).toContain('should have "_total" suffix');
});

test("two workers' reporters on one store: a scrape from either shows the sum; a replaced worker's counts stay", async () => {
  const storePath = join(tempDir("depot-metrics-"), "metrics.sqlite");
  const first = new MetricsReporter({ storePath, worker: "101", gauges: () => [{ name: "depot_key_pool_keys", labels: { key_type: "ec-p256" }, value: 30 }] });
  const second = new MetricsReporter({ storePath, worker: "102", gauges: () => [{ name: "depot_key_pool_keys", labels: { key_type: "ec-p256" }, value: 2 }] });
  first.start();
  second.start();
  const issued = { profile: "client", key_type: "ec-p256" };
  for (let i = 0; i < 7; i++) first.registry.count("depot_certificates_issued_total", issued);
  for (let i = 0; i < 5; i++) second.registry.count("depot_certificates_issued_total", issued);
  first.flush();
  const series = 'depot_certificates_issued_total{key_type="ec-p256",profile="client"}';
  // The second has not flushed yet: a scrape it answers flushes first, and
  // no later scrape (by either worker) shows less.
  expect(valueOf(second.scrape(), series)).toBe(12);
  const text = first.scrape();
  expect(valueOf(text, series)).toBe(12);
  expect(valueOf(text, "depot_worker_starts_total")).toBe(2);
  expect(valueOf(text, 'depot_key_pool_keys{key_type="ec-p256"}')).toBe(32);
  expect(valueOf(text, "depot_workers")).toBe(2);

  // The second worker is replaced: its counts stay in the totals, its gauges leave.
  second.stop();
  const third = new MetricsReporter({ storePath, worker: "103" });
  third.start();
  third.registry.count("depot_certificates_issued_total", issued);
  third.flush();
  const after = first.scrape();
  expect(valueOf(after, series)).toBe(13);
  expect(valueOf(after, "depot_worker_starts_total")).toBe(3);
  expect(valueOf(after, 'depot_key_pool_keys{key_type="ec-p256"}')).toBe(30);
  expect((await promtoolCheck(after)).exitCode).toBe(0);
  first.stop();
  third.stop();
});

test("a flush that meets a locked store keeps its increments for the next one", () => {
  const storePath = join(tempDir("depot-metrics-busy-"), "metrics.sqlite");
  const errors: unknown[] = [];
  const reporter = new MetricsReporter({ storePath, worker: "201", onError: (e) => errors.push(e) });
  const blocker = new MetricsStore(storePath);
  const lock = (blocker as unknown as { db: import("bun:sqlite").Database }).db;
  lock.run("BEGIN IMMEDIATE");
  reporter.registry.count("depot_revocations_total", { reason: "keyCompromise" }, 4);
  const started = performance.now();
  reporter.flush();
  expect(errors.length).toBe(1);
  expect(performance.now() - started).toBeLessThan(500); // a worker's event loop must not wait on it
  lock.run("ROLLBACK");
  reporter.flush();
  expect(valueOf(reporter.scrape(), 'depot_revocations_total{reason="keyCompromise"}')).toBe(4);
  reporter.stop();
  blocker.close();
});

test("a histogram stores only the buckets it hit, and a scrape over two workers shows them cumulative", () => {
  const registry = new MetricsRegistry();
  const labels = { listener: "https", route: "/acme/new-order" };
  for (let i = 0; i < 10; i++) registry.observe("depot_request_duration_seconds", labels, 0.003);
  registry.observe("depot_request_duration_seconds", labels, 0.2);
  // One row a bucket hit, not one for every bound above it: this is what a flush writes.
  const taken = registry.takePending();
  expect(taken.map((s) => `${s.name}{${s.labels}} ${s.value}`).sort()).toEqual([
    'depot_request_duration_seconds_bucket{le="0.005",listener="https",route="/acme/new-order"} 10',
    'depot_request_duration_seconds_bucket{le="0.25",listener="https",route="/acme/new-order"} 1',
    'depot_request_duration_seconds_count{listener="https",route="/acme/new-order"} 11',
    expect.stringMatching(/^depot_request_duration_seconds_sum\{listener="https",route="\/acme\/new-order"\} 0\.23/),
  ]);
  expect(registry.takePending()).toEqual([]);

  const storePath = join(tempDir("depot-metrics-histogram-"), "metrics.sqlite");
  const first = new MetricsReporter({ storePath, worker: "301" });
  const second = new MetricsReporter({ storePath, worker: "302" });
  first.registry.observe("depot_request_duration_seconds", labels, 0.003);
  first.registry.observe("depot_request_duration_seconds", labels, 30);
  second.registry.observe("depot_request_duration_seconds", labels, 0.0001);
  second.registry.observe("depot_request_duration_seconds", labels, 0.004);
  first.flush();
  const text = second.scrape();
  const bucket = (le: string) => valueOf(text, `depot_request_duration_seconds_bucket{le="${le}",listener="https",route="/acme/new-order"}`);
  expect([bucket("0.0005"), bucket("0.001"), bucket("0.0025"), bucket("0.005"), bucket("10"), bucket("+Inf")]).toEqual([1, 1, 1, 3, 3, 4]);
  expect(valueOf(text, 'depot_request_duration_seconds_count{listener="https",route="/acme/new-order"}')).toBe(4);
  first.stop();
  second.stop();
});

test("a metrics file from before per-bucket counts starts its histograms again and keeps its counters", async () => {
  const storePath = join(tempDir("depot-metrics-upgrade-"), "metrics.sqlite");
  const old = new Database(storePath, { create: true });
  old.run("CREATE TABLE counters (name TEXT NOT NULL, labels TEXT NOT NULL, value REAL NOT NULL, PRIMARY KEY (name, labels)) STRICT, WITHOUT ROWID");
  const row = old.query("INSERT INTO counters VALUES (?, ?, ?)");
  row.run("depot_requests_total", 'listener="line",outcome="ok",route="generate"', 40);
  // Cumulative, as the files of earlier releases held them.
  row.run("depot_request_duration_seconds_bucket", 'le="0.001",listener="line",route="generate"', 30);
  row.run("depot_request_duration_seconds_bucket", 'le="0.0025",listener="line",route="generate"', 40);
  row.run("depot_request_duration_seconds_count", 'listener="line",route="generate"', 40);
  old.close();

  const reporter = new MetricsReporter({ storePath, worker: "401" });
  reporter.registry.observe("depot_request_duration_seconds", { listener: "line", route: "generate" }, 0.002);
  const text = reporter.scrape();
  expect(valueOf(text, 'depot_requests_total{listener="line",outcome="ok",route="generate"}')).toBe(40);
  expect(valueOf(text, 'depot_request_duration_seconds_bucket{le="0.001",listener="line",route="generate"}')).toBe(0);
  expect(valueOf(text, 'depot_request_duration_seconds_bucket{le="0.0025",listener="line",route="generate"}')).toBe(1);
  expect(valueOf(text, 'depot_request_duration_seconds_count{listener="line",route="generate"}')).toBe(1);
  expect((await promtoolCheck(text)).exitCode).toBe(0);
  reporter.stop();
  // Opened again, the file is not upgraded twice.
  const again = new MetricsReporter({ storePath, worker: "402" });
  expect(valueOf(again.scrape(), 'depot_request_duration_seconds_count{listener="line",route="generate"}')).toBe(1);
  again.stop();
});

test("the worker's other once-a-second job runs after each timed flush, sharing its wake-up, and stops with the reporter", async () => {
  const storePath = join(tempDir("depot-metrics-"), "metrics.sqlite");
  let ticks = 0;
  const reporter = new MetricsReporter({ storePath, worker: "501", eachSecond: () => ticks++ });
  reporter.start();
  expect(ticks).toBe(0); // start() flushes at once, but that flush is not a tick
  const deadline = performance.now() + 5000;
  while (ticks < 2 && performance.now() < deadline) await Bun.sleep(50);
  expect(ticks).toBe(2);
  reporter.stop();
  await Bun.sleep(1200);
  expect(ticks).toBe(2);
});
