/**
 * Crypto provider benchmark: @peculiar/webcrypto vs Bun's native WebCrypto
 * (globalThis.crypto.subtle), plus node:crypto's async generateKeyPair for
 * key generation.
 *
 *   node_modules/.bin/bun bench/providers.ts [--json]
 *
 * Every number is the median over single operations, each timed on its own,
 * after a warm-up. Results are written up in docs/crypto-providers.md.
 */
import { Crypto } from "@peculiar/webcrypto";
import { generateKeyPair, randomBytes, type webcrypto } from "node:crypto";
import { cpus, loadavg } from "node:os";

type Subtle = webcrypto.SubtleCrypto;
type GenParams = webcrypto.RsaHashedKeyGenParams | webcrypto.EcKeyGenParams | webcrypto.Algorithm;
type SignParams = webcrypto.EcdsaParams | webcrypto.Algorithm;
type NodeCallback = (err: Error | null) => void;

const subtles: Record<"webcrypto" | "native", Subtle> = {
  webcrypto: new Crypto().subtle as Subtle,
  native: globalThis.crypto.subtle as Subtle,
};
const COLUMNS = ["webcrypto", "native", "node"] as const;
type Column = (typeof COLUMNS)[number];
const LABELS: Record<Column, string> = {
  webcrypto: "@peculiar/webcrypto",
  native: "Bun crypto.subtle",
  node: "node:crypto generateKeyPair",
};

// What depot stores for a key: public SPKI DER and private PKCS#8 PEM.
const enc = {
  publicKeyEncoding: { type: "spki", format: "der" },
  privateKeyEncoding: { type: "pkcs8", format: "pem" },
} as const;
const RSA = { name: "RSASSA-PKCS1-v1_5", publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" };

interface KeySpec {
  name: string;
  gen: GenParams;
  /** Starts node:crypto's async generateKeyPair for the same key. */
  node: (cb: NodeCallback) => void;
  warmup: number;
  runs: number;
}

const KEYS: KeySpec[] = [
  {
    name: "RSA-2048",
    gen: { ...RSA, modulusLength: 2048 },
    node: (cb) => generateKeyPair("rsa", { modulusLength: 2048, publicExponent: 0x10001, ...enc }, cb),
    warmup: 2,
    runs: 51,
  },
  {
    name: "RSA-3072",
    gen: { ...RSA, modulusLength: 3072 },
    node: (cb) => generateKeyPair("rsa", { modulusLength: 3072, publicExponent: 0x10001, ...enc }, cb),
    warmup: 1,
    runs: 25,
  },
  {
    name: "EC P-256",
    gen: { name: "ECDSA", namedCurve: "P-256" },
    node: (cb) => generateKeyPair("ec", { namedCurve: "P-256", ...enc }, cb),
    warmup: 50,
    runs: 500,
  },
  {
    name: "EC P-384",
    gen: { name: "ECDSA", namedCurve: "P-384" },
    node: (cb) => generateKeyPair("ec", { namedCurve: "P-384", ...enc }, cb),
    warmup: 50,
    runs: 500,
  },
  {
    name: "Ed25519",
    gen: { name: "Ed25519" },
    node: (cb) => generateKeyPair("ed25519", enc, cb),
    warmup: 50,
    runs: 500,
  },
];

interface SignSpec {
  name: string;
  gen: GenParams;
  sign: SignParams;
}

const SIGNS: SignSpec[] = [
  { name: "RSA-2048 PKCS1/SHA-256", gen: { ...RSA, modulusLength: 2048 }, sign: { name: "RSASSA-PKCS1-v1_5" } },
  { name: "P-256 ECDSA/SHA-256", gen: { name: "ECDSA", namedCurve: "P-256" }, sign: { name: "ECDSA", hash: "SHA-256" } },
  { name: "P-384 ECDSA/SHA-384", gen: { name: "ECDSA", namedCurve: "P-384" }, sign: { name: "ECDSA", hash: "SHA-384" } },
  { name: "Ed25519", gen: { name: "Ed25519" }, sign: { name: "Ed25519" } },
];
const SIGN_WARMUP = 50;
const SIGN_RUNS = 300;
// Roughly the size of a TBSCertificate with a few extensions.
const MESSAGE = new Uint8Array(randomBytes(800));

interface Stats {
  medianMs: number;
  opsPerSec: number;
  minMs: number;
  q1Ms: number;
  q3Ms: number;
  maxMs: number;
  n: number;
}
type Result = Stats | { unsupported: string };
type Row = Partial<Record<Column, Result>>;
type Op = () => Promise<unknown>;

function median(sorted: number[]): number {
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

function stats(times: number[]): Stats {
  times.sort((a, b) => a - b);
  const medianMs = median(times);
  const at = (q: number) => times[Math.floor(q * (times.length - 1))]!;
  return { medianMs, opsPerSec: 1000 / medianMs, minMs: at(0), q1Ms: at(0.25), q3Ms: at(0.75), maxMs: at(1), n: times.length };
}

/**
 * Times each column's op `runs` times. The columns take turns in ~20 rounds
 * rather than one after the other, so that load from other processes on the
 * machine falls on all of them alike instead of on whichever ran at that time.
 */
async function measure(ops: Partial<Record<Column, Op>>, warmup: number, runs: number): Promise<Row> {
  const row: Row = {};
  const live: [Column, Op, number[]][] = [];
  for (const [column, op] of Object.entries(ops) as [Column, Op][]) {
    try {
      await op(); // fails fast on an unsupported algorithm
      live.push([column, op, []]);
    } catch (err) {
      row[column] = { unsupported: message(err) };
    }
  }
  for (const [, op] of live) for (let i = 1; i < warmup; i++) await op();
  const batch = Math.max(1, Math.floor(runs / 20));
  for (let done = 0; done < runs; done += batch) {
    for (const [, op, times] of live) {
      for (let i = 0; i < Math.min(batch, runs - done); i++) {
        const t0 = performance.now();
        await op();
        times.push(performance.now() - t0);
      }
    }
  }
  for (const [column, , times] of live) row[column] = stats(times);
  return row;
}

async function webKeygen(subtle: Subtle, gen: GenParams): Promise<void> {
  const pair = (await subtle.generateKey(gen, true, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
  await subtle.exportKey("pkcs8", pair.privateKey);
  await subtle.exportKey("spki", pair.publicKey);
}

function keygenOp(column: Column, spec: KeySpec): Op {
  if (column === "node") {
    return () => new Promise<void>((resolve, reject) => spec.node((err) => (err ? reject(err) : resolve())));
  }
  return () => webKeygen(subtles[column], spec.gen);
}

interface LoopCheck {
  keys: number;
  elapsedMs: number;
  ticks: number;
  maxGapMs: number;
  blocks: boolean;
}

/** Generates `keys` keys in a row while a 1 ms interval counts how often it gets to run. */
async function loopCheck(op: Op, keys = 4): Promise<LoopCheck> {
  let ticks = 0;
  let last = performance.now();
  let maxGapMs = 0;
  const timer = setInterval(() => {
    const now = performance.now();
    maxGapMs = Math.max(maxGapMs, now - last);
    last = now;
    ticks++;
  }, 1);
  const t0 = performance.now();
  for (let i = 0; i < keys; i++) await op();
  const end = performance.now();
  clearInterval(timer);
  maxGapMs = Math.max(maxGapMs, end - last);
  // An idle loop runs a 1 ms timer every ~1 ms; a gap of 20 ms means the thread was busy.
  return { keys, elapsedMs: end - t0, ticks, maxGapMs, blocks: maxGapMs > 20 };
}

async function main(): Promise<void> {
  const json = process.argv.includes("--json");
  const log = (msg: string) => json || process.stderr.write(msg + "\n");
  // Other processes on a shared machine skew the numbers; the load average shows whether there were any.
  const loadBefore = loadavg();

  const keygen: Record<string, Row> = {};
  for (const spec of KEYS) {
    log(`keygen ${spec.name} ...`);
    const ops = Object.fromEntries(COLUMNS.map((c) => [c, keygenOp(c, spec)]));
    keygen[`${spec.name} (n=${spec.runs})`] = await measure(ops, spec.warmup, spec.runs);
  }

  const sign: Record<string, Row> = {};
  for (const spec of SIGNS) {
    log(`sign ${spec.name} ...`);
    const ops: Partial<Record<Column, Op>> = {};
    const row: Row = {};
    for (const column of ["webcrypto", "native"] as const) {
      const subtle = subtles[column];
      let key: webcrypto.CryptoKeyPair;
      try {
        key = (await subtle.generateKey(spec.gen, false, ["sign", "verify"])) as webcrypto.CryptoKeyPair;
      } catch (err) {
        row[column] = { unsupported: message(err) };
        continue;
      }
      const sig = await subtle.sign(spec.sign, key.privateKey, MESSAGE);
      if (!(await subtle.verify(spec.sign, key.publicKey, sig, MESSAGE))) throw new Error(`${spec.name}: bad signature`);
      ops[column] = () => subtle.sign(spec.sign, key.privateKey, MESSAGE);
    }
    sign[`${spec.name} (n=${SIGN_RUNS})`] = { ...row, ...(await measure(ops, SIGN_WARMUP, SIGN_RUNS)) };
  }

  const rsa2048 = KEYS[0]!;
  const eventLoop = {} as Record<Column, LoopCheck>;
  for (const column of COLUMNS) {
    log(`event loop RSA-2048 ${LABELS[column]} ...`);
    eventLoop[column] = await loopCheck(keygenOp(column, rsa2048));
  }

  if (json) {
    const meta = {
      bun: Bun.version,
      platform: `${process.platform}-${process.arch}`,
      cpus: cpus().length,
      cpu: cpus()[0]?.model,
      messageBytes: MESSAGE.length,
      loadavg1m: { before: loadBefore[0], after: loadavg()[0] },
    };
    console.log(JSON.stringify({ meta, keygen, sign, eventLoop }, null, 2));
    return;
  }
  console.log(`Bun ${Bun.version}, ${cpus().length} x ${cpus()[0]?.model}`);
  console.log(`1-minute load average: ${loadBefore[0]?.toFixed(2)} before, ${loadavg()[0]?.toFixed(2)} after`);
  printTable("Key generation: generateKey + export pkcs8 + spki (node: spki DER + pkcs8 PEM), median per key", keygen);
  printTable(`Signing ${MESSAGE.length} random bytes with a CA key, median per signature`, sign);
  console.log(`\nEvent loop during 4 x RSA-2048 keygen (1 ms setInterval)`);
  const head = ["provider", "elapsed", "ticks", "longest gap", "blocks?"];
  const rows = COLUMNS.map((c) => {
    const r = eventLoop[c];
    return [LABELS[c], `${r.elapsedMs.toFixed(1)} ms`, String(r.ticks), `${r.maxGapMs.toFixed(1)} ms`, r.blocks ? "yes" : "no"];
  });
  console.log(formatRows([head, ...rows]));
}

function fmt(r: Result | undefined): string {
  if (!r) return "-";
  if ("unsupported" in r) return "unsupported";
  const ms = r.medianMs < 1 ? r.medianMs.toFixed(4) : r.medianMs.toFixed(2);
  const ops = r.opsPerSec < 100 ? r.opsPerSec.toFixed(2) : r.opsPerSec.toFixed(0);
  return `${ms} ms (${ops}/s)`;
}

/** Names the fastest column and how many times faster it is than the runner-up. */
function fastest(row: Row): string {
  const ranked = COLUMNS.flatMap((c) => {
    const r = row[c];
    return r && "medianMs" in r ? [{ c, ms: r.medianMs }] : [];
  }).sort((a, b) => a.ms - b.ms);
  const [first, second] = ranked;
  if (!first) return "-";
  return second ? `${first.c} ${(second.ms / first.ms).toFixed(2)}x vs ${second.c}` : first.c;
}

function printTable(title: string, results: Record<string, Row>): void {
  const used = COLUMNS.filter((c) => Object.values(results).some((row) => row[c]));
  const head = ["key", ...used.map((c) => LABELS[c]), "fastest"];
  const rows = Object.entries(results).map(([name, row]) => [name, ...used.map((c) => fmt(row[c])), fastest(row)]);
  console.log(`\n${title}`);
  console.log(formatRows([head, ...rows]));
}

function formatRows(rows: string[][]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  return rows.map((r) => r.map((cell, i) => cell.padEnd(widths[i]!)).join("  ").trimEnd()).join("\n");
}

await main();
