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
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DEPOT_BIN, pemBlocks } from "./helpers.ts";
import { type RunningNginx, startNginx } from "./nginx.ts";
import { runAsync } from "./ocsp-helpers.ts";
import { freePort, request, type RunningServer, startServer } from "./server-helpers.ts";

const TEST_TIMEOUT_MS = 60_000;
let server: RunningServer;
let nginx: RunningNginx | undefined;
/** The folder with the keys and certificates of nginx and of its client. */
let certificates: string;
let caFile: string;
const client = { cert: "", key: "", serial: "" };

beforeAll(async () => {
  const httpPort = freePort();
  server = await startServer(["--http-port", String(httpPort), "--public-url", `http://127.0.0.1:${httpPort}`]);
  await server.ready;
  caFile = join(server.depotPath, "certificates", "ca.crt");
  certificates = join(server.home, "certificates");
  mkdirSync(certificates);

  // nginx's own certificate, from the CLI; the client's over the line protocol (the server adds the AIA).
  const serverPem = await runAsync([DEPOT_BIN, "generate", server.depotPath, "--type", "server", "--cn", "localhost", "--san", "127.0.0.1"]);
  const [serverKey, serverCert] = pemBlocks(serverPem.stdout);
  writeFileSync(join(certificates, "server.key"), serverKey!, { mode: 0o600 });
  writeFileSync(join(certificates, "server.crt"), serverCert!);
  const [clientKey, clientCert] = pemBlocks(await request(server.port, "generate /CN=nginx-client"));
  client.key = join(certificates, "client.key");
  client.cert = join(certificates, "client.crt");
  writeFileSync(client.key, clientKey!, { mode: 0o600 });
  writeFileSync(client.cert, clientCert!);
  client.serial = (await runAsync(["openssl", "x509", "-in", client.cert, "-noout", "-serial"])).stdout.trim().slice("serial=".length);
  expect((await runAsync(["openssl", "x509", "-in", client.cert, "-noout", "-ocsp_uri"])).stdout).toBe(`http://127.0.0.1:${httpPort}/ocsp\n`);

  nginx = await startNginx({
    certificate: join(certificates, "server.crt"),
    key: join(certificates, "server.key"),
    directives: `ssl_client_certificate ${caFile};
ssl_verify_client on;
ssl_ocsp on;`,
  });
}, TEST_TIMEOUT_MS);

afterAll(async () => {
  await nginx?.stop();
  await server?.kill();
});

function curlWithClientCertificate() {
  return runAsync(["curl", "-s", "-o", "-", "-w", "\n%{http_code}", "--cacert", caFile, "--cert", client.cert, "--key", client.key, `https://127.0.0.1:${nginx!.port}/`]);
}

test("nginx with ssl_ocsp: 200 for a good client certificate; refused on the next connection after depot revoke, without a reload", async () => {
  const before = await curlWithClientCertificate();
  expect(before.stdout).toBe("hello CN=nginx-client\n\n200");

  const revoked = await runAsync([DEPOT_BIN, "revoke", server.depotPath, client.serial, "--reason", "keyCompromise"]);
  expect(revoked.exitCode).toBe(0);

  const after = await curlWithClientCertificate();
  expect(after.stdout).toEndWith("\n400");
  expect(after.stdout).toContain("The SSL certificate error");
  expect(nginx!.errorLog()).toContain("client SSL certificate verify error: certificate revoked");
  // The same nginx process throughout: no reload happened.
  expect(nginx!.process.exitCode).toBeNull();
}, TEST_TIMEOUT_MS);
