// lego (Debian's) against a real dist/depot with --acme and the issuance
// webhooks served by this test: an order the authorize webhook denies ends
// in lego's error naming the reason (ACME unauthorized, 403) with nothing
// issued; an allowed one is issued with enrich's extension (openssl reads
// it); the webhook saw face acme and the ACME account; the audit verifies.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { type ChallTestSrv, freePort, runAsync, type ServedAcme, startChallTestSrv, startServedAcme, writeTemp } from "./acme-clients/harness.ts";
import { depotOk, openssl, pemBlocks, tempDir } from "./helpers.ts";
import { ensureTool } from "./tools.ts";
import { startWebhookReceiver, type WebhookReceiver } from "./webhook-receiver.ts";

const TEAM_OID = "1.3.6.1.4.1.55555.1";

let dns: ChallTestSrv;
let acme: ServedAcme;
let hook: WebhookReceiver;
let httpPort: number;

beforeAll(async () => {
  ensureTool("lego", "lego");
  ensureTool("curl", "curl");
  hook = startWebhookReceiver();
  hook.behave = {
    authorize: (call) => (call.request.subjectAltNames.some((name) => name.value.startsWith("denied.")) ? { deny: "denied.* names are reserved" } : "allow"),
    enrich: () => ({ add: { extensions: [{ oid: TEAM_OID, critical: false, value: Buffer.from([0x0c, 0x04, ...Buffer.from("acme")]).toString("base64") }] } }),
  };
  dns = await startChallTestSrv();
  httpPort = freePort();
  acme = await startServedAcme([
    "--acme-http-port", String(httpPort),
    "--acme-resolver", `127.0.0.1:${dns.dnsPort}`,
    "--authorize-webhook", hook.url("authorize"),
    "--enrich-webhook", hook.url("enrich"),
    "--webhook-secret-file", hook.secretFile,
    "--webhook-timeout", "300ms",
    "--webhook-extension", TEAM_OID,
  ]);
}, 60_000);

afterAll(async () => {
  await acme?.stop();
  dns?.stop();
  hook?.stop();
}, 60_000);

function lego(dir: string, name: string) {
  return runAsync(["lego", "--server", acme.directory, "--accept-tos", "--email", "ops@example.test", "--path", dir, "--domains", name, "--http", "--http.port", `127.0.0.1:${httpPort}`, "run"], {
    env: { LEGO_CA_CERTIFICATES: acme.caFile },
  });
}

const issuedCount = () => depotOk(["audit", "export", acme.depotPath]).split("\n").filter((line) => line.includes('"event":"issue"')).length;

test("lego's order for a name the authorize webhook denies fails with the webhook's reason; nothing is issued", async () => {
  const before = issuedCount();
  const result = await lego(tempDir("lego-"), "denied.lego.test");
  expect(result.exitCode).not.toBe(0);
  expect(result.stderr).toContain("urn:ietf:params:acme:error:unauthorized");
  expect(result.stderr).toContain("issuance denied by the authorize webhook: denied.* names are reserved");
  expect(issuedCount()).toBe(before);
  const denial = depotOk(["audit", "export", acme.depotPath]).trim().split("\n").map((line) => JSON.parse(line) as Record<string, unknown>).at(-1)!;
  expect(denial).toMatchObject({ event: "deny", subject: "CN=denied.lego.test", sans: ["denied.lego.test"], reason: "denied.* names are reserved" });
  expect(denial.requester).toStartWith("acme:");
}, 60_000);

test("lego's order for an allowed name is issued with enrich's extension; the webhooks saw face acme", async () => {
  hook.calls.length = 0;
  const dir = tempDir("lego-");
  const result = await lego(dir, "allowed.lego.test");
  if (result.exitCode !== 0) throw new Error(`lego failed (${result.exitCode}):\n${result.stderr.slice(-3000)}\nserver log:\n${acme.server.log().slice(-2000)}`);
  const leaf = pemBlocks(readFileSync(join(dir, "certificates", "allowed.lego.test.crt"), "utf8"))[0]!;
  const leafFile = writeTemp("leaf.pem", leaf);
  expect(openssl(["verify", "-CAfile", acme.caFile, "-purpose", "sslserver", leafFile]).stdout.trim()).toBe(`${leafFile}: OK`);
  const text = openssl(["x509", "-in", leafFile, "-noout", "-text"]).stdout;
  expect(text).toContain("DNS:allowed.lego.test\n");
  expect(text).toMatch(/1\.3\.6\.1\.4\.1\.55555\.1:\s*\n\s*\.\.acme/);
  expect(hook.calls.map((call) => [call.type, call.signed, call.request.face])).toEqual([
    ["authorize", true, "acme"],
    ["enrich", true, "acme"],
  ]);
  expect(hook.calls[0]!.request.requester).toStartWith("acme:");
  expect(depotOk(["audit", "verify", acme.depotPath])).toStartWith("audit chain intact: ");
}, 60_000);
