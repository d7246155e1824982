/**
 * @module
 * Shared by the OCSP tests: a depot with the plain-HTTP routes served by a
 * test-local Bun.serve on a free loopback port, and the real openssl and
 * curl run without blocking that server's event loop.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { createDepot } from "../src/ca/create.ts";
import { Depot } from "../src/ca/depot.ts";
import { parseDn } from "../src/ca/dn.ts";
import { publicRoutes } from "../src/http/public/handler.ts";
import { Publication } from "../src/http/public/publication.ts";
import { MetricsRegistry } from "../src/server/metrics/registry.ts";
import { OcspResponder } from "../src/ocsp/responder.ts";
import { type RunResult, tempDir } from "./helpers.ts";

/** Runs a program without blocking this process's event loop (the server under test lives in it). */
export async function runAsync(cmd: string[], stdin?: Uint8Array<ArrayBuffer> | string): Promise<RunResult> {
  const child = Bun.spawn(cmd, { stdin: stdin === undefined ? "ignore" : new Blob([stdin]), stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, exitCode] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  return { exitCode, stdout, stderr };
}

export interface ServedDepot {
  path: string;
  depot: Depot;
  caFile: string;
  url: string;
  port: number;
  metrics: MetricsRegistry;
  /** Issues a client certificate and writes it to a file; returns its serial and path. */
  issue(cn: string): Promise<{ serial: string; file: string }>;
  stop(): void;
}

export async function serveDepot(options: { keyType?: "ec-p256" | "rsa-2048"; validitySeconds?: number } = {}): Promise<ServedDepot> {
  const dir = tempDir("depot-ocsp-");
  const path = join(dir, "ca");
  await createDepot(path, { label: "OCSP Test CA", keyType: options.keyType ?? "ec-p256" });
  const depot = await Depot.open(path);
  const metrics = new MetricsRegistry();
  const handler = publicRoutes({
    ocsp: new OcspResponder({ issuer: depot.issuer, find: (serial) => depot.ledger.find(serial), changes: () => depot.ledger.changeVersion(), ...(options.validitySeconds ? { validitySeconds: options.validitySeconds } : {}) }),
    publication: new Publication(depot.layout.caCertificate, depot.layout.crl),
    metrics,
    scrape: () => "# scraped\n",
    ledgerReachable: async () => (await depot.ledger.count()) >= 0,
    workers: () => 1,
  });
  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: (request, srv) => handler(request, srv.requestIP(request)?.address) });
  let count = 0;
  return {
    path,
    depot,
    caFile: depot.layout.caCertificate,
    port: server.port!,
    url: `http://127.0.0.1:${server.port}`,
    metrics,
    async issue(cn) {
      const issued = await depot.issue({ profile: "client", subject: parseDn(`CN=${cn}`) });
      const file = join(dir, `leaf-${++count}.crt`);
      writeFileSync(file, issued.certificatePem);
      return { serial: issued.serial, file };
    },
    stop() {
      server.stop(true);
      depot.close();
    },
  };
}
