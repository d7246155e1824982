/**
 * Several processes issuing from one depot at the same moment: every
 * certificate gets its own serial, its own ledger row and its own file.
 */
import { Database } from "bun:sqlite";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { X509Certificate } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { BUN, depot, ROOT, tempDir } from "./helpers.ts";


const FIXTURE = join(ROOT, "test", "fixtures", "cli-issue-many.ts");
const PROCESSES = 4;
const PER_PROCESS = 50;
const TOTAL = PROCESSES * PER_PROCESS;

interface WorkerRun {
  name: string;
  exitCode: number | null;
  signalCode: Bun.Subprocess["signalCode"];
  stdout: string;
  stderr: string;
}

const spawned: Bun.Subprocess[] = [];
afterAll(() => {
  for (const proc of spawned) if (proc.exitCode === null && proc.signalCode === null) proc.kill("SIGKILL");
});

/** Collects a stream into `sink.text`, resolving `until` once `marker` shows up (or the stream ends). */
function collect(stream: ReadableStream<Uint8Array>, marker: string) {
  const sink = { text: "" };
  let seen!: () => void;
  const until = new Promise<void>((resolve) => (seen = resolve));
  const done = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      sink.text += decoder.decode(chunk, { stream: true });
      if (sink.text.includes(marker)) seen();
    }
    seen();
  })();
  return { sink, until, done };
}

let root: string;
let workers: WorkerRun[];
let reportedSerials: string[];

beforeAll(async () => {
  root = join(tempDir("depot-concurrency-"), "shared");
  const init = depot(["init", root, "Concurrency CA", "--key-type", "ec-p256"]);
  expect(init.exitCode).toBe(0);

  const procs = Array.from({ length: PROCESSES }, (_, i) => {
    const name = `worker-${i}`;
    const proc = Bun.spawn([BUN, FIXTURE, root, String(PER_PROCESS), name], {
      cwd: ROOT,
      stdin: "pipe",
      stdout: "pipe",
      stderr: "pipe",
      timeout: 45_000,
      killSignal: "SIGKILL",
    });
    spawned.push(proc);
    return { name, proc, out: collect(proc.stdout, "ready\n"), err: collect(proc.stderr, "\u0000never") };
  });

  // Every process has the depot open before any of them issues.
  await Promise.all(procs.map((p) => p.out.until));
  for (const { proc } of procs) {
    proc.stdin.write("go\n");
    await proc.stdin.flush();
    await proc.stdin.end();
  }
  await Promise.all(procs.map((p) => Promise.all([p.proc.exited, p.out.done, p.err.done])));

  workers = procs.map(({ name, proc, out, err }) => ({
    name,
    exitCode: proc.exitCode,
    signalCode: proc.signalCode,
    stdout: out.sink.text,
    stderr: err.sink.text,
  }));
  reportedSerials = workers.flatMap((w) => {
    const last = w.stdout.trim().split("\n").at(-1) ?? "[]";
    try {
      return JSON.parse(last) as string[];
    } catch {
      return [];
    }
  });
}, 50_000);

describe(`${PROCESSES} processes issuing ${PER_PROCESS} certificates each from one depot at once`, () => {
  test("every process exits 0, silently on stderr, and reports its serials", () => {
    expect(workers.map((w) => ({ name: w.name, exitCode: w.exitCode, signalCode: w.signalCode, stderr: w.stderr }))).toEqual(
      workers.map((w) => ({ name: w.name, exitCode: 0, signalCode: null, stderr: "" })),
    );
    for (const w of workers) {
      const lines = w.stdout.trim().split("\n");
      expect(lines).toHaveLength(2);
      expect(lines[0]).toBe("ready");
      expect(JSON.parse(lines[1]!)).toHaveLength(PER_PROCESS);
    }
  });

  test(`the processes reported exactly ${TOTAL} distinct serials`, () => {
    expect(reportedSerials).toHaveLength(TOTAL);
    expect(new Set(reportedSerials).size).toBe(TOTAL);
    for (const serial of reportedSerials) expect(serial).toMatch(/^(?!00)(?:[0-9a-f]{2})+$/);
  });

  test(`the ledger holds ${TOTAL} client rows, one per reported serial, plus the CA`, () => {
    const db = new Database(join(root, "ledger.sqlite3"), { readonly: true });
    try {
      const rows = db.query<{ serial: string; type: string; subject: string; key_type: string }, []>(
        "SELECT serial, type, subject, key_type FROM certificates",
      ).all();
      const clients = rows.filter((row) => row.type === "client");
      expect(rows.filter((row) => row.type !== "client").map((row) => row.type)).toEqual(["ca"]);
      expect(clients).toHaveLength(TOTAL);
      expect(new Set(clients.map((row) => row.serial))).toEqual(new Set(reportedSerials));
      expect(new Set(clients.map((row) => row.key_type))).toEqual(new Set(["ec-p256"]));
      // Every worker's 50 subjects, each once.
      const expectedSubjects = workers.flatMap((w) => Array.from({ length: PER_PROCESS }, (_, i) => `CN=${w.name} ${i}`));
      expect(clients.map((row) => row.subject).sort()).toEqual(expectedSubjects.sort());
    } finally {
      db.close();
    }
  });

  test(`certificates/ holds ca.crt and ${TOTAL} <decimal serial>.crt files, each named by its own serial`, () => {
    const dir = join(root, "certificates");
    const names = readdirSync(dir);
    // No temporary files left behind by the atomic writes.
    expect(names.filter((name) => !name.endsWith(".crt"))).toEqual([]);
    const leaves = names.filter((name) => name !== "ca.crt");
    expect(names).toContain("ca.crt");
    expect(leaves).toHaveLength(TOTAL);

    const db = new Database(join(root, "ledger.sqlite3"), { readonly: true });
    try {
      const pemOf = db.query<{ pem: string }, [string]>("SELECT pem FROM certificates WHERE serial = ?");
      const ca = new X509Certificate(readFileSync(join(dir, "ca.crt")));
      const fileSerials = new Set<string>();
      for (const name of leaves) {
        expect(name).toMatch(/^[1-9][0-9]*\.crt$/);
        const pem = readFileSync(join(dir, name), "utf8");
        const certificate = new X509Certificate(pem);
        const serialHex = BigInt(`0x${certificate.serialNumber}`).toString(16);
        const serial = serialHex.length % 2 ? `0${serialHex}` : serialHex;
        expect(`${BigInt(`0x${serial}`).toString(10)}.crt`).toBe(name);
        expect(certificate.verify(ca.publicKey)).toBe(true);
        expect(pemOf.get(serial)?.pem).toBe(pem);
        fileSerials.add(serial);
      }
      expect(fileSerials).toEqual(new Set(reportedSerials));
    } finally {
      db.close();
    }
  });

  test("the library sees the same: Depot.open(...).ledger lists them all", async () => {
    const { Depot } = await import("../src/ca/depot.ts");
    const opened = await Depot.open(root);
    try {
      const records = await opened.ledger.list();
      expect(records.filter((r) => r.type === "client")).toHaveLength(TOTAL);
      expect(await opened.ledger.count()).toBe(TOTAL + 1);
    } finally {
      opened.close();
    }
  });
});
