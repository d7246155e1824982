/**
 * The CRL in a real TLS server: `depot config` names crl.pem for Apache and
 * nginx, and an `openssl s_server` loaded with that CRL (-CRL ... -crl_check,
 * requiring a client certificate) accepts a valid client certificate and
 * rejects a revoked one. The server runs in -rev mode: it sends each line
 * back reversed, so a reply proves data went through after the handshake.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { depotOk as ok, tempDir } from "./helpers.ts";
import { type Exchange as Outcome, exchange, issueToFiles, killChildren, REPLY, startTlsServer as startServer, type TlsServer } from "./openssl-tls.ts";

/** Real processes on a busy machine: generous, explicit per test. */
const TEST_TIMEOUT_MS = 45_000;
const CHILD_TIMEOUT_MS = 15_000;

interface Pair {
  cert: string;
  key: string;
  serial: string;
}

function issue(args: string[], name: string): Pair {
  const pair = issueToFiles(depotPath, ["--key-type", "ec-p256", ...args], dir, name);
  const serial = /^serial=([0-9A-F]+)$/m.exec(Bun.spawnSync(["openssl", "x509", "-in", pair.cert, "-noout", "-serial"]).stdout.toString())![1]!;
  return { ...pair, serial };
}

let dir: string;
let depotPath: string;
let config: string;
let caFile: string;
let crlFile: string;
let serverPair: Pair;
let good: Pair;
let bad: Pair;

/** `openssl s_server` requiring a client certificate from the depot's CA, checked against the CRL (read once, at start). */
function startTlsServer(): Promise<TlsServer> {
  return startServer(
    ["-cert", serverPair.cert, "-key", serverPair.key, "-CAfile", caFile, "-Verify", "1", "-verify_return_error", "-CRL", crlFile, "-crl_check"],
    CHILD_TIMEOUT_MS,
  );
}

/** Connects with s_client and a client certificate, sends MESSAGE, waits for the reply or the end. */
function connect(server: TlsServer, client: Pair): Promise<Outcome> {
  return exchange(server, ["-cert", client.cert, "-key", client.key, "-CAfile", caFile, "-verify_hostname", "localhost"], CHILD_TIMEOUT_MS);
}

function expectAccepted(c: Outcome, cn: string): void {
  expect(c.stdout).toBe(`${REPLY}\n`);
  expect(c.exitCode).toBe(0);
  expect(c.stderr).toContain("CONNECTION ESTABLISHED\n");
  expect(c.stderr).toContain("Verification: OK\n");
  expect(c.serverLog).toContain(`depth=0 CN = ${cn}\n`);
  expect(c.serverLog).toContain(`Peer certificate: CN = ${cn}\n`);
  expect(c.serverLog).toContain("CONNECTION CLOSED\n");
  expect(c.serverLog).not.toContain("verify error");
  expect(c.serverLog).not.toContain("CONNECTION FAILURE");
}

beforeAll(() => {
  dir = tempDir("depot-crl-tls-");
  depotPath = join(dir, "ca");
  ok(["init", depotPath, "TLS CA", "--key-type", "ec-p256"]);
  serverPair = issue(["--type", "server", "--cn", "localhost", "--san", "127.0.0.1"], "server");
  good = issue(["--type", "client", "--cn", "Good Client"], "good");
  bad = issue(["--type", "client", "--cn", "Bad Client"], "bad");
  config = ok(["config", depotPath]);
  // The files the web server is told to load are the ones used below.
  caFile = /^SSLCACertificateFile (.+)$/m.exec(config)?.[1] ?? "";
  crlFile = /^SSLCARevocationFile (.+)$/m.exec(config)?.[1] ?? "";
}, TEST_TIMEOUT_MS);

afterAll(async () => {
  expect(await killChildren()).toBe(0);
});

describe("depot config", () => {
  test("names crl.pem for Apache (chain check) and nginx", () => {
    expect(caFile).toBe(join(depotPath, "certificates", "ca.crt"));
    expect(crlFile).toBe(join(depotPath, "crl.pem"));
    const lines = config.split("\n");
    expect(lines).toContain(`SSLCARevocationFile ${depotPath}/crl.pem`);
    expect(lines).toContain("SSLCARevocationCheck chain");
    expect(lines).toContain(`ssl_crl ${depotPath}/crl.pem;`);
    expect(lines).toContain(`SSLCACertificateFile ${depotPath}/certificates/ca.crt`);
    expect(lines).toContain(`ssl_client_certificate ${depotPath}/certificates/ca.crt;`);
    expect(lines).toContain("SSLVerifyClient require");
    expect(lines).toContain("ssl_verify_client on;");
  }, TEST_TIMEOUT_MS);
});

describe("openssl s_server with the depot's CRL", () => {
  test("before the revocation both clients get in; after it (server restarted with the new crl.pem) the revoked one is rejected", async () => {
    try {
      const before = await startTlsServer();
      expectAccepted(await connect(before, good), "Good Client");
      expectAccepted(await connect(before, bad), "Bad Client");
      before.proc.kill("SIGKILL");
      await before.proc.exited;

      expect(ok(["revoke", depotPath, bad.serial, "--reason", "keyCompromise"])).toStartWith(`Revoked ${bad.serial} (CN=Bad Client), reason keyCompromise\n`);

      const after = await startTlsServer();
      const rejected = await connect(after, bad);
      expect(rejected.stdout).toBe("");
      expect(rejected.exitCode).toBe(1);
      expect(rejected.stderr).toContain("alert certificate revoked");
      expect(rejected.serverLog).toContain("depth=0 CN = Bad Client\n");
      expect(rejected.serverLog).toContain("verify error:num=23:certificate revoked\n");
      expect(rejected.serverLog).toContain("CONNECTION FAILURE\n");
      expect(rejected.serverLog).not.toContain("CONNECTION CLOSED");

      // The valid one still gets in, on the same server.
      expectAccepted(await connect(after, good), "Good Client");
      expect(after.proc.exitCode).toBeNull();
    } finally {
      await killChildren();
    }
  }, TEST_TIMEOUT_MS);
});
