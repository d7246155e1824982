// depot start --https-port P --acme serves ACME at https://HOST:P/acme/ from
// every worker of a real dist/depot with 2 workers: lego gets a certificate
// that openssl verifies and `depot list` shows; a worker SIGKILLed between
// order creation and finalize, in the middle of the validation, costs the
// client nothing; without --acme there is no /acme/.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { X509Certificate } from "node:crypto";
import { readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { csrFor, TestAcmeClient } from "./acme-clients/client.ts";
import { type ChallTestSrv, runAsync, startChallTestSrv, startHttp01Responder } from "./acme-clients/harness.ts";
import { depot, openssl, pemBlocks, tempDir } from "./helpers.ts";
import { freePort, type RunningServer, startServer, waitFor, workerPids } from "./server-helpers.ts";
import { ensureTool } from "./tools.ts";

let dns: ChallTestSrv;
let server: RunningServer;
let responder: ReturnType<typeof startHttp01Responder>;
let httpsPort: number;
let legoHttpPort: number;

beforeAll(async () => {
  ensureTool("lego", "lego");
  dns = await startChallTestSrv();
  responder = startHttp01Responder();
  httpsPort = freePort();
  legoHttpPort = freePort();
  // The validator's http-01 port is the responder's; lego's own port is checked through a second server below.
  server = await startServer([
    "--process-count", "2",
    "--https-port", String(httpsPort),
    "--acme",
    "--acme-allow", "*.test",
    "--acme-allow", "10.0.0.0/8",
    "--acme-http-port", String(responder.port),
    "--acme-resolver", `127.0.0.1:${dns.dnsPort}`,
  ]);
  await server.ready;
}, 60_000);

afterAll(async () => {
  await server?.kill();
  responder?.stop();
  dns?.stop();
});

const caFile = () => join(server.depotPath, "certificates", "ca.crt");
const directory = () => `https://localhost:${httpsPort}/acme/directory`;

test("a worker SIGKILLed while validating an order: the client still completes it, and depot list shows the certificate", async () => {
  const caPem = readFileSync(caFile(), "utf8");
  const client = await TestAcmeClient.connect(directory(), caPem);
  expect((await client.register()).status).toBe(201);
  const created = await client.post<{ authorizations: string[]; finalize: string }>(client.directory.newOrder, { identifiers: [{ type: "dns", value: "crash.server.test" }] });
  expect(created.status).toBe(201);
  const authzUrl = created.body.authorizations[0]!;
  const challenge = (await client.post<{ challenges: Array<{ type: string; url: string; token: string }> }>(authzUrl, undefined)).body.challenges.find((c) => c.type === "http-01")!;

  // Hold the responder's answer so the validation is in flight when its worker dies.
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  responder.tokens.set(challenge.token, client.keyAuthorization(challenge.token));
  responder.hold = held;
  await client.post(challenge.url, {});
  const ledger = new Database(join(server.depotPath, "ledger.sqlite3"), { readonly: true });
  const owner = ledger.query<{ processing_by: string | null }, [string]>("SELECT processing_by FROM acme_challenges WHERE token = ?").get(challenge.token)!.processing_by!;
  ledger.close();
  const victim = Number(owner.split(":").pop());
  const before = workerPids(server.process.pid);
  expect(before).toContain(victim);
  process.kill(victim, "SIGKILL");
  responder.hold = undefined;
  release();
  await waitFor(() => workerPids(server.process.pid).length === 2 && !workerPids(server.process.pid).includes(victim), 10_000, "the supervisor replaces the killed worker");

  const authz = await client.poll<{ status: string }>(authzUrl, (a) => a.status !== "pending", 10_000);
  if (authz.status !== "valid") throw new Error(`authorization ${JSON.stringify(authz)}\nlog:\n${server.log().slice(-3000)}`);
  const finalized = await client.post<{ status: string; certificate: string }>(created.body.finalize, { csr: csrFor(["crash.server.test"]).der.toString("base64url") });
  expect(finalized.body.status).toBe("valid");
  const leafPem = pemBlocks((await client.post(finalized.body.certificate, undefined)).text)[0]!;
  const leaf = new X509Certificate(leafPem);
  expect(leaf.subjectAltName).toBe("DNS:crash.server.test");
  const list = depot(["list", server.depotPath]);
  expect(list.stdout).toContain(leaf.serialNumber.replace(/^(00)+(?=..)/, ""));
}, 60_000);

test("the workers share one nonce book: each nonce is spent once by whichever worker sees it, the book outlives its workers, and the ledger keeps no nonce", async () => {
  const caPem = readFileSync(caFile(), "utf8");
  const client = await TestAcmeClient.connect(directory(), caPem);
  client.freshConnections = true;
  expect((await client.register()).status).toBe(201);
  // Each worker holds it as its descriptor 3: a file of the supervisor's, unlinked as soon as it was made.
  const supervisorPid = server.process.pid;
  for (const pid of workerPids(supervisorPid)) expect(readlinkSync(`/proc/${pid}/fd/3`)).toMatch(new RegExp(`/\\.nonce-book-${supervisorPid}-[0-9a-f]{12} \\(deleted\\)$`));
  for (let i = 0; i < 8; i++) {
    const nonce = await client.freshNonce();
    expect((await client.post(client.kid!, undefined, { nonce })).status).toBe(200);
    expect((await client.post(client.kid!, undefined, { nonce })).body.type).toBe("urn:ietf:params:acme:error:badNonce");
  }
  // Both workers die; their replacements get the supervisor's book, and a nonce handed out before is still good once.
  const handedOut = await client.freshNonce();
  const spentBefore = await client.freshNonce();
  expect((await client.post(client.kid!, undefined, { nonce: spentBefore })).status).toBe(200);
  const killed = workerPids(supervisorPid);
  for (const pid of killed) process.kill(pid, "SIGKILL");
  await waitFor(() => workerPids(supervisorPid).filter((pid) => !killed.includes(pid)).length === 2, 15_000, "two new workers");
  await waitFor(async () => (await fetch(directory(), { tls: { ca: caPem }, keepalive: false } as RequestInit).catch(() => undefined))?.status === 200, 10_000, "the new workers answer");
  expect((await client.post(client.kid!, undefined, { nonce: handedOut })).status).toBe(200);
  expect((await client.post(client.kid!, undefined, { nonce: handedOut })).body.type).toBe("urn:ietf:params:acme:error:badNonce");
  expect((await client.post(client.kid!, undefined, { nonce: spentBefore })).body.type).toBe("urn:ietf:params:acme:error:badNonce");
  const ledger = new Database(join(server.depotPath, "ledger.sqlite3"), { readonly: true });
  expect(ledger.query("SELECT count(*) AS n FROM acme_spent_nonces").get()).toEqual({ n: 0 });
  ledger.close();
}, 60_000);

test("lego gets a certificate from the server's /acme/ over http-01; openssl verifies it", async () => {
  // A second server, whose validator connects to lego's own http-01 port.
  const legoHttpsPort = freePort();
  const legoServer = await startServer(["--process-count", "2", "--https-port", String(legoHttpsPort), "--acme", "--acme-http-port", String(legoHttpPort), "--acme-resolver", `127.0.0.1:${dns.dnsPort}`]);
  try {
    await legoServer.ready;
    const ca = join(legoServer.depotPath, "certificates", "ca.crt");
    const dir = tempDir("lego-");
    const result = await runAsync(
      ["lego", "--server", `https://localhost:${legoHttpsPort}/acme/directory`, "--accept-tos", "--email", "ops@example.test", "--path", dir, "--domains", "site.server.test", "--domains", "www.server.test", "--http", "--http.port", `127.0.0.1:${legoHttpPort}`, "run"],
      { env: { LEGO_CA_CERTIFICATES: ca } },
    );
    if (result.exitCode !== 0) throw new Error(`lego failed:\n${result.stderr.slice(-3000)}\nserver log:\n${legoServer.log().slice(-3000)}`);
    const leafFile = join(dir, "leaf.pem");
    await Bun.write(leafFile, pemBlocks(readFileSync(join(dir, "certificates", "site.server.test.crt"), "utf8"))[0]!);
    expect(openssl(["verify", "-CAfile", ca, "-purpose", "sslserver", leafFile]).stdout.trim()).toBe(`${leafFile}: OK`);
    const leaf = new X509Certificate(readFileSync(leafFile));
    expect(leaf.subjectAltName).toBe("DNS:site.server.test, DNS:www.server.test");
    // The listener tells finalize lego's address (asked for only there), and the audit record keeps it.
    const serial = leaf.serialNumber.toLowerCase().replace(/^(00)+(?=..)/, "");
    const audit = depot(["audit", "export", legoServer.depotPath]).stdout.split("\n").filter(Boolean).map((line) => JSON.parse(line));
    expect(audit.find((entry) => entry.serial === serial && entry.event === "issue")).toMatchObject({ requester: expect.stringMatching(/^acme:/), client: "127.0.0.1" });
  } finally {
    await legoServer.kill();
  }
}, 90_000);

test("without --acme the HTTPS listener has no /acme/; --acme without --https-port is refused", async () => {
  const plainPort = freePort();
  const plain = await startServer(["--https-port", String(plainPort)]);
  try {
    await plain.ready;
    const response = await fetch(`https://localhost:${plainPort}/acme/directory`, { tls: { ca: readFileSync(join(plain.depotPath, "certificates", "ca.crt"), "utf8") } } as RequestInit);
    expect(response.status).toBe(404);
  } finally {
    await plain.kill();
  }
  const refused = depot(["start", tempDir(), "--acme"]);
  expect(refused.exitCode).toBe(1);
  expect(refused.stderr).toBe("depot: --acme needs --https-port (ACME is served on the HTTPS listener)\n");
}, 60_000);
