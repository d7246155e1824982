/**
 * Two depot hosts on one PostgreSQL ledger, as real `dist/depot start`
 * processes (separate folders holding the same CA, different ports, two
 * workers each) on a real PostgreSQL server: under load together no serial
 * is issued twice and every answered certificate has exactly one row; a
 * revocation through one host reaches the other's CRL; CRL numbers only
 * grow; killed workers and a stopped PostgreSQL lose or invent nothing.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { X509Certificate } from "node:crypto";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { depot, openssl, pemBlocks, tempDir } from "./helpers.ts";
import { freePort, request, waitFor, workerPids } from "./server-helpers.ts";
import { type PgDatabase, pgDatabase, pgServer } from "./pg-server.ts";
import { type PgHost, startPgHost, twoHostFolders } from "./pg-hosts.ts";
import { ensureTool } from "./tools.ts";

const TIMEOUT = 300_000;
ensureTool("ss", "iproute2");

interface Host extends PgHost {
  path: string;
  /** The plain-HTTP listener: OCSP, CRL. */
  httpPort: number;
}

const running: Host[] = [];
afterEach(async () => {
  for (const host of running.splice(0)) await host.kill();
});

async function startHost(path: string, db: PgDatabase, extra: string[] = [], workers = 2): Promise<Host> {
  const httpPort = freePort();
  const host = await startPgHost(path, db, ["--process-count", String(workers), "--allow-revoke", "--http-port", String(httpPort), ...extra]);
  const started: Host = { ...host, path, httpPort };
  running.push(started);
  return started;
}

interface Outcome {
  certificates: string[];
  errors: string[];
}

/** `clients` loops per host sending `generate` until `until()` says stop; collects certificates and ERROR lines. */
async function load(hosts: Host[], clients: number, until: () => boolean): Promise<Outcome> {
  const outcome: Outcome = { certificates: [], errors: [] };
  let n = 0;
  const loop = async (host: Host) => {
    while (!until()) {
      let answer: string;
      try {
        answer = await request(host.port, `generate /CN=load ${n++}`, { timeoutMs: 30_000 });
      } catch (error) {
        outcome.errors.push(`connection: ${(error as Error).message}`);
        await Bun.sleep(20);
        continue;
      }
      const blocks = pemBlocks(answer).filter((b) => b.includes("CERTIFICATE"));
      if (blocks.length === 1) outcome.certificates.push(blocks[0]!);
      else outcome.errors.push(answer.trim() || "(empty answer)");
    }
  };
  await Promise.all(hosts.flatMap((host) => Array.from({ length: clients }, () => loop(host))));
  return outcome;
}

/** The serial as the ledger keeps it (lower-case hex, no leading zeros), read in-process: hundreds of openssl runs would dominate. */
function serialOf(pem: string): string {
  return new X509Certificate(pem).serialNumber.replace(/^0+/, "").toLowerCase();
}

/** Every certificate verifies against the CA (one openssl call for all). */
function verifyAll(caPath: string, pems: string[]): void {
  const dir = tempDir("depot-verify-");
  for (const [i, pem] of pems.entries()) writeFileSync(join(dir, `${i}.pem`), pem);
  const files = pems.map((_, i) => join(dir, `${i}.pem`));
  for (let i = 0; i < files.length; i += 200) {
    const result = openssl(["verify", "-CAfile", join(caPath, "certificates", "ca.crt"), ...files.slice(i, i + 200)]);
    expect(result.stderr).toBe("");
    expect(result.stdout.trim().split("\n").filter((l) => !l.endsWith(": OK"))).toEqual([]);
  }
}

async function ledgerRows(db: PgDatabase): Promise<Map<string, { fingerprint: string; host: string }>> {
  const rows = await db.query<{ serial: string; fingerprint: string; host: string }>("SELECT serial, fingerprint, host FROM certificates WHERE type != 'ca'");
  return new Map(rows.map((r) => [r.serial.replace(/^0+/, "").toLowerCase(), r]));
}

function fingerprintOf(pem: string): string {
  return new X509Certificate(pem).fingerprint256.replaceAll(":", "").toLowerCase();
}

/** Every answered certificate has its row, with the same fingerprint; no serial twice. */
async function expectAllRecorded(db: PgDatabase, pems: string[]): Promise<Map<string, { fingerprint: string; host: string }>> {
  const serials = pems.map(serialOf);
  expect(new Set(serials).size).toBe(serials.length);
  const rows = await ledgerRows(db);
  const missing = serials.filter((s) => !rows.has(s));
  expect(missing).toEqual([]);
  for (const [i, pem] of pems.entries()) expect(rows.get(serials[i]!)!.fingerprint).toBe(fingerprintOf(pem));
  return rows;
}

function crlOf(path: string): { number: number; serials: string[] } {
  const text = openssl(["crl", "-in", join(path, "crl.pem"), "-noout", "-text"]).stdout;
  return {
    number: Number.parseInt(/X509v3 CRL Number: \n\s*(\d+)/.exec(text)?.[1] ?? "-1", 10),
    serials: [...text.matchAll(/Serial Number: ([0-9A-F]+)/g)].map((m) => m[1]!.replace(/^0+/, "").toLowerCase()),
  };
}

/** The serials of a host's certificate files (decimal names), as the ledger writes them. */
function fileSerials(path: string): string[] {
  return readdirSync(join(path, "certificates"))
    .filter((name) => /^\d+\.crt$/.test(name))
    .map((name) => BigInt(name.slice(0, -4)).toString(16))
    .sort();
}

/** Whether a host's files are exactly the rows it issued. */
function filesMatchRows(path: string, rows: Map<string, { host: string }>): boolean {
  const own = [...rows].filter(([, row]) => row.host.endsWith(`:${path}`)).map(([serial]) => serial).sort();
  return JSON.stringify(fileSerials(path)) === JSON.stringify(own);
}

/** A certificate's status from a host's OCSP responder, as the real `openssl ocsp` reads it. */
function ocspStatus(host: Host, caPath: string, pem: string): string {
  const dir = tempDir("depot-ocsp-");
  writeFileSync(join(dir, "leaf.pem"), pem);
  const ca = join(caPath, "certificates", "ca.crt");
  const result = openssl(["ocsp", "-issuer", ca, "-cert", join(dir, "leaf.pem"), "-url", `http://127.0.0.1:${host.httpPort}/ocsp`, "-CAfile", ca]);
  return /: (good|revoked|unknown)\b/.exec(result.stdout)?.[1] ?? `no status: ${result.stdout} ${result.stderr}`;
}

/** Workers that are ready: those holding a listening socket on the port (they listen, then say ready). */
function listeningPids(port: number): number[] {
  const out = Bun.spawnSync(["ss", "-Hltnp", `sport = :${port}`]).stdout.toString();
  return [...new Set([...out.matchAll(/pid=(\d+)/g)].map((m) => Number(m[1])))];
}

describe("two hosts, one PostgreSQL ledger", () => {
  test("loaded at once: every answer verifies, no serial twice, one row per answer, files only on the issuing host; a revoke on A reaches B's CRL; CRL numbers only grow", async () => {
    const db = await pgDatabase();
    const [pathA, pathB] = twoHostFolders(db);
    const [a, b] = [await startHost(pathA, db), await startHost(pathB, db)];
    let sent = 0;
    const outcome = await load([a, b], 4, () => sent++ >= 400);
    expect(outcome.errors).toEqual([]);
    expect(outcome.certificates.length).toBeGreaterThanOrEqual(390);
    verifyAll(pathA, outcome.certificates);
    const rows = await expectAllRecorded(db, outcome.certificates);
    expect(rows.size).toBe(outcome.certificates.length); // exactly one row per answer

    // Each host wrote the files of what it issued, and only those.
    await Bun.sleep(200); // deferred files (at most 50 ms)
    for (const path of [pathA, pathB]) {
      const files = readdirSync(join(path, "certificates")).filter((f) => f !== "ca.crt");
      const own = [...rows.values()].filter((r) => r.host.endsWith(`:${path}`));
      expect(own.length).toBeGreaterThan(0);
      expect(files.length).toBe(own.length);
    }
    // `depot list` on either host sees all hosts' certificates.
    const listed = depot(["list", pathB, "--json"], { env: db.env });
    expect(listed.stderr).toBe("");
    expect(JSON.parse(listed.stdout).filter((r: { type: string }) => r.type !== "ca")).toHaveLength(rows.size);

    // A revoke through A: B's OCSP says so within 1 s (checked first, so B has a cached "good" to drop);
    // each host's upkeep publishes its crl.pem, B's within 5 s.
    const numbers = { a: [crlOf(pathA).number], b: [crlOf(pathB).number] };
    const victim = serialOf(outcome.certificates[7]!);
    expect(ocspStatus(b, pathA, outcome.certificates[7]!)).toBe("good");
    // The reply spells the serial as the ledger keeps it (an even number of digits); serialOf drops leading zeros.
    expect(await request(a.port, `revoke ${victim} keyCompromise`)).toMatch(new RegExp(`^OK revoked 0?${victim.toUpperCase()}\n$`));
    const revokedAt = performance.now();
    await waitFor(() => ocspStatus(b, pathA, outcome.certificates[7]!) === "revoked", 1_000, "B's OCSP did not say revoked within 1 s");
    const ocspLag = performance.now() - revokedAt;
    await waitFor(() => crlOf(pathB).serials.includes(victim), 5_000, () => `B's CRL does not list ${victim}; B's log:\n${b.log()}`);
    const lag = performance.now() - revokedAt;
    await waitFor(() => crlOf(pathA).serials.includes(victim), 5_000, "A's CRL does not list what A revoked");
    expect(crlOf(pathA).serials).toEqual([victim]);
    numbers.a.push(crlOf(pathA).number);
    numbers.b.push(crlOf(pathB).number);
    expect(await request(b.port, "crl")).toBe(readFileSync(join(pathB, "crl.pem"), "utf8"));
    // And again the other way, B to A.
    const second = serialOf(outcome.certificates[8]!);
    // The reply spells the serial as the ledger keeps it (an even number of digits); serialOf drops leading zeros.
    expect(await request(b.port, `revoke ${second}`)).toMatch(new RegExp(`^OK revoked 0?${second.toUpperCase()}\n$`));
    await waitFor(() => crlOf(pathB).serials.includes(second), 5_000, "B's CRL does not list what B revoked");
    numbers.b.push(crlOf(pathB).number);
    await waitFor(() => crlOf(pathA).serials.includes(second), 5_000, "A's CRL does not list the serial revoked on B");
    numbers.a.push(crlOf(pathA).number);
    for (const series of [numbers.a, numbers.b]) for (let i = 1; i < series.length; i++) expect(series[i]!).toBeGreaterThan(series[i - 1]!);
    process.stderr.write(`revoke on A to B's OCSP: ${ocspLag.toFixed(0)} ms, to B's crl.pem: ${lag.toFixed(0)} ms\n`);

    // One audit chain for both hosts: an issuance record per certificate and one per revocation, read through B.
    const audit = depot(["audit", "verify", pathB], { env: db.env });
    expect(audit.stderr).toBe("");
    expect(audit.stdout).toMatch(new RegExp(`^audit chain intact: ${rows.size + 2} record\\(s\\), head [0-9a-f]{64}\n$`));
    // A token made on A is known to B.
    const created = depot(["token", "create", pathA, "--name", "enrol", "--uses", "1", "--allow", "*.example.com"], { env: db.env });
    expect(created.stderr).toStartWith("depot: token 'enrol' created");
    expect(depot(["token", "list", pathB], { env: db.env }).stdout).toContain("enrol");
  }, TIMEOUT);

  test("SIGKILL A's workers every 0.5 s for 20 s under load on both: no serial twice, no answer without its row", async () => {
    const db = await pgDatabase();
    const [pathA, pathB] = twoHostFolders(db);
    const [a, b] = [await startHost(pathA, db), await startHost(pathB, db)];
    const end = performance.now() + 20_000;
    let kills = 0;
    const killer = (async () => {
      while (performance.now() < end) {
        await Bun.sleep(500);
        for (const pid of listeningPids(a.port)) {
          try {
            process.kill(pid, "SIGKILL");
            kills++;
          } catch {
            // Gone already.
          }
        }
      }
    })();
    const outcome = await load([a, b], 3, () => performance.now() >= end);
    await killer;
    expect(kills).toBeGreaterThan(20);
    expect(outcome.certificates.length).toBeGreaterThan(100);
    verifyAll(pathA, outcome.certificates);
    const rows = await expectAllRecorded(db, outcome.certificates);
    // After each crash A's upkeep restored the files its dead workers owed: its own, never B's.
    await waitFor(() => filesMatchRows(pathA, rows) && filesMatchRows(pathB, rows), 10_000, () => `certificate files differ from each host's rows: A has ${fileSerials(pathA).length}, B ${fileSerials(pathB).length}`);
    process.stderr.write(`killed ${kills} ready workers of A in 20 s; ${outcome.certificates.length} certificates answered, ${outcome.errors.length} requests lost\n`);
    // What went wrong is a lost connection (a killed worker), never a wrong answer.
    const odd = outcome.errors.filter((e) => !e.startsWith("connection:") && e !== "(empty answer)" && e !== "ERROR busy");
    expect(odd).toEqual([]);
    // A stays up and serves again.
    await waitFor(() => workerPids(a.process.pid).length === 2, 15_000, "A's workers were not replaced");
    const after = await load([a], 1, (() => { let i = 0; return () => i++ >= 3; })());
    expect(after.certificates.length).toBeGreaterThanOrEqual(1);
  }, TIMEOUT);

  test("PostgreSQL stopped under load: ERROR busy meanwhile, nothing answered unrecorded, issuance resumes by itself", async () => {
    const db = await pgDatabase();
    const [pathA, pathB] = twoHostFolders(db);
    const [a, b] = [await startHost(pathA, db), await startHost(pathB, db)];
    const pg = pgServer();
    let phase: "before" | "down" | "after" = "before";
    let stop = false;
    const loading = load([a, b], 3, () => stop);
    await Bun.sleep(1500);
    phase = "down";
    pg.stop();
    const downAt = performance.now();
    await Bun.sleep(1000);
    // Workers that crash meanwhile are replaced: a new worker starts without the ledger and waits for it.
    // One at a time, so A always has a listener: only the requests inside a killed worker are lost.
    const killed = listeningPids(a.port);
    for (const pid of killed) {
      process.kill(pid, "SIGKILL");
      await waitFor(() => listeningPids(a.port).filter((p) => !killed.includes(p)).length >= 1 + killed.indexOf(pid), 10_000, () => `A's worker was not replaced while PostgreSQL was down; log:\n${a.log()}`);
    }
    await Bun.sleep(Math.max(0, 4000 - (performance.now() - downAt)));
    pg.start();
    const upAt = performance.now();
    phase = "after";
    // Resumes without a restart: a certificate from each host within a few seconds.
    const deadline = performance.now() + 15_000;
    const resumed = new Set<number>();
    while (resumed.size < 2 && performance.now() < deadline) {
      for (const host of [a, b]) {
        const answer = await request(host.port, "generate /CN=after the outage").catch(() => "");
        if (answer.includes("BEGIN CERTIFICATE")) resumed.add(host.port);
      }
      if (resumed.size < 2) await Bun.sleep(100);
    }
    const resumedMs = performance.now() - upAt;
    stop = true;
    const outcome = await loading;
    expect(phase).toBe("after");
    expect([...resumed].sort()).toEqual([a.port, b.port].sort());
    expect(outcome.errors.length).toBeGreaterThan(0);
    // Besides the clear error, only the connections of the two workers killed on purpose may be lost.
    expect([...new Set(outcome.errors.filter((e) => !e.startsWith("connection:") && e !== "(empty answer)"))]).toEqual(["ERROR busy: the ledger is busy or out of reach; nothing was issued or changed, retry in 5 s"]);
    const lost = outcome.errors.filter((e) => e.startsWith("connection:") || e === "(empty answer)");
    expect(lost.length).toBeLessThanOrEqual(killed.length * 10); // --max-connection-queue 10 per worker
    verifyAll(pathA, outcome.certificates);
    await expectAllRecorded(db, outcome.certificates);
    process.stderr.write(`PostgreSQL down ${((upAt - downAt) / 1000).toFixed(1)} s; ${outcome.errors.length} requests answered ERROR busy; both hosts issuing again ${resumedMs.toFixed(0)} ms after it was back\n`);
  }, TIMEOUT);

  test("the default pool keeps 2 hosts x 8 workers under PostgreSQL's default 100 connections", async () => {
    const db = await pgDatabase();
    const [pathA, pathB] = twoHostFolders(db);
    const [a, b] = [await startHost(pathA, db, [], 8), await startHost(pathB, db, [], 8)];
    let peak = 0;
    let stop = false;
    const sampling = (async () => {
      while (!stop) {
        const [row] = await db.query<{ n: string }>("SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = 'depot'");
        peak = Math.max(peak, Number(row!.n));
        await Bun.sleep(50);
      }
    })();
    let sent = 0;
    const outcome = await load([a, b], 24, () => sent++ >= 1500);
    stop = true;
    await sampling;
    // A worker holding 10 unanswered connections says busy (the kernel spreads them unevenly); nothing else goes wrong.
    expect(outcome.errors.filter((e) => e !== "ERROR busy")).toEqual([]);
    await expectAllRecorded(db, outcome.certificates);
    process.stderr.write(`2 hosts x 8 workers, 48 requests in flight: at most ${peak} ledger connections\n`);
    expect(peak).toBeGreaterThan(16);
    // Per host: 8 workers and the upkeep process, each with the default pool of 4.
    expect(peak).toBeLessThanOrEqual(2 * (8 + 1) * 4);
  }, TIMEOUT);
});
