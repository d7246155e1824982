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
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { depotOk as ok, drain, pemBlocks, tempDir } from "./helpers.ts";
import { waitFor } from "./server-helpers.ts";


const CHILD_TIMEOUT_MS = 10_000;
const MESSAGE = "hello from a depot client";
const REPLY = [...MESSAGE].reverse().join("");

const children = new Set<Bun.Subprocess>();
function spawn(cmd: string[], timeout: number): Bun.Subprocess<"pipe", "pipe", "pipe"> {
  const proc = Bun.spawn(cmd, { stdin: "pipe", stdout: "pipe", stderr: "pipe", timeout, killSignal: "SIGKILL" });
  children.add(proc);
  void proc.exited.then(() => children.delete(proc));
  return proc;
}

/** Writes `depot generate` output (key then certificate) to KEY and CRT files. */
function issue(depotPath: string, args: string[], dir: string, name: string): { cert: string; key: string } {
  const [key, cert, ...rest] = pemBlocks(ok(["generate", depotPath, ...args]));
  if (!key || !cert || rest.length) throw new Error("generate did not print a key and a certificate");
  const paths = { key: join(dir, `${name}.key`), cert: join(dir, `${name}.crt`) };
  writeFileSync(paths.key, key, { mode: 0o600 });
  writeFileSync(paths.cert, cert);
  return paths;
}

let dir: string;
let caFile: string;
let otherCaFile: string;
let serverPair: { cert: string; key: string };
let clientPair: { cert: string; key: string };
let strangerPair: { cert: string; key: string };
let server: Bun.Subprocess<"pipe", "pipe", "pipe">;
const serverLog = { text: "" };
let port: number;

beforeAll(async () => {
  dir = tempDir("depot-mtls-");
  const home = join(dir, "home-ca");
  const other = join(dir, "other-ca");
  ok(["init", home, "Home CA"]);
  ok(["init", other, "Other CA", "--key-type", "ec-p256"]);
  caFile = join(home, "certificates", "ca.crt");
  otherCaFile = join(other, "certificates", "ca.crt");
  serverPair = issue(home, ["--type", "server", "--cn", "localhost", "--san", "127.0.0.1"], dir, "server");
  clientPair = issue(home, ["--type", "client", "--cn", "Bob Owner", "--email", "bob@example.com"], dir, "bob");
  // Same subject, from a CA the server does not trust.
  strangerPair = issue(other, ["--type", "client", "--cn", "Bob Owner", "--email", "bob@example.com"], dir, "stranger");

  // Port 0: the kernel picks a free port, and s_server prints it.
  server = spawn(
    [
      "openssl", "s_server", "-accept", "127.0.0.1:0", "-rev",
      "-cert", serverPair.cert, "-key", serverPair.key,
      "-CAfile", caFile, "-Verify", "1", "-verify_return_error",
    ],
    60_000,
  );
  void drain(server.stdout, serverLog);
  void drain(server.stderr, serverLog);
  await waitFor(() => /^ACCEPT .*:(\d+)$/m.test(serverLog.text) || server.exitCode !== null, CHILD_TIMEOUT_MS, "s_server to listen");
  const match = /^ACCEPT .*:(\d+)$/m.exec(serverLog.text);
  if (!match) throw new Error(`s_server did not start: ${serverLog.text}`);
  port = Number(match[1]);
});

afterAll(async () => {
  for (const proc of children) proc.kill("SIGKILL");
  await Promise.all([...children].map((proc) => proc.exited));
  expect(children.size).toBe(0);
});

interface Connection {
  exitCode: number | null;
  stdout: string;
  stderr: string;
  /** What the server logged during this connection. */
  serverLog: string;
}

/**
 * Connects with s_client, sends MESSAGE and waits for the reversed reply or
 * for s_client to give up; then closes stdin so it says goodbye and exits.
 */
async function connect(extra: string[], verify: string[] = ["-verify_hostname", "localhost"], ca = caFile): Promise<Connection> {
  const logStart = serverLog.text.length;
  const proc = spawn(
    [
      "openssl", "s_client", "-connect", `127.0.0.1:${port}`, "-servername", "localhost",
      "-CAfile", ca, ...verify, "-verify_return_error", "-brief", "-no_ign_eof", ...extra,
    ],
    CHILD_TIMEOUT_MS,
  );
  const out = { text: "" };
  const err = { text: "" };
  const drained = Promise.all([drain(proc.stdout, out), drain(proc.stderr, err)]);
  proc.stdin.write(`${MESSAGE}\n`);
  await proc.stdin.flush();
  await waitFor(() => out.text.includes(REPLY) || proc.exitCode !== null, CHILD_TIMEOUT_MS, "s_client").catch(() => {});
  await proc.stdin.end();
  await proc.exited;
  await drained;
  // The server logs the outcome of each connection; wait for it.
  await waitFor(
    () => /CONNECTION (CLOSED|FAILURE)/.test(serverLog.text.slice(logStart)),
    CHILD_TIMEOUT_MS,
    "the server to log the connection",
  ).catch(() => {});
  return { exitCode: proc.exitCode, stdout: out.text, stderr: err.text, serverLog: serverLog.text.slice(logStart) };
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
