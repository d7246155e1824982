/**
 * Real-time revocation reaches a real nginx: with `ssl_verify_client on;
 * ssl_ocsp on;` nginx asks depot's OCSP responder at the URL in the client
 * certificate's AIA. A client certificate gets 200; after `depot revoke`
 * from the CLI, the same certificate is refused on the next connection,
 * without reloading nginx. nginx runs as a real process on a free loopback
 * port with its own prefix and configuration in a temp folder (installed
 * from Debian by the test set-up where missing).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { Subprocess } from "bun";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DEPOT_BIN, pemBlocks } from "./helpers.ts";
import { runAsync } from "./ocsp-helpers.ts";
import { freePort, request, type RunningServer, startServer, waitFor } from "./server-helpers.ts";
import { ensureTool } from "./tools.ts";

const TEST_TIMEOUT_MS = 60_000;
let server: RunningServer;
let nginx: Subprocess | undefined;
let nginxPort: number;
let prefix: string;
let caFile: string;
const client = { cert: "", key: "", serial: "" };

beforeAll(async () => {
  ensureTool("nginx", "nginx");
  const httpPort = freePort();
  server = await startServer(["--http-port", String(httpPort), "--public-url", `http://127.0.0.1:${httpPort}`]);
  await server.ready;
  caFile = join(server.depotPath, "certificates", "ca.crt");
  prefix = join(server.home, "nginx");
  mkdirSync(join(prefix, "logs"), { recursive: true });

  // nginx's own certificate, from the CLI; the client's over the line protocol (the server adds the AIA).
  const serverPem = await runAsync([DEPOT_BIN, "generate", server.depotPath, "--type", "server", "--cn", "localhost", "--san", "127.0.0.1"]);
  const [serverKey, serverCert] = pemBlocks(serverPem.stdout);
  writeFileSync(join(prefix, "server.key"), serverKey!, { mode: 0o600 });
  writeFileSync(join(prefix, "server.crt"), serverCert!);
  const [clientKey, clientCert] = pemBlocks(await request(server.port, "generate /CN=nginx-client"));
  client.key = join(prefix, "client.key");
  client.cert = join(prefix, "client.crt");
  writeFileSync(client.key, clientKey!, { mode: 0o600 });
  writeFileSync(client.cert, clientCert!);
  client.serial = (await runAsync(["openssl", "x509", "-in", client.cert, "-noout", "-serial"])).stdout.trim().slice("serial=".length);
  expect((await runAsync(["openssl", "x509", "-in", client.cert, "-noout", "-ocsp_uri"])).stdout).toBe(`http://127.0.0.1:${httpPort}/ocsp\n`);

  nginxPort = freePort();
  writeFileSync(
    join(prefix, "nginx.conf"),
    `daemon off;
master_process off;
pid ${prefix}/nginx.pid;
error_log ${prefix}/logs/error.log info;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${prefix}/client_body;
  proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi;
  scgi_temp_path ${prefix}/scgi;
  server {
    listen 127.0.0.1:${nginxPort} ssl;
    ssl_certificate ${prefix}/server.crt;
    ssl_certificate_key ${prefix}/server.key;
    ssl_client_certificate ${caFile};
    ssl_verify_client on;
    ssl_ocsp on;
    location / { return 200 "hello $ssl_client_s_dn\\n"; }
  }
}
`,
  );
  nginx = Bun.spawn(["nginx", "-p", prefix, "-c", join(prefix, "nginx.conf"), "-e", join(prefix, "logs", "error.log")], { stdout: "ignore", stderr: "pipe", stdin: "ignore" });
  await waitFor(() => {
    const log = readFileSync(join(prefix, "logs", "error.log"), { encoding: "utf8", flag: "a+" });
    if (/\[emerg\]/.test(log)) throw new Error(`nginx did not start: ${log}`);
    return Bun.spawnSync(["bash", "-c", `exec 3<>/dev/tcp/127.0.0.1/${nginxPort}`]).exitCode === 0;
  }, 15_000, () => `nginx did not listen on ${nginxPort}`);
}, TEST_TIMEOUT_MS);

afterAll(async () => {
  nginx?.kill("SIGKILL");
  await nginx?.exited;
  await server?.kill();
});

function curlWithClientCertificate() {
  return runAsync(["curl", "-s", "-o", "-", "-w", "\n%{http_code}", "--cacert", caFile, "--cert", client.cert, "--key", client.key, `https://127.0.0.1:${nginxPort}/`]);
}

test("nginx with ssl_ocsp: 200 for a good client certificate; refused on the next connection after depot revoke, without a reload", async () => {
  const before = await curlWithClientCertificate();
  expect(before.stdout).toBe("hello CN=nginx-client\n\n200");

  const revoked = await runAsync([DEPOT_BIN, "revoke", server.depotPath, client.serial, "--reason", "keyCompromise"]);
  expect(revoked.exitCode).toBe(0);

  const after = await curlWithClientCertificate();
  expect(after.stdout).toEndWith("\n400");
  expect(after.stdout).toContain("The SSL certificate error");
  const log = readFileSync(join(prefix, "logs", "error.log"), "utf8");
  expect(log).toContain("client SSL certificate verify error: certificate revoked");
  // The same nginx process throughout: no reload happened.
  expect(nginx!.exitCode).toBeNull();
}, TEST_TIMEOUT_MS);
