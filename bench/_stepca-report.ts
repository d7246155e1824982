/**
 * @module
 * The shape of bench/stepca.ts's JSON summary and its tables (markdown),
 * shared by stepca.ts run alone and by bench/run.ts, which prints the same
 * tables beside cfssl's. Each cell is the median over the rounds with the
 * range in brackets; a ratio is the median of the per-round ratios.
 */

import { median } from "./_stats.ts";

/** One measured load of one server in one round. */
export interface Measure {
  /** Good (verified) answers per second of wall time. */
  perSecond: number;
  /** The server's CPU (user + system, all its processes) per good answer, ms. */
  serverCpuMs: number;
  /** This bench's (or lego's) CPU per good answer, ms: the client's, reported apart. */
  clientCpuMs: number;
  p50Ms: number;
  p99Ms: number;
  good: number;
  errors: number;
}

/** A line of a table: per round, a measure for each of the two sides compared. */
export interface Comparison {
  work: string;
  /** Names of the two sides: `step-ca`/`depot`, `line protocol`/`HTTPS API`. */
  sides: [string, string];
  rounds: [Measure, Measure][];
}

export interface FootprintReading {
  after: string;
  /** Total PSS of each server's processes, MB (depot: supervisor, workers, upkeep). */
  pssMb: Record<string, number>;
}

export interface StepCaSummary {
  stepCaVersion: string;
  options: Record<string, unknown>;
  sign: Comparison[];
  generate: Comparison[];
  acme: Comparison[];
  footprint: FootprintReading[];
  errors: number;
  errorSamples: string[];
}


function cell(values: number[], digits: number): string {
  if (values.length === 0) return "-";
  const low = Math.min(...values).toFixed(digits);
  const high = Math.max(...values).toFixed(digits);
  return `${median(values).toFixed(digits)} (${low}-${high})`;
}

const metrics: { label: string; pick: (m: Measure) => number; digits: number }[] = [
  { label: "good answers/s", pick: (m) => m.perSecond, digits: 1 },
  { label: "server CPU ms/cert", pick: (m) => m.serverCpuMs, digits: 2 },
  { label: "p50 ms", pick: (m) => m.p50Ms, digits: 1 },
  { label: "p99 ms", pick: (m) => m.p99Ms, digits: 1 },
  { label: "client CPU ms/cert", pick: (m) => m.clientCpuMs, digits: 2 },
];

/** A markdown table: work | side A | side B | ratio B/A, one line per metric of each comparison. */
export function comparisonTable(title: string, comparisons: Comparison[], perWhat = "cert"): string {
  if (comparisons.length === 0) return "";
  const [a, b] = comparisons[0]!.sides;
  const lines = [`| ${title} | ${a} | ${b} | ratio ${b}/${a} |`, "| --- | --- | --- | --- |"];
  for (const comparison of comparisons) {
    for (const metric of metrics) {
      const left = comparison.rounds.map(([x]) => metric.pick(x));
      const right = comparison.rounds.map(([, y]) => metric.pick(y));
      const ratios = comparison.rounds.map(([x, y]) => metric.pick(y) / metric.pick(x)).filter(Number.isFinite);
      lines.push(`| ${comparison.work}: ${metric.label.replace("cert", perWhat)} | ${cell(left, metric.digits)} | ${cell(right, metric.digits)} | ${ratios.length ? median(ratios).toFixed(2) : "-"} |`);
    }
    const errors = comparison.rounds.reduce((n, [x, y]) => [n[0]! + x.errors, n[1]! + y.errors], [0, 0]);
    const good = comparison.rounds.reduce((n, [x, y]) => [n[0]! + x.good, n[1]! + y.good], [0, 0]);
    lines.push(`| ${comparison.work}: verified / failed | ${good[0]} / ${errors[0]} | ${good[1]} / ${errors[1]} | |`);
  }
  return lines.join("\n");
}

export function footprintTable(readings: FootprintReading[]): string {
  if (readings.length === 0) return "";
  const servers = Object.keys(readings[0]!.pssMb);
  const lines = [`| total PSS (MB) right after | ${servers.join(" | ")} |`, `| --- |${servers.map(() => " --- ").join("|")}|`];
  for (const r of readings) lines.push(`| ${r.after} | ${servers.map((s) => r.pssMb[s]?.toFixed(1) ?? "-").join(" | ")} |`);
  return lines.join("\n");
}

/** Every table of a summary, as stepca.ts prints them alone and run.ts in its report. */
export function stepCaReport(summary: StepCaSummary): string {
  return [
    `depot against ${summary.stepCaVersion}, same run, alternating rounds, median (range) over rounds; ratio = median of per-round ratios`,
    comparisonTable("HTTPS CSR signing, EC P-256, keep-alive", summary.sign),
    comparisonTable("issuance with a server-made EC P-256 key (depot only)", summary.generate),
    comparisonTable("ACME, lego run (http-01), one process per order", summary.acme, "order"),
    summary.acme.length ? "(server CPU is every thread's run time from /proc/PID/task/TID/schedstat; an order's latency is lego's whole run)" : "",
    footprintTable(summary.footprint),
    `failed or unverified answers: ${summary.errors}`,
    ...summary.errorSamples.map((s) => `  sample error: ${s}`),
  ]
    .filter(Boolean)
    .join("\n\n");
}
