/**
 * @module
 * How depot grows with its ledger: `bun bench/scale.ts [--sizes 100000,1000000] [--keep /work/scale] [--json]`.
 *
 * For each size it opens (or, the first time, makes) a depot of that many
 * certificates under `--keep` (default /work/scale: `<keep>-<size>`, kept
 * outside the repository so the million-row depot is made once), then runs
 * the compiled dist/depot as a user would and measures:
 *
 * - `depot list` and `depot list --json`: wall and CPU time, rows/s, peak RSS
 *   (the child's maxRSS), output read through a pipe;
 * - `depot show SERIAL` (median of 5);
 * - `depot revoke SERIAL` (median of 3; each rewrites the CRL) and `depot crl`
 *   alone (median of 3), with the CRL's entry count;
 * - `depot start` (2 workers) until both workers are ready (median of 3);
 * - the server's issuance rate: EC P-256 `generate` over the line protocol,
 *   -n 2000 at concurrency 16 (bench/load.ts), every answer checked.
 *
 * The depot is made with bench/fill-ledger.ts: `init`, one real certificate
 * issued, then its copies inserted as ledger rows (own serial, subject and
 * fingerprint; 1 % revoked) in one transaction, and each row's `.crt` file
 * written as a real depot has it. list, show, revoke and the CRL read only
 * the rows, so the copies need not be distinct certificates.
 * Ratios between sizes are printed at the end. See docs/performance.md.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { Database } from "bun:sqlite";
import { certificateFileName } from "../src/ca/serial.ts";
import { makeLargeDepot } from "./fill-ledger.ts";
import { runLoad } from "./load.ts";
import { freePort } from "./_ports.ts";

const ROOT = resolve(import.meta.dir, "..");
const DEPOT = join(ROOT, "dist", "depot");
const { values: flags } = parseArgs({
  options: {
    sizes: { type: "string", default: "100000,1000000" },
    keep: { type: "string", default: "/work/scale" },
    json: { type: "boolean", default: false },
    "load-requests": { type: "string", default: "2000" },
  },
});
const sizes = flags.sizes.split(",").map(Number);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const round = (x: number, digits = 2) => +x.toFixed(digits);

/** Runs dist/depot with `args`, reading its stdout through a pipe; wall, CPU, peak RSS, lines. */
async function timed(args: string[]) {
  const started = performance.now();
  const child = Bun.spawn([DEPOT, ...args], { stdout: "pipe", stderr: "pipe", env: { ...process.env, HOME: "/tmp" } });
  let lines = 0;
  let bytes = 0;
  for await (const chunk of child.stdout) {
    bytes += chunk.length;
    for (let at = chunk.indexOf(10); at !== -1; at = chunk.indexOf(10, at + 1)) lines++;
  }
  const exitCode = await child.exited;
  const seconds = (performance.now() - started) / 1000;
  if (exitCode !== 0) throw new Error(`depot ${args.join(" ")} exited ${exitCode}: ${await new Response(child.stderr).text()}`);
  const usage = child.resourceUsage();
  const cpuSeconds = Number((usage?.cpuTime.user ?? 0n) + (usage?.cpuTime.system ?? 0n)) / 1e6;
  return { seconds, cpuSeconds, peakRssMb: (usage?.maxRSS ?? 0) / 1024 / 1024, lines, bytes };
}

async function depotOf(size: number): Promise<string> {
  const root = `${flags.keep}-${size}`;
  if (existsSync(join(root, "ledger.sqlite3"))) return root;
  const t = performance.now();
  rmSync(root, { recursive: true, force: true });
  await makeLargeDepot(root, { certificates: size, revoked: Math.floor(size / 100) });
  // Each certificate's file too, as a real depot has them: without them the
  // server's start would first restore them all (see docs/performance.md).
  const db = new Database(join(root, "ledger.sqlite3"), { readonly: true });
  const files = join(root, "certificates");
  for (const row of db.query<{ serial: string; pem: string }, []>("SELECT serial, pem FROM certificates WHERE type = 'client'").iterate()) {
    writeFileSync(join(files, certificateFileName(row.serial)), row.pem);
  }
  db.close();
  console.error(`scale: made ${root} (${size} rows) in ${round((performance.now() - t) / 1000, 1)} s`);
  return root;
}

/** Serials of valid bench rows spread over the ledger (for show and revoke). */
function serialsOf(root: string, count: number): string[] {
  const db = new Database(join(root, "ledger.sqlite3"), { readonly: true });
  try {
    const total = db.query<{ n: number }, []>("SELECT max(rowid) AS n FROM certificates").get()!.n;
    const out: string[] = [];
    for (let i = 1; out.length < count && i < 1000; i++) {
      const row = db
        .query<{ serial: string }, [number]>("SELECT serial FROM certificates WHERE rowid >= ? AND status = 'valid' AND type = 'client' LIMIT 1")
        .get(Math.floor((total * i) / (count + 2)) + 7 * i);
      if (row && !out.includes(row.serial)) out.push(row.serial);
    }
    return out;
  } finally {
    db.close();
  }
}

async function startServer(root: string) {
  const port = freePort();
  const pidFile = join(root, "scale.pid");
  const stateFile = `${pidFile}.json`;
  rmSync(stateFile, { force: true });
  const started = performance.now();
  const proc = Bun.spawn(
    [DEPOT, "start", root, "--port", String(port), "--process-count", "2", "--pid-file", pidFile, "--log-file", join(root, "scale.log"), "--log-level", "warn"],
    { stdout: "ignore", stderr: "ignore", stdin: "ignore", env: { ...process.env, HOME: "/tmp" } },
  );
  for (;;) {
    if (performance.now() - started > 60_000) {
      proc.kill("SIGKILL");
      throw new Error("server did not start in 60 s");
    }
    try {
      if (existsSync(stateFile) && JSON.parse(readFileSync(stateFile, "utf8")).workers.length === 2) break;
    } catch {
      // Being written.
    }
    await Bun.sleep(5);
  }
  const readyMs = performance.now() - started;
  return {
    port,
    readyMs,
    async stop() {
      proc.kill("SIGQUIT");
      await proc.exited;
    },
  };
}

async function measure(size: number) {
  const root = await depotOf(size);
  const list = await timed(["list", root]);
  const listJson = await timed(["list", root, "--json"]);
  const [showSerial, ...revokeSerials] = serialsOf(root, 4);
  const shows: number[] = [];
  for (let i = 0; i < 5; i++) shows.push((await timed(["show", root, showSerial!])).seconds);
  const revokes: number[] = [];
  for (const serial of revokeSerials) revokes.push((await timed(["revoke", root, serial])).seconds);
  const crls: number[] = [];
  for (let i = 0; i < 3; i++) crls.push((await timed(["crl", root])).seconds);
  const db = new Database(join(root, "ledger.sqlite3"), { readonly: true });
  const revoked = db.query<{ n: number }, []>("SELECT count(*) AS n FROM certificates WHERE status = 'revoked'").get()!.n;
  db.close();
  const starts: number[] = [];
  for (let i = 0; i < 3; i++) {
    const server = await startServer(root);
    starts.push(server.readyMs);
    await server.stop();
  }
  const server = await startServer(root);
  let load;
  try {
    load = await runLoad({
      host: "127.0.0.1",
      port: server.port,
      requests: Number(flags["load-requests"]),
      concurrency: 16,
      dnTemplate: "CN=scale {i}",
      caPem: readFileSync(join(root, "certificates", "ca.crt"), "utf8"),
    });
  } finally {
    await server.stop();
  }
  const rows = (r: { lines: number }, json: boolean) => (json ? size : r.lines);
  return {
    size,
    list: { seconds: round(list.seconds), cpuSeconds: round(list.cpuSeconds), rowsPerSecond: Math.round(rows(list, false) / list.seconds), peakRssMb: Math.round(list.peakRssMb), lines: list.lines },
    listJson: { seconds: round(listJson.seconds), cpuSeconds: round(listJson.cpuSeconds), rowsPerSecond: Math.round(size / listJson.seconds), peakRssMb: Math.round(listJson.peakRssMb), mb: round(listJson.bytes / 1e6, 1) },
    showMs: Math.round(median(shows) * 1000),
    revokeMs: Math.round(median(revokes) * 1000),
    crlMs: Math.round(median(crls) * 1000),
    crlEntries: revoked,
    startToReadyMs: Math.round(median(starts)),
    issuance: { perSecond: Math.round(load.requestsPerSecond), p99Ms: round(load.latencyMs.p99, 1), errors: load.errors, duplicateSerials: load.duplicateSerials },
  };
}

const results = [];
for (const size of sizes) results.push(await measure(size));
const load = loadavg().map((x) => x.toFixed(2)).join(" ");
if (flags.json) console.log(JSON.stringify({ loadAverage: load, results }));
else {
  console.log(`load average at the end: ${load}`);
  console.log("| certificates | list s (rows/s, CPU s, peak RSS) | list --json s (rows/s, peak RSS) | show ms | revoke ms (CRL entries) | crl ms | start→ready ms | issuance/s (p99, errors) |");
  console.log("|---|---|---|---|---|---|---|---|");
  for (const r of results) {
    console.log(
      `| ${r.size.toLocaleString("en")} | ${r.list.seconds} (${r.list.rowsPerSecond.toLocaleString("en")}, ${r.list.cpuSeconds}, ${r.list.peakRssMb} MB) | ${r.listJson.seconds} (${r.listJson.rowsPerSecond.toLocaleString("en")}, ${r.listJson.peakRssMb} MB) | ${r.showMs} | ${r.revokeMs} (${r.crlEntries.toLocaleString("en")}) | ${r.crlMs} | ${r.startToReadyMs} | ${r.issuance.perSecond} (${r.issuance.p99Ms} ms, ${r.issuance.errors}) |`,
    );
  }
  if (results.length >= 2) {
    const [a, b] = [results[0]!, results.at(-1)!];
    const g = (x: number, y: number) => `${round(y / x, 2)}×`;
    console.log(
      `growth ${a.size}→${b.size} (${round(b.size / a.size, 1)}× rows): list ${g(a.list.seconds, b.list.seconds)} time, ${g(a.list.peakRssMb, b.list.peakRssMb)} RSS; list --json ${g(a.listJson.seconds, b.listJson.seconds)} time, ${g(a.listJson.peakRssMb, b.listJson.peakRssMb)} RSS; show ${g(a.showMs, b.showMs)}; revoke ${g(a.revokeMs, b.revokeMs)}; crl ${g(a.crlMs, b.crlMs)}; start ${g(a.startToReadyMs, b.startToReadyMs)}; issuance ${g(a.issuance.perSecond, b.issuance.perSecond)}`,
    );
  }
}
