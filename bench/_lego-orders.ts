/**
 * @module
 * The same lego loop against any ACME server, for bench/stepca.ts: Debian's
 * lego 4.9 `run` over http-01, one process per order, its challenge files
 * written into a webroot that one listener here serves on 127.0.0.1:80 (the
 * port step-ca 0.19 always validates on; several legos share it). Each loop
 * has an account of its own, registered by the warm-up and reused after.
 * The CA resolves the ordered names through pebble-challtestsrv (every name
 * is 127.0.0.1; see test/acme-clients/harness.ts). lego's own CPU (the
 * client's) is read from each process's rusage, apart from the server's.
 */
import type { Server } from "bun";
import { X509Certificate } from "node:crypto";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { ensureDebianPackages } from "./_debian-packages.ts";

export interface AcmeTarget {
  /** A short label, used in names and folders: `stepca`, `depot`. */
  label: string;
  directory: string;
  /** The PEM file lego trusts for the server's HTTPS, which is also the root its certificates chain to. */
  rootFile: string;
}

export interface LegoRun {
  /** Orders that lego finished (exit 0), with the certificate files to check later. */
  issued: { name: string; file: string }[];
  failures: string[];
  wallSeconds: number;
  /** Each finished order's wall time, lego's start to its exit (sorted, ms). */
  latenciesMs: number[];
  /** lego's user + system CPU, all its processes of this run, ms. */
  clientCpuMs: number;
}

export function ensureLego(): void {
  ensureDebianPackages(["lego"], "the ACME client of the step-ca bench");
}

/** Serves `webroot`/.well-known/acme-challenge/* on 127.0.0.1:80, as lego --http.webroot expects. */
export function startWebroot(webroot: string): Server<undefined> {
  const folder = join(webroot, ".well-known", "acme-challenge");
  mkdirSync(folder, { recursive: true });
  try {
    return Bun.serve({
      hostname: "127.0.0.1",
      port: 80,
      async fetch(request) {
        const token = /^\/\.well-known\/acme-challenge\/([A-Za-z0-9_-]+)$/.exec(new URL(request.url).pathname)?.[1];
        const file = token ? Bun.file(join(folder, token)) : undefined;
        return file && (await file.exists()) ? new Response(file) : new Response("not found", { status: 404 });
      },
    });
  } catch (error) {
    throw new Error(`the ACME bench needs 127.0.0.1:80 for http-01 (step-ca validates there): ${(error as Error).message}`);
  }
}

/** One `lego run` for `name` with loop `account`'s account; resolves with lego's CPU time (ms), or throws with its last words. */
async function legoOrder(target: AcmeTarget, work: string, webroot: string, account: number, name: string): Promise<{ file: string; cpuMs: number }> {
  const path = join(work, `lego-${target.label}-${account}`);
  const lego = Bun.spawn(
    ["lego", "--server", target.directory, "--accept-tos", "--email", `bench${account}@example.com`, "--path", path, "--http", "--http.webroot", webroot, "-d", name, "run"],
    { env: { ...process.env, LEGO_CA_CERTIFICATES: target.rootFile }, stdin: "ignore", stdout: "ignore", stderr: "pipe" },
  );
  const timer = setTimeout(() => lego.kill("SIGKILL"), 60_000);
  const [stderr, exitCode] = await Promise.all([new Response(lego.stderr).text(), lego.exited]);
  clearTimeout(timer);
  const usage = lego.resourceUsage();
  const cpuMs = usage ? Number(usage.cpuTime.total) / 1000 : 0;
  if (exitCode !== 0) throw Object.assign(new Error(`lego for ${name} against ${target.label} exited ${exitCode}: ${stderr.trim().split("\n").slice(-3).join(" | ")}`), { cpuMs });
  return { file: join(path, "certificates", `${name}.crt`), cpuMs };
}

/** `orders` orders spread over `loops` loops running at once (loop i uses account i), names `<prefix>-<n>.bench.test`. */
export async function legoLoops(target: AcmeTarget, work: string, webroot: string, orders: number, loops: number, prefix: string): Promise<LegoRun> {
  const run: LegoRun = { issued: [], failures: [], wallSeconds: 0, latenciesMs: [], clientCpuMs: 0 };
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: Math.min(loops, orders) }, async (_, account) => {
      while (next < orders) {
        const name = `${prefix}-${next++}.bench.test`;
        const t0 = performance.now();
        try {
          const { file, cpuMs } = await legoOrder(target, work, webroot, account, name);
          run.latenciesMs.push(performance.now() - t0);
          run.issued.push({ name, file });
          run.clientCpuMs += cpuMs;
        } catch (error) {
          run.failures.push((error as Error).message);
          run.clientCpuMs += (error as { cpuMs?: number }).cpuMs ?? 0;
        }
      }
    }),
  );
  run.wallSeconds = (performance.now() - started) / 1000;
  run.latenciesMs.sort((a, b) => a - b);
  return run;
}

/**
 * Undefined when lego's file holds a certificate for `name` whose chain
 * (each certificate signed by the next) ends in one signed by `rootPem`;
 * else what is wrong.
 */
export function checkLegoCertificate(file: string, name: string, rootPem: string): string | undefined {
  try {
    const pems = readFileSync(file, "utf8").match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
    const chain = pems.map((pem) => new X509Certificate(pem));
    const root = new X509Certificate(rootPem);
    if (chain.length === 0) return `${name}: no certificate in ${file}`;
    if (chain[0]!.subjectAltName !== `DNS:${name}`) return `${name}: the certificate names ${chain[0]!.subjectAltName}`;
    for (let i = 0; i < chain.length; i++) {
      const issuer = chain[i + 1] ?? root;
      // A bundle may end with the root itself: it is the anchor, not a link to check.
      if (i === chain.length - 1 && chain[i]!.fingerprint256 === root.fingerprint256) break;
      if (!chain[i]!.verify(issuer.publicKey)) return `${name}: certificate ${i} is not signed by the next one`;
    }
    return undefined;
  } catch (error) {
    return `${name}: ${(error as Error).message}`;
  }
}
