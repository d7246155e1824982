/**
 * A real mutual-TLS handshake with certificates from the CLI: an
 * `openssl s_server` that requires a client certificate from the depot's CA
 * (-Verify 1 -verify_return_error), and `openssl s_client` connecting with
 * the depot's client certificate, another CA's, or none.
 *
 * The server runs in -rev mode: it sends every line back reversed, so a reply
 * proves application data went through after both sides were verified.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { depotOk as ok, tempDir } from "./helpers.ts";
import { exchange, issueToFiles as issue, killChildren, REPLY, startTlsServer, type TlsServer } from "./openssl-tls.ts";

const CHILD_TIMEOUT_MS = 10_000;

let caFile: string;
let otherCaFile: string;
let clientPair: { cert: string; key: string };
let strangerPair: { cert: string; key: string };
let tls: TlsServer;
let server: TlsServer["proc"];
let port: number;

beforeAll(async () => {
  const dir = tempDir("depot-mtls-");
  const home = join(dir, "home-ca");
  const other = join(dir, "other-ca");
  ok(["init", home, "Home CA"]);
  ok(["init", other, "Other CA", "--key-type", "ec-p256"]);
  caFile = join(home, "certificates", "ca.crt");
  otherCaFile = join(other, "certificates", "ca.crt");
  const serverPair = issue(home, ["--type", "server", "--cn", "localhost", "--san", "127.0.0.1"], dir, "server");
  clientPair = issue(home, ["--type", "client", "--cn", "Bob Owner", "--email", "bob@example.com"], dir, "bob");
  // Same subject, from a CA the server does not trust.
  strangerPair = issue(other, ["--type", "client", "--cn", "Bob Owner", "--email", "bob@example.com"], dir, "stranger");
  tls = await startTlsServer(["-cert", serverPair.cert, "-key", serverPair.key, "-CAfile", caFile, "-Verify", "1", "-verify_return_error"], CHILD_TIMEOUT_MS);
  server = tls.proc;
  port = tls.port;
});

afterAll(async () => {
  expect(await killChildren()).toBe(0);
});

/** s_client with `extra` (client certificate or none), server verification `verify`, trusting `ca`. */
function connect(extra: string[], verify: string[] = ["-verify_hostname", "localhost"], ca = caFile) {
  return exchange(tls, ["-CAfile", ca, ...verify, ...extra], CHILD_TIMEOUT_MS);
}

describe("mutual TLS with depot certificates (openssl s_server and s_client)", () => {
  test("the server is listening on a free port", () => {
    expect(port).toBeGreaterThan(0);
    expect(server.exitCode).toBeNull();
  });

  test("a client certificate from the depot is accepted, and the client verified the server's chain and name", async () => {
    const c = await connect(["-cert", clientPair.cert, "-key", clientPair.key]);
    expect(c.stdout).toBe(`${REPLY}\n`);
    expect(c.exitCode).toBe(0);
    expect(c.stderr).toContain("CONNECTION ESTABLISHED\n");
    expect(c.stderr).toContain("Peer certificate: CN = localhost\n");
    expect(c.stderr).toContain("Verification: OK\n");
    expect(c.stderr).toContain("Verified peername: localhost\n");
    expect(c.stderr).not.toContain("error");
    // The server checked the client's chain up to the depot's CA.
    expect(c.serverLog).toContain("depth=1 O = Home CA, CN = Home CA\n");
    expect(c.serverLog).toContain("depth=0 CN = Bob Owner, emailAddress = bob@example.com\n");
    expect(c.serverLog).toContain("Peer certificate: CN = Bob Owner, emailAddress = bob@example.com\n");
    expect(c.serverLog).toContain("Verification: OK\n");
    expect(c.serverLog).toContain("CONNECTION CLOSED\n");
    expect(c.serverLog).not.toContain("CONNECTION FAILURE");
  });

  test("the server certificate also verifies by its IP address SAN", async () => {
    const c = await connect(["-cert", clientPair.cert, "-key", clientPair.key], ["-verify_ip", "127.0.0.1"]);
    expect(c.stdout).toBe(`${REPLY}\n`);
    expect(c.exitCode).toBe(0);
    expect(c.stderr).toContain("Verification: OK\n");
    // ...and only by the names it holds.
    const wrongIp = await connect(["-cert", clientPair.cert, "-key", clientPair.key], ["-verify_ip", "127.0.0.2"]);
    expect(wrongIp.stdout).toBe("");
    expect(wrongIp.exitCode).toBe(1);
    expect(wrongIp.stderr).toContain("verify error:num=64:IP address mismatch");
  });

  test("a client that trusts another CA refuses the depot's server (so the client really checks the chain)", async () => {
    const c = await connect(["-cert", clientPair.cert, "-key", clientPair.key], ["-verify_hostname", "localhost"], otherCaFile);
    expect(c.stdout).toBe("");
    expect(c.exitCode).toBe(1);
    expect(c.stderr).toContain("verify error:num=19:self-signed certificate in certificate chain");
    expect(c.stderr).toContain("certificate verify failed");
    expect(c.stderr).not.toContain("CONNECTION ESTABLISHED");
  });

  test("a client certificate from another depot (another CA) is rejected", async () => {
    const c = await connect(["-cert", strangerPair.cert, "-key", strangerPair.key]);
    expect(c.stdout).toBe("");
    expect(c.exitCode).toBe(1);
    expect(c.stderr).toContain("tlsv1 alert unknown ca");
    expect(c.serverLog).toContain("depth=0 CN = Bob Owner, emailAddress = bob@example.com\n");
    expect(c.serverLog).toContain("verify error:num=20:unable to get local issuer certificate\n");
    expect(c.serverLog).toContain("certificate verify failed");
    expect(c.serverLog).toContain("CONNECTION FAILURE\n");
    expect(c.serverLog).not.toContain("CONNECTION ESTABLISHED");
  });

  test("a client without a certificate is rejected", async () => {
    const c = await connect([]);
    expect(c.stdout).toBe("");
    expect(c.exitCode).toBe(1);
    expect(c.stderr).toContain("alert certificate required");
    expect(c.serverLog).toContain("peer did not return a certificate");
    expect(c.serverLog).toContain("CONNECTION FAILURE\n");
    expect(c.serverLog).not.toContain("CONNECTION ESTABLISHED");
  });

  test("after all that, the server is still up and still serves the depot's client", async () => {
    const c = await connect(["-cert", clientPair.cert, "-key", clientPair.key]);
    expect(c.stdout).toBe(`${REPLY}\n`);
    expect(c.exitCode).toBe(0);
    expect(server.exitCode).toBeNull();
  });
});
