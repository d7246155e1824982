/**
 * Load generator for a depot server, like the original's test/remote/hurt.rb
 * but measuring: sends `generate` requests, one connection each, keeps
 * CONCURRENCY in flight, then checks every answer (a key and a certificate
 * that parse, match, chain to the CA; no serial twice).
 *
 *   bun run bench/load.ts --host H --port P -n REQUESTS -c CONCURRENCY [--dn TEMPLATE] [--ca ca.crt] [--json]
 *
 * TEMPLATE may hold {i}, replaced by the request's number. Answers are
 * checked after the timed run, so checking does not steal CPU from the server.
 */
import "reflect-metadata";
import { createPrivateKey, createPublicKey } from "node:crypto";
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(globalThis.crypto);

export interface LoadOptions {
  host: string;
  port: number;
  requests: number;
  concurrency: number;
  dnTemplate: string;
  caPem?: string;
  /** Stop starting new requests after this many milliseconds (a run measured by time, not count). */
  durationMs?: number;
}

export interface LoadResult {
  ok: number;
  errors: number;
  /** The first few error answers or failures, for the report. */
  errorSamples: string[];
  wallSeconds: number;
  requestsPerSecond: number;
  latencyMs: { p50: number; p95: number; p99: number; max: number };
  duplicateSerials: number;
  serials: string[];
  /**
   * With `durationMs`: good answers that arrived within it. A timed run
   * stops starting requests at its end but waits for those in flight, a
   * drain with fewer requests than cores can use; a steady rate counts only
   * what the window itself produced.
   */
  okWithinDuration?: number;
}

export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const answers: string[] = new Array(options.requests);
  const arrivedInTime: boolean[] = new Array(options.requests);
  const latencies: number[] = [];
  const failures: string[] = [];
  let next = 0;
  const started = performance.now();
  const stopAt = options.durationMs === undefined ? Infinity : started + options.durationMs;
  async function loop() {
    while (next < options.requests && performance.now() < stopAt) {
      const i = next++;
      const t0 = performance.now();
      try {
        answers[i] = await request(options.host, options.port, `generate ${options.dnTemplate.replaceAll("{i}", String(i))}`);
      } catch (error) {
        answers[i] = `FAILED ${(error as Error).message}`;
      }
      const now = performance.now();
      arrivedInTime[i] = now <= stopAt;
      latencies.push(now - t0);
    }
  }
  await Promise.all(Array.from({ length: Math.min(options.concurrency, options.requests) }, loop));
  const wallSeconds = (performance.now() - started) / 1000;
  answers.length = next; // a timed run sends fewer than `requests`

  const ca = options.caPem ? new x509.X509Certificate(options.caPem) : undefined;
  const serials: string[] = [];
  let ok = 0;
  let okWithinDuration = 0;
  for (const [i, text] of answers.entries()) {
    const problem = await checkAnswer(text, ca, serials);
    if (problem === undefined) {
      ok++;
      if (arrivedInTime[i]) okWithinDuration++;
    } else if (failures.length < 5) failures.push(problem);
  }
  const unique = new Set(serials);
  latencies.sort((a, b) => a - b);
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
  return {
    ok,
    errors: answers.length - ok,
    errorSamples: failures,
    wallSeconds,
    requestsPerSecond: answers.length / wallSeconds,
    latencyMs: { p50: at(0.5), p95: at(0.95), p99: at(0.99), max: latencies.at(-1) ?? 0 },
    duplicateSerials: serials.length - unique.size,
    serials,
    ...(options.durationMs === undefined ? {} : { okWithinDuration }),
  };
}

/** Undefined when the answer is a key and a certificate for it, chained to the CA; else what is wrong. */
export async function checkAnswer(text: string, ca: x509.X509Certificate | undefined, serials: string[]): Promise<string | undefined> {
  const key = /-----BEGIN PRIVATE KEY-----[\s\S]+?-----END PRIVATE KEY-----\n/.exec(text)?.[0];
  const cert = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n/.exec(text)?.[0];
  if (!key || !cert) return text.split("\n", 1)[0] || "empty answer";
  try {
    const certificate = new x509.X509Certificate(cert);
    serials.push(certificate.serialNumber);
    const keyPublic = createPublicKey(createPrivateKey(key)).export({ type: "spki", format: "der" });
    if (!Buffer.from(certificate.publicKey.rawData).equals(keyPublic)) return "key does not match certificate";
    if (ca && !(await certificate.verify({ publicKey: ca.publicKey, signatureOnly: true }))) return "certificate does not chain to the CA";
  } catch (error) {
    return `unreadable answer: ${(error as Error).message}`;
  }
  return undefined;
}

/** One request on its own connection; resolves with everything the server sent before closing. */
export function request(host: string, port: number, line: string, timeoutMs = 30_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => reject(new Error("timed out")), timeoutMs);
    Bun.connect({
      hostname: host,
      port,
      socket: {
        open: (socket) => void socket.write(`${line}\n`),
        data: (_socket, data) => void chunks.push(Buffer.from(data)),
        close: () => {
          clearTimeout(timer);
          resolve(Buffer.concat(chunks).toString());
        },
        error: (_socket, error) => {
          clearTimeout(timer);
          reject(error);
        },
        connectError: (_socket, error) => {
          clearTimeout(timer);
          reject(error);
        },
      },
    }).catch((error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

export function formatResult(r: LoadResult): string {
  const ms = (v: number) => `${v.toFixed(1)} ms`;
  return [
    `ok ${r.ok}  errors ${r.errors}  duplicate serials ${r.duplicateSerials}`,
    `wall ${r.wallSeconds.toFixed(2)} s  ${r.requestsPerSecond.toFixed(1)} req/s`,
    `latency p50 ${ms(r.latencyMs.p50)}  p95 ${ms(r.latencyMs.p95)}  p99 ${ms(r.latencyMs.p99)}  max ${ms(r.latencyMs.max)}`,
    ...r.errorSamples.map((e) => `  error: ${e}`),
  ].join("\n");
}

if (import.meta.main) {
  const { values } = parseArgs({
    options: {
      host: { type: "string", default: "127.0.0.1" },
      port: { type: "string", default: "35553" },
      n: { type: "string", short: "n", default: "100" },
      c: { type: "string", short: "c", default: "8" },
      dn: { type: "string", default: "/CN=load-{i}" },
      ca: { type: "string" },
      json: { type: "boolean", default: false },
    },
  });
  const result = await runLoad({
    host: values.host!,
    port: Number(values.port),
    requests: Number(values.n),
    concurrency: Number(values.c),
    dnTemplate: values.dn!,
    ...(values.ca ? { caPem: readFileSync(values.ca, "utf8") } : {}),
  });
  const { serials: _serials, ...summary } = result;
  console.log(values.json ? JSON.stringify(summary) : formatResult(result));
  process.exitCode = result.errors || result.duplicateSerials ? 1 : 0;
}
