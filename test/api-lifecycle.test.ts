// The HTTPS listener in the server's life: QUIT answers every request in flight, a taken port stops the start, --https-cert serves a given certificate.
import { expect, test } from "bun:test";
import { appendFileSync, existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DEPOT_BIN, depot, depotOk, drain, openssl, pemBlocks, tempDir } from "./helpers.ts";
import { freePort, startServer, waitFor } from "./server-helpers.ts";

test("QUIT with HTTPS requests in flight: every one is answered 201, then the server exits 0", async () => {
  const port = freePort();
  const server = await startServer(["--https-port", String(port), "--process-count", "2", "--log-level", "debug", "--timeout", "120"]);
  try {
    await server.ready;
    const token = depotOk(["token", "create", server.depotPath, "--name", "load"]).trim();
    const caFile = join(server.depotPath, "certificates", "ca.crt");
    // RSA-3072 keys take a second or more to make: the requests are still being
    // worked on at QUIT.
    const clients = Array.from({ length: 6 }, (_, i) => {
      const body = JSON.stringify({ type: "client", cn: `in flight ${i}`, keyType: "rsa-3072" });
      const args = ["curl", "-sS", "-v", "--cacert", caFile, "-H", `Authorization: Bearer ${token}`, "-H", "Content-Type: application/json", "--data-binary", body, "-o", "-", "-w", "\n%{http_code}"];
      const proc = Bun.spawn([...args, `https://localhost:${port}/v1/certificates`], { stdout: "pipe", stderr: "pipe" });
      const trace = { text: "" };
      void drain(proc.stderr, trace);
      return { proc, trace, stdout: new Response(proc.stdout).text() };
    });
    // Taken up by the workers (the debug log says so): from then on they are the server's to answer.
    await waitFor(() => (server.log().match(/received POST \/v1\/certificates/g) ?? []).length === 6, 30_000, () => `every request received; log:\n${server.log()}`);
    const answeredBeforeQuit = clients.filter((c) => c.proc.exitCode !== null).length;
    server.process.kill("SIGQUIT");
    const outputs = await Promise.all(clients.map((c) => c.stdout));
    await Promise.all(clients.map((c) => c.proc.exited));
    const failed = clients.filter((_, i) => outputs[i]!.trim().split("\n").at(-1) !== "201");
    if (failed.length) console.error(server.log());
    expect(failed.map((c) => c.trace.text.split("\n").slice(-3).join(" | "))).toEqual([]);
    expect(answeredBeforeQuit).toBeLessThan(6);
    expect(await server.process.exited).toBe(0);
    const file = join(server.home, "leaf.pem");
    writeFileSync(file, (JSON.parse(outputs[5]!.trim().split("\n").slice(0, -1).join("\n")) as { certificate: string }).certificate);
    expect(openssl(["verify", "-CAfile", caFile, file]).stdout.trim()).toBe(`${file}: OK`);
  } finally {
    await server.kill();
  }
}, 90_000);

test("an HTTPS port in use stops the start with a message naming it", async () => {
  const taken = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  try {
    const home = tempDir();
    const path = join(home, "ca");
    depotOk(["init", path, "--key-type", "ec-p256"]);
    const result = depot(["start", path, "--port", String(freePort()), "--https-port", String(taken.port), "--pid-file", join(home, "p.pid")], { env: { HOME: home } });
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toBe(`depot: cannot listen on 127.0.0.1:${taken.port}: the port is in use\n`);
  } finally {
    taken.stop(true);
  }
});

test("--https-cert and --https-key serve a given certificate; the depot makes none", async () => {
  const home = tempDir();
  const given = join(home, "given");
  depotOk(["init", given, "--key-type", "ec-p256"]);
  const [key, cert] = pemBlocks(depotOk(["generate", given, "--type", "server", "--cn", "localhost", "--san", "127.0.0.1"]));
  writeFileSync(join(home, "site.key"), key!, { mode: 0o600 });
  writeFileSync(join(home, "site.crt"), cert!);
  const port = freePort();
  const server = await startServer(["--https-port", String(port), "--https-cert", join(home, "site.crt"), "--https-key", join(home, "site.key")]);
  try {
    await server.ready;
    const served = openssl(["s_client", "-connect", `127.0.0.1:${port}`, "-servername", "localhost", "-verify_return_error", "-CAfile", join(given, "certificates", "ca.crt")], "");
    expect(served.stdout).toContain("Verify return code: 0 (ok)");
    expect(existsSync(join(server.depotPath, "https.crt"))).toBe(false);
  } finally {
    server.process.kill("SIGQUIT");
    await server.process.exited;
  }
  const lone = depot(["start", given, "--https-key", join(home, "site.key")]);
  expect(lone.stderr).toBe("depot: --https-key needs --https-port\n");
  const half = depot(["start", given, "--https-port", "1", "--https-key", join(home, "site.key")]);
  expect(half.stderr).toBe("depot: --https-cert and --https-key go together\n");
});

test("a request to a path outside /v1/ is a 404 problem", async () => {
  const port = freePort();
  const server = await startServer(["--https-port", String(port)]);
  try {
    await server.ready;
    const ca = readFileSync(join(server.depotPath, "certificates", "ca.crt"), "utf8");
    await waitFor(async () => (await fetch(`https://localhost:${port}/`, { tls: { ca } }).catch(() => undefined)) !== undefined, 5000);
    const response = await fetch(`https://localhost:${port}/index.html`, { tls: { ca } });
    expect(response.status).toBe(404);
    expect(response.headers.get("content-type")).toBe("application/problem+json");
    expect(((await response.json()) as { detail: string }).detail).toBe("no such path: /index.html (the API is under /v1/, EST under /.well-known/est/, SCEP at /scep)");
  } finally {
    server.process.kill("SIGQUIT");
    await server.process.exited;
  }
});

test("depot.cnf's https_port turns the API on without the flag; --api-url must be an https:// URL", async () => {
  const home = tempDir();
  const path = join(home, "ca");
  depotOk(["init", path, "--key-type", "ec-p256"]);
  const port = freePort();
  appendFileSync(join(path, "depot.cnf"), `https_port      = ${port}\n`);
  const bad = depot(["start", path, "--port", String(freePort()), "--api-url", "http://ca.example.net/"], { env: { HOME: home } });
  expect(bad.stderr).toBe("depot: --api-url must be an https:// URL without query, fragment or credentials, not 'http://ca.example.net/'\n");
  const server = Bun.spawn([DEPOT_BIN, "start", path, "--port", String(freePort()), "--pid-file", join(home, "p.pid"), "--log-file", join(home, "log"), "--api-url", "https://ca.example.net:8443/"], {
    env: { ...process.env, HOME: home },
    stdout: "ignore",
    stderr: "ignore",
  });
  try {
    const ca = readFileSync(join(path, "certificates", "ca.crt"), "utf8");
    let status = 0;
    await waitFor(async () => (status = (await fetch(`https://localhost:${port}/v1/certificates`, { tls: { ca } }).catch(() => undefined))?.status ?? 0) !== 0, 10_000);
    expect(status).toBe(401);
  } finally {
    server.kill("SIGQUIT");
    await server.exited;
  }
});
