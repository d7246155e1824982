/**
 * `depot start --http-port` as a real process with 2 workers: the real
 * `openssl ocsp`, at the URL the certificate's AIA names, says good, then
 * revoked with its reason right after `depot revoke` from the CLI; unknown
 * for a forged serial; the nonce comes back. curl gets the GET form with its
 * cache headers, /crl, /ca and /health. /metrics passes promtool and its
 * totals match N issuances spread over both workers. QUIT lets an HTTP
 * request in flight complete.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DEPOT_BIN, depot, pemBlocks, tempDir } from "./helpers.ts";
import { runAsync } from "./ocsp-helpers.ts";
import { freePort, request, type RunningServer, startServer, waitFor } from "./server-helpers.ts";
import { ensureTool } from "./tools.ts";

const TEST_TIMEOUT_MS = 60_000;

function serverWithHttp(extra: string[] = []): Promise<{ server: RunningServer; httpPort: number }> {
  const httpPort = freePort();
  return startServer(["--http-port", String(httpPort), "--process-count", "2", ...extra]).then((server) => ({ server, httpPort }));
}

/** promtool reads the exposition on stdin. */
async function promtool(text: string) {
  const result = await runAsync(["promtool", "check", "metrics"], text);
  return { exitCode: result.exitCode, output: result.stdout + result.stderr };
}

function valueOf(text: string, series: string): number {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

describe("a running server with --http-port and --public-url", () => {
  let server: RunningServer;
  let httpPort: number;
  let url: string;
  let caFile: string;
  const dir = tempDir("depot-http-server-");

  beforeAll(async () => {
    ensureTool("promtool", "prometheus");
    httpPort = freePort();
    url = `http://127.0.0.1:${httpPort}`;
    server = await startServer(["--http-port", String(httpPort), "--process-count", "2", "--public-url", url, "--log-level", "debug"]);
    await server.ready;
    caFile = join(server.depotPath, "certificates", "ca.crt");
  }, TEST_TIMEOUT_MS);
  afterAll(async () => {
    await server?.kill();
  });

  /** A client certificate over the line protocol; its serial as openssl prints it. */
  async function issue(cn: string): Promise<{ file: string; serial: string }> {
    const answer = await request(server.port, `generate /CN=${cn}`);
    const [, cert] = pemBlocks(answer);
    const file = join(dir, `${cn}.crt`);
    writeFileSync(file, cert!);
    const serial = (await runAsync(["openssl", "x509", "-in", file, "-noout", "-serial"])).stdout.trim().slice("serial=".length);
    return { file, serial };
  }

  test("openssl ocsp at the AIA URL: good, then revoked with its reason right after depot revoke; the nonce comes back", async () => {
    const leaf = await issue("alice");
    const aia = (await runAsync(["openssl", "x509", "-in", leaf.file, "-noout", "-ocsp_uri"])).stdout.trim();
    expect(aia).toBe(`${url}/ocsp`);
    const ask = () => runAsync(["openssl", "ocsp", "-issuer", caFile, "-cert", leaf.file, "-url", aia, "-CAfile", caFile]);
    const good = await ask();
    expect(good.stderr).toBe("Response verify OK\n"); // no "WARNING: no nonce in response"
    expect(good.stdout).toContain(`${leaf.file}: good`);
    const revoked = await runAsync([DEPOT_BIN, "revoke", server.depotPath, leaf.serial, "--reason", "keyCompromise"]);
    expect(revoked.exitCode).toBe(0);
    const after = await ask();
    expect(after.stderr).toBe("Response verify OK\n");
    expect(after.stdout).toContain(`${leaf.file}: revoked`);
    expect(after.stdout).toContain("Reason: keyCompromise");
  }, TEST_TIMEOUT_MS);

  test("a forged serial is unknown", async () => {
    const result = await runAsync(["openssl", "ocsp", "-issuer", caFile, "-serial", "0x7e57ab1e7e57ab1e7e57ab1e7e57ab1e", "-url", `${url}/ocsp`, "-CAfile", caFile]);
    expect(result.stderr).toBe("Response verify OK\n");
    expect(result.stdout).toContain("0x7e57ab1e7e57ab1e7e57ab1e7e57ab1e: unknown");
  }, TEST_TIMEOUT_MS);

  test("curl: the GET form with RFC 5019 cache headers; /crl, /ca and /health", async () => {
    const leaf = await issue("bob");
    const reqFile = join(dir, "bob.req");
    await runAsync(["openssl", "ocsp", "-issuer", caFile, "-cert", leaf.file, "-no_nonce", "-reqout", reqFile]);
    const encoded = encodeURIComponent(readFileSync(reqFile).toString("base64"));
    const respFile = join(dir, "bob.resp");
    const get = await runAsync(["curl", "-s", "-D", "-", "-o", respFile, `${url}/ocsp/${encoded}`]);
    expect(get.stdout).toStartWith("HTTP/1.1 200");
    expect(get.stdout).toMatch(/cache-control: max-age=(3599|3600), public, no-transform, must-revalidate\r\n/i);
    for (const header of ["last-modified", "expires", "etag"]) expect(get.stdout.toLowerCase()).toContain(`${header}: `);
    const checked = await runAsync(["openssl", "ocsp", "-respin", respFile, "-issuer", caFile, "-cert", leaf.file, "-CAfile", caFile, "-no_nonce"]);
    expect(checked.stdout).toContain(`${leaf.file}: good`);

    const crlFile = join(dir, "crl.der");
    const crl = await runAsync(["curl", "-s", "-o", crlFile, "-w", "%{http_code} %{content_type}", `${url}/crl`]);
    expect(crl.stdout).toBe("200 application/pkix-crl");
    expect((await runAsync(["openssl", "crl", "-inform", "DER", "-in", crlFile, "-noout", "-issuer"])).stdout).toContain("CN = Test CA");
    const ca = await runAsync(["curl", "-s", `${url}/ca.pem`]);
    expect(ca.stdout).toBe(readFileSync(caFile, "utf8"));
    const health = JSON.parse((await runAsync(["curl", "-s", `${url}/health`])).stdout);
    expect(health).toEqual({ ok: true, version: expect.any(String), workers: 2, ledger: "reachable" });
  }, TEST_TIMEOUT_MS);

  test("/metrics passes promtool; N issuances over both workers show as N more within 2 seconds", async () => {
    const series = 'depot_certificates_issued_total{key_type="ec-p256",profile="client"}';
    await Bun.sleep(2000); // what earlier tests issued has reached the totals
    const before = valueOf((await runAsync(["curl", "-s", `${url}/metrics`])).stdout, series);
    const N = 24;
    await runAsync(["openssl", "ocsp", "-issuer", caFile, "-serial", "0x01", "-url", `${url}/ocsp`, "-CAfile", caFile]);
    for (let batch = 0; batch < N; batch += 6) {
      const answers = await Promise.all(Array.from({ length: 6 }, (_, i) => request(server.port, `generate /CN=metrics-${batch + i}`)));
      expect(answers.filter((a) => !a.includes("BEGIN CERTIFICATE"))).toEqual([]);
    }
    // Both workers issued some of them (the kernel spreads connections over them).
    const issuers = new Set([...server.log().matchAll(/^\[\s*(\d+)\] .*served generate/gm)].map((m) => m[1]));
    expect(issuers.size).toBe(2);
    await Bun.sleep(2000);
    const scrapes = await Promise.all(Array.from({ length: 6 }, () => runAsync(["curl", "-s", `${url}/metrics`])));
    for (const scrape of scrapes) expect(valueOf(scrape.stdout, series)).toBe(before + N);
    const text = scrapes[0]!.stdout;
    const checked = await promtool(text);
    expect(checked.output).toBe("");
    expect(checked.exitCode).toBe(0);
    expect(valueOf(text, "depot_workers")).toBe(2);
    expect(valueOf(text, "depot_worker_starts_total")).toBeGreaterThanOrEqual(2);
    expect(valueOf(text, 'depot_requests_total{listener="line",outcome="ok",route="generate"}')).toBeGreaterThanOrEqual(N);
    expect(valueOf(text, "depot_crl_number")).toBeGreaterThanOrEqual(1);
    expect(valueOf(text, 'depot_ocsp_responses_total{status="unknown"}')).toBeGreaterThanOrEqual(1);
    expect(text).toMatch(/^depot_key_pool_keys\{key_type="ec-p256"\} \d+$/m);
  }, TEST_TIMEOUT_MS);
});

const MIGRATE_REQ = "/proc/sys/net/ipv4/tcp_migrate_req";

/** Lossless replacement needs tcp_migrate_req=1 (depot warns when it is 0): as root the test sets it for its run. */
async function withMigrateReq<T>(body: () => Promise<T>): Promise<T> {
  const original = readFileSync(MIGRATE_REQ, "utf8").trim();
  if (original !== "1") writeFileSync(MIGRATE_REQ, "1");
  try {
    return await body();
  } finally {
    if (original !== "1") writeFileSync(MIGRATE_REQ, original);
  }
}

describe("replacing workers under HTTP load", () => {
  test("HUP, then TTOU and TTIN, under keep-alive OCSP requests at c=8: no request fails", async () => {
    await withMigrateReq(async () => {
      const { server, httpPort } = await serverWithHttp();
      try {
        await server.ready;
        const reqFile = join(server.home, "req.der");
        await runAsync(["openssl", "ocsp", "-issuer", join(server.depotPath, "certificates", "ca.crt"), "-serial", "0x01", "-no_nonce", "-reqout", reqFile]);
        const body = new Uint8Array(readFileSync(reqFile));
        let running = true;
        let ok = 0;
        const failures: string[] = [];
        const lanes = Array.from({ length: 8 }, async () => {
          while (running) {
            try {
              const response = await fetch(`http://127.0.0.1:${httpPort}/ocsp`, { method: "POST", headers: { "Content-Type": "application/ocsp-request" }, body });
              const bytes = new Uint8Array(await response.arrayBuffer());
              if (response.status === 200 && bytes[0] === 0x30 && bytes.length > 100) ok++;
              else failures.push(`status ${response.status}, ${bytes.length} bytes`);
            } catch (error) {
              failures.push(String((error as Error)?.message ?? error));
            }
          }
        });
        await Bun.sleep(500);
        const logMark = server.log().length;
        server.process.kill("SIGHUP");
        await waitFor(() => server.log().slice(logMark).includes("All 2 new workers ready; stopping 2 old ones"), 15_000, () => server.log());
        await waitFor(() => (server.log().slice(logMark).match(/worker \d+ exited/g) ?? []).length >= 2, 15_000, () => server.log());
        server.process.kill("SIGTTOU");
        await waitFor(() => (server.log().slice(logMark).match(/worker \d+ exited/g) ?? []).length >= 3, 15_000, () => server.log());
        server.process.kill("SIGTTIN");
        const workersListed = () => JSON.parse(readFileSync(`${server.pidFile}.json`, "utf8")).workers?.length;
        await waitFor(() => workersListed() === 2, 15_000, () => `${workersListed()} workers; ${server.log()}`);
        await Bun.sleep(500);
        running = false;
        await Promise.all(lanes);
        const kinds = new Map<string, number>();
        for (const failure of failures) kinds.set(failure, (kinds.get(failure) ?? 0) + 1);
        console.log(`HTTP under HUP/TTOU/TTIN: ${ok} answered, ${failures.length} failed ${JSON.stringify(Object.fromEntries(kinds))}`);
        expect(ok).toBeGreaterThan(100);
        expect(failures).toEqual([]);
      } finally {
        await server.kill();
      }
    });
  }, TEST_TIMEOUT_MS);
});

describe("stopping with HTTP requests in flight", () => {
  test("QUIT: a request whose body was still arriving completes with its answer; idle keep-alive connections are closed", async () => {
    const { server, httpPort } = await serverWithHttp();
    try {
      await server.ready;
      const reqFile = join(server.home, "req.der");
      await runAsync(["openssl", "ocsp", "-issuer", join(server.depotPath, "certificates", "ca.crt"), "-serial", "0x01", "-no_nonce", "-reqout", reqFile]);
      const body = readFileSync(reqFile);
      let received = "";
      let closed = false;
      const socket = await Bun.connect({
        hostname: "127.0.0.1",
        port: httpPort,
        socket: {
          data(_s, data) {
            received += data.toString("latin1");
          },
          close() {
            closed = true;
          },
        },
      });
      // A keep-alive connection that was answered once and now idles.
      let idleReceived = "";
      let idleClosed = false;
      const idle = await Bun.connect({
        hostname: "127.0.0.1",
        port: httpPort,
        socket: {
          data(_s, data) {
            idleReceived += data.toString("latin1");
          },
          close() {
            idleClosed = true;
          },
        },
      });
      idle.write("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
      await waitFor(() => idleReceived.includes("\r\n\r\n{"), 5000, "no answer on the keep-alive connection");
      socket.write(`POST /ocsp HTTP/1.1\r\nHost: x\r\nContent-Type: application/ocsp-request\r\nContent-Length: ${body.length}\r\n\r\n`);
      socket.write(body.subarray(0, 10));
      await Bun.sleep(200); // the worker holds the request, waiting for the rest of its body
      server.process.kill("SIGQUIT");
      await Bun.sleep(300);
      await waitFor(() => idleClosed, 5000, "the idle keep-alive connection stayed open after QUIT");
      expect(closed).toBe(false); // the one in flight is still waiting for its body
      socket.write(body.subarray(10));
      await waitFor(() => closed, 15_000, () => `the connection was not closed; got ${JSON.stringify(received)}`);
      expect(received).toStartWith("HTTP/1.1 200 OK\r\n");
      expect(received.toLowerCase()).toContain("content-type: application/ocsp-response");
      expect(received.toLowerCase()).toContain("connection: close");
      expect(await server.process.exited).toBe(0);
    } finally {
      await server.kill();
    }
  }, TEST_TIMEOUT_MS);

  test("the http port is checked before start: in use, or the line protocol's own", async () => {
    const blocker = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    try {
      const home = tempDir("depot-http-busy-");
      const path = join(home, "ca");
      expect(depot(["init", path, "--key-type", "ec-p256"]).exitCode).toBe(0);
      const busy = depot(["start", path, "--port", String(freePort()), "--http-port", String(blocker.port), "--pid-file", join(home, "pid"), "--log-file", join(home, "log")], { env: { HOME: home } });
      expect(busy.exitCode).toBe(1);
      expect(busy.stderr).toBe(`depot: cannot listen on 127.0.0.1:${blocker.port}: the port is in use\n`);
      const port = freePort();
      const same = depot(["start", path, "--port", String(port), "--http-port", String(port), "--pid-file", join(home, "pid"), "--log-file", join(home, "log")], { env: { HOME: home } });
      expect(same.stderr).toBe(`depot: --http-port ${port} is the line protocol's port; give another\n`);
      const orphan = depot(["start", path, "--ocsp-validity", "2h", "--pid-file", join(home, "pid")], { env: { HOME: home } });
      expect(orphan.stderr).toBe("depot: --ocsp-validity needs --http-port\n");
    } finally {
      blocker.stop(true);
    }
  }, TEST_TIMEOUT_MS);
});
