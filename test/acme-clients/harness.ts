/**
 * @module A test-local ACME server: depot's ACME module behind Bun.serve
 * with TLS (a certificate from the test depot), pebble-challtestsrv as the
 * DNS server its validators ask (every name answers 127.0.0.1), and an
 * http-01 responder on a free port. Real clients (certbot, lego, Caddy) and
 * the test client run against it before the depot server mounts /acme.
 */

import "../../src/store/open-ledger.ts"; // installs the ledger factory: Depot.open and createDepot open the ledger depot.cnf names
import type { Server, Subprocess } from "bun";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { createDepot } from "../../src/ca/create.ts";
import { Depot } from "../../src/ca/depot.ts";
import { createAcmeServer, depotIssuer, type AcmeServer, type AcmeServerOptions, type AcmeStore } from "../../src/acme/index.ts";
import { acmeStoreFor } from "../../src/acme/mount.ts";
import { tempDir } from "../helpers.ts";
import { freePort, waitFor } from "../server-helpers.ts";
import { ensureTool } from "../tools.ts";

export interface ChallTestSrv {
  dnsPort: number;
  managementPort: number;
  process: Subprocess;
  setTxt(host: string, value: string): Promise<void>;
  stop(): void;
}

/** pebble-challtestsrv serving DNS only, answering 127.0.0.1 / ::1 for every name. */
export async function startChallTestSrv(): Promise<ChallTestSrv> {
  ensureTool("pebble-challtestsrv", "pebble");
  const dnsPort = freePort();
  const managementPort = freePort();
  const process = Bun.spawn(
    ["pebble-challtestsrv", "-dns01", `127.0.0.1:${dnsPort}`, "-management", `127.0.0.1:${managementPort}`, "-http01", "", "-https01", "", "-tlsalpn01", "", "-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""],
    { stdout: "ignore", stderr: "ignore" },
  );
  let up = false;
  const started = Date.now();
  while (!up && Date.now() - started < 10_000) {
    up = await fetch(`http://127.0.0.1:${managementPort}/set-default-ipv4`, { method: "POST", body: JSON.stringify({ ip: "127.0.0.1" }) }).then((r) => r.ok, () => false);
    if (!up) await Bun.sleep(50);
  }
  if (!up) throw new Error("pebble-challtestsrv did not start");
  return {
    dnsPort,
    managementPort,
    process,
    async setTxt(host, value) {
      const response = await fetch(`http://127.0.0.1:${managementPort}/set-txt`, { method: "POST", body: JSON.stringify({ host: host.endsWith(".") ? host : `${host}.`, value }) });
      if (!response.ok) throw new Error(`challtestsrv set-txt: ${response.status}`);
    },
    stop: () => process.kill(),
  };
}

/** Serves /.well-known/acme-challenge/TOKEN from a map, as a client's standalone responder would. */
export interface Http01Responder {
  port: number;
  tokens: Map<string, string>;
  /** While set, answers wait for it (a validation held in flight). */
  hold?: Promise<void>;
  stop(): void;
}

export function startHttp01Responder(): Http01Responder {
  const tokens = new Map<string, string>();
  const responder: Http01Responder = { port: 0, tokens, stop: () => server.stop(true) };
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(request) {
      if (responder.hold) await responder.hold;
      const token = new URL(request.url).pathname.replace("/.well-known/acme-challenge/", "");
      const answer = tokens.get(token);
      return answer === undefined ? new Response("not found", { status: 404 }) : new Response(answer);
    },
  });
  responder.port = server.port!;
  return responder;
}

export interface LocalAcme {
  depot: Depot;
  depotPath: string;
  caFile: string;
  caPem: string;
  directory: string;
  port: number;
  acme: AcmeServer;
  server: Server<unknown>;
  store: AcmeStore;
  stop(): Promise<void>;
}

/** A depot (EC P-256) and its ACME server on https://localhost:PORT/acme/directory. */
export async function startLocalAcme(options: Partial<AcmeServerOptions> & { depotPath?: string } = {}): Promise<LocalAcme> {
  const depotPath = options.depotPath ?? (await createDepot(join(tempDir("depot-acme-"), "ca"), { keyType: "ec-p256" }));
  const depot = await Depot.open(depotPath);
  const tls = await depot.issue({ profile: "server", subject: [{ name: "CN", oid: "2.5.4.3", value: "localhost" }], subjectAltNames: ["localhost", "127.0.0.1"], keyType: "ec-p256" });
  const store = acmeStoreFor(depot);
  const acme = createAcmeServer({ store, issuer: depotIssuer(depot), ...options });
  const server = Bun.serve({ hostname: "127.0.0.1", port: 0, tls: { cert: tls.certificatePem, key: tls.privateKeyPem }, fetch: (request, server) => acme.handle(request, { clientAddress: () => server.requestIP(request)?.address }) });
  const caFile = depot.layout.caCertificate;
  const caPem = depot.issuer.certificatePem;
  return {
    depot,
    depotPath,
    caFile,
    caPem,
    directory: `https://localhost:${server.port}/acme/directory`,
    port: server.port!,
    acme,
    server,
    store,
    async stop() {
      server.stop(true);
      await Promise.allSettled([...acme.queue.inFlight]);
      store.close();
    },
  };
}

export function writeTemp(name: string, text: string): string {
  const path = join(tempDir("depot-acme-file-"), name);
  writeFileSync(path, text);
  return path;
}

export { freePort, waitFor };

/**
 * Runs a program without blocking this process's event loop (the ACME
 * server under test lives in it: spawnSync would deadlock the client).
 */
export async function runAsync(cmd: string[], options: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const child = Bun.spawn(cmd, { env: { ...process.env, ...options.env }, stdout: "pipe", stderr: "pipe", stdin: "ignore" });
  const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 50_000);
  const [stdout, stderr, exitCode] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  clearTimeout(timer);
  return { exitCode, stdout, stderr };
}

export interface ServedAcme {
  server: import("../server-helpers.ts").RunningServer;
  directory: string;
  depotPath: string;
  caFile: string;
  caPem: string;
  httpsPort: number;
  stop(): Promise<void>;
}

/**
 * The real thing: `dist/depot start --https-port P --acme` with 2 workers
 * over a fresh depot (EC P-256 CA), plus `extraArgs` (--acme-* flags).
 */
export async function startServedAcme(extraArgs: string[]): Promise<ServedAcme> {
  const { startServer } = await import("../server-helpers.ts");
  const httpsPort = freePort();
  const server = await startServer(["--process-count", "2", "--https-port", String(httpsPort), "--acme", ...extraArgs]);
  await server.ready;
  const caFile = join(server.depotPath, "certificates", "ca.crt");
  return {
    server,
    directory: `https://localhost:${httpsPort}/acme/directory`,
    depotPath: server.depotPath,
    caFile,
    caPem: await Bun.file(caFile).text(),
    httpsPort,
    stop: () => server.kill(),
  };
}
