// A real dist/depot server with --authorize-webhook and --enrich-webhook
// pointed at a receiver this test serves (which checks every signature):
// curl's POST /v1/certificates and the line protocol's generate are allowed,
// enriched (the SAN and extension read by openssl), denied (403 with the
// reason; an ERROR line), or fail closed when the webhook hangs, errors or
// answers bad JSON (503 after the 300 ms timeout; ERROR busy). Nothing is
// recorded for a denial but the denial; the audit chain verifies and shows
// what the webhooks did; the secret is in no worker's argv or environment;
// with --webhook-fail-open a hang lets the issuance through, audited.
import { Database } from "bun:sqlite";
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { depot, depotOk, openssl, tempDir } from "./helpers.ts";
import { curlAnswerAsync, freePort, request, type RunningServer, startServer, workerPids } from "./server-helpers.ts";
import { ensureTool } from "./tools.ts";
import { type HookCall, startWebhookReceiver, type WebhookReceiver } from "./webhook-receiver.ts";

const TEAM_OID = "1.3.6.1.4.1.55555.1";
// UTF8String "team-blue", base64 DER.
const TEAM_VALUE = Buffer.from([0x0c, 0x09, ...Buffer.from("team-blue")]).toString("base64");

let dir: string;
let hook: WebhookReceiver;
let server: RunningServer;
let httpsPort: number;
let caFile: string;
let token: string;

/** A depot server whose workers ask `hook`'s webhooks, 300 ms each. */
async function startHooked(extra: string[] = []): Promise<{ server: RunningServer; httpsPort: number }> {
  const httpsPort = freePort();
  const server = await startServer([
    "--process-count", "1",
    "--https-port", String(httpsPort),
    "--authorize-webhook", hook.url("authorize"),
    "--enrich-webhook", hook.url("enrich"),
    "--webhook-secret-file", hook.secretFile,
    "--webhook-timeout", "300ms",
    "--webhook-extension", TEAM_OID,
    ...extra,
  ]);
  await server.ready;
  return { server, httpsPort };
}

beforeAll(async () => {
  ensureTool("curl", "curl");
  dir = tempDir();
  hook = startWebhookReceiver();
  ({ server, httpsPort } = await startHooked());
  caFile = join(server.depotPath, "certificates", "ca.crt");
  token = depotOk(["token", "create", server.depotPath, "--name", "services", "--allow", "*.svc.example.com", "--type", "server"]).trim();
}, 30_000);

afterAll(async () => {
  await server?.kill();
  hook?.stop();
});

async function issue(cn: string, port = httpsPort, ca = caFile) {
  const answer = await curlAnswerAsync(ca, dir, ["-X", "POST", "-H", `Authorization: Bearer ${token}`, "-H", "Content-Type: application/json", "--data-binary", JSON.stringify({ cn }), `https://localhost:${port}/v1/certificates`]);
  return { ...answer, json: JSON.parse(answer.body) as Record<string, string> };
}

/** Certificates in the ledger (the CA's own and the HTTPS listener's included): a denial must not move it. */
function ledgerCount(depotPath = server.depotPath): number {
  const db = new Database(join(depotPath, "ledger.sqlite3"), { readonly: true });
  try {
    return db.query<{ n: number }, []>("SELECT count(*) AS n FROM certificates").get()!.n;
  } finally {
    db.close();
  }
}

function auditRecords(depotPath = server.depotPath): Record<string, unknown>[] {
  return depotOk(["audit", "export", depotPath]).trim().split("\n").map((line) => JSON.parse(line) as Record<string, unknown>);
}

const allow = () => "allow" as const;

test("allowed and enriched: 201; openssl reads the added SAN and extension; both webhooks got the signed request, naming the face and the token", async () => {
  hook.behave = { authorize: allow, enrich: () => ({ add: { subjectAltNames: ["extra.svc.example.com"], extensions: [{ oid: TEAM_OID, value: TEAM_VALUE }] } }) };
  hook.calls.length = 0;
  const answer = await issue("api.svc.example.com");
  expect(answer.status).toBe(201);
  const file = join(dir, "enriched.pem");
  writeFileSync(file, answer.json.certificate!);
  expect(openssl(["verify", "-CAfile", caFile, file]).stdout).toBe(`${file}: OK\n`);
  const text = openssl(["x509", "-in", file, "-noout", "-text"]).stdout;
  expect(text).toContain("DNS:api.svc.example.com, DNS:extra.svc.example.com\n");
  expect(text).toMatch(/1\.3\.6\.1\.4\.1\.55555\.1:\s*\n\s*\.\.team-blue/);
  expect(hook.calls.map((c) => [c.type, c.signed])).toEqual([
    ["authorize", true],
    ["enrich", true],
  ]);
  expect(hook.calls[0]!.request).toEqual({
    face: "api",
    profile: "server",
    subject: "CN=api.svc.example.com",
    subjectAltNames: [{ type: "dns", value: "api.svc.example.com" }],
    keyType: "ec-p256",
    days: 365,
    requester: "token:services",
    client: "127.0.0.1",
  });
  const record = auditRecords().at(-1)!;
  expect(record).toMatchObject({ event: "issue", serial: answer.json.serial!.toLowerCase(), sans: ["extra.svc.example.com"], webhooks: { authorize: "allowed", enrich: { addedNames: ["extra.svc.example.com"], addedExtensions: [TEAM_OID] } } });
});

test("EST's simpleenroll asks the webhooks as face est; enrich's name is in the certificate", async () => {
  hook.behave = { authorize: allow, enrich: () => ({ add: { subjectAltNames: ["est-alias.svc.example.com"] } }) };
  hook.calls.length = 0;
  const keyFile = join(dir, "est.key");
  const derFile = join(dir, "est.der");
  expect(openssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", keyFile, "-subj", "/CN=est.svc.example.com", "-outform", "DER", "-out", derFile]).exitCode).toBe(0);
  const bodyFile = join(dir, "est.b64");
  writeFileSync(bodyFile, readFileSync(derFile).toString("base64"));
  const answer = await curlAnswerAsync(caFile, dir, ["-H", `Authorization: Bearer ${token}`, "-H", "Content-Type: application/pkcs10", "--data-binary", `@${bodyFile}`, `https://localhost:${httpsPort}/.well-known/est/simpleenroll`]);
  expect(answer.status).toBe(200);
  const p7File = join(dir, "est.p7");
  writeFileSync(p7File, Buffer.from(answer.body, "base64"));
  const certificates = openssl(["pkcs7", "-inform", "DER", "-in", p7File, "-print_certs"]);
  expect(openssl(["x509", "-noout", "-ext", "subjectAltName"], certificates.stdout).stdout).toContain("DNS:est.svc.example.com, DNS:est-alias.svc.example.com");
  expect(hook.calls.map((c) => [c.type, c.request.face, c.request.requester])).toEqual([
    ["authorize", "est", "token:services"],
    ["enrich", "est", "token:services"],
  ]);
});

test("a name enrich adds outside the token's policy: 403 from the policy, nothing recorded", async () => {
  hook.behave = { authorize: allow, enrich: () => ({ add: { subjectAltNames: ["evil.example.net"] } }) };
  const before = ledgerCount();
  const answer = await issue("web.svc.example.com");
  expect(answer.status).toBe(403);
  expect(answer.json).toMatchObject({ type: "urn:depot:problem:outside-policy", detail: "token 'services' does not allow the DNS name evil.example.net (allowed: *.svc.example.com)" });
  expect(ledgerCount()).toBe(before);
});

test("denied: 403 with the webhook's reason, on the API and the line protocol; no certificate, no serial, only the denial is recorded", async () => {
  hook.behave = { authorize: (call: HookCall) => (call.request.subject.includes("blocked") ? { deny: "blocked hosts get nothing" } : "allow"), enrich: allow };
  const [before, seq] = [ledgerCount(), auditRecords().length];
  const answer = await issue("blocked.svc.example.com");
  expect(answer.status).toBe(403);
  expect(answer.headers["content-type"]).toBe("application/problem+json");
  expect(answer.json).toMatchObject({ type: "urn:depot:problem:denied", status: 403, detail: "issuance denied by the authorize webhook: blocked hosts get nothing" });
  expect(await request(server.port, "generate /CN=blocked laptop")).toBe("ERROR issuance denied by the authorize webhook: blocked hosts get nothing\n");
  expect(ledgerCount()).toBe(before);
  const added = auditRecords().slice(seq);
  expect(added).toEqual([
    expect.objectContaining({ event: "deny", requester: "token:services", client: "127.0.0.1", subject: "CN=blocked.svc.example.com", sans: ["blocked.svc.example.com"], reason: "blocked hosts get nothing", webhooks: { authorize: "denied" } }),
    expect.objectContaining({ event: "deny", requester: "line", client: "127.0.0.1", subject: "CN=blocked laptop", reason: "blocked hosts get nothing" }),
  ]);
  expect(added.every((r) => r.serial === undefined)).toBe(true);
  // The line protocol's own face, and an allowed request over it.
  hook.calls.length = 0;
  expect(await request(server.port, "generate /CN=fine laptop")).toStartWith("-----BEGIN PRIVATE KEY-----");
  expect(hook.calls[0]!.request).toMatchObject({ face: "line", profile: "client", subject: "CN=fine laptop", requester: "line" });
});

test("a webhook that hangs: 503 with Retry-After once the 300 ms are up, and ERROR busy on the line; nothing recorded", async () => {
  hook.behave = { authorize: () => "hang", enrich: allow };
  const before = ledgerCount();
  const started = performance.now();
  const answer = await issue("slow.svc.example.com");
  const took = performance.now() - started;
  expect(answer.status).toBe(503);
  expect(answer.headers["retry-after"]).toBe("5");
  expect(answer.json).toMatchObject({ type: "urn:depot:problem:webhook-unavailable", detail: "the authorize webhook did not answer within 300 ms; nothing was issued, retry in 5 s" });
  expect(took).toBeGreaterThan(300);
  expect(took).toBeLessThan(3000);
  expect(await request(server.port, "generate /CN=slow laptop")).toBe("ERROR busy: the authorize webhook did not answer within 300 ms; nothing was issued, retry in 5 s\n");
  expect(ledgerCount()).toBe(before);
});

test("a webhook that errors (500) or answers bad JSON, and an enrich answer adding an extension not allowed: 503, fail closed", async () => {
  const before = ledgerCount();
  hook.behave = { authorize: () => "error", enrich: allow };
  expect((await issue("err.svc.example.com")).json.detail).toBe("the authorize webhook answered HTTP 500; nothing was issued, retry in 5 s");
  hook.behave = { authorize: allow, enrich: () => "bad-json" };
  const bad = await issue("json.svc.example.com");
  expect(bad.status).toBe(503);
  expect(bad.json.detail).toBe("the enrich webhook answered with a body that is not JSON; nothing was issued, retry in 5 s");
  hook.behave = { authorize: allow, enrich: () => ({ add: { extensions: [{ oid: "1.2.3.4", value: TEAM_VALUE }] } }) };
  expect((await issue("ext.svc.example.com")).json.detail).toBe(`the enrich webhook added extension 1.2.3.4, which it may not add (allowed: ${TEAM_OID}); nothing was issued, retry in 5 s`);
  expect(ledgerCount()).toBe(before);
  // The server's log names each failure (the client's denials are not the server's trouble).
  expect(server.log()).toContain("the authorize webhook answered HTTP 500");
});

test("SSH certificates over the API ask the authorize webhook (face ssh, the principals as names): a denial is 403, an allowed one 201", async () => {
  ensureTool("ssh-keygen", "openssh-client");
  depotOk(["ssh", "init", server.depotPath]);
  const sshToken = depotOk(["token", "create", server.depotPath, "--name", "ops", "--ssh", "user", "--ssh-principal", "*"]).trim();
  const keyFile = join(tempDir(), "id");
  expect(Bun.spawnSync(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", keyFile]).exitCode).toBe(0);
  const publicKey = readFileSync(`${keyFile}.pub`, "utf8").trim();
  hook.behave = { authorize: (call: HookCall) => (call.request.subjectAltNames.some((p) => p.value === "root") ? { deny: "no root logins" } : "allow"), enrich: () => ({ add: { subjectAltNames: ["never.example.com"] } }) };
  hook.calls.length = 0;
  const sign = async (principals: string[]) => {
    const answer = await curlAnswerAsync(caFile, dir, ["-X", "POST", "-H", `Authorization: Bearer ${sshToken}`, "-H", "Content-Type: application/json", "--data-binary", JSON.stringify({ publicKey, principals, keyId: "ann" }), `https://localhost:${httpsPort}/v1/ssh/certificates`]);
    return { status: answer.status, json: JSON.parse(answer.body) as Record<string, unknown> };
  };
  const denied = await sign(["ann", "root"]);
  expect(denied).toMatchObject({ status: 403, json: { type: "urn:depot:problem:denied", detail: "issuance denied by the authorize webhook: no root logins" } });
  const allowed = await sign(["ann"]);
  expect(allowed.status).toBe(201);
  expect(allowed.json.principals).toEqual(["ann"]);
  // Authorize only: enrich adds nothing to SSH certificates, so it is not asked.
  expect(hook.calls.map((c) => [c.type, c.request.face, c.request.profile, c.request.subjectAltNames.map((p) => `${p.type}:${p.value}`).join(",")])).toEqual([
    ["authorize", "ssh", "user", "principal:ann,principal:root"],
    ["authorize", "ssh", "user", "principal:ann"],
  ]);
  const records = auditRecords();
  expect(records.at(-2)).toMatchObject({ event: "deny", requester: "token:ops", subject: "ann", sans: ["ann", "root"], reason: "no root logins" });
  expect(records.at(-1)).toMatchObject({ event: "ssh-issue", requester: "token:ops", sans: ["ann"], webhooks: { authorize: "allowed" } });
}, 30_000);

test("the secret is in no worker's command line or environment; the audit chain verifies", () => {
  const secret = readFileSync(hook.secretFile, "utf8").trim();
  const pids = [server.process.pid, ...workerPids(server.process.pid)];
  expect(pids.length).toBe(2);
  for (const pid of pids) {
    expect(readFileSync(`/proc/${pid}/cmdline`, "utf8")).not.toContain(secret);
    expect(readFileSync(`/proc/${pid}/environ`, "utf8")).not.toContain(secret);
  }
  expect(depotOk(["audit", "verify", server.depotPath])).toStartWith("audit chain intact: ");
});

test("depot start refuses a secret file others can read, and a webhook without one", async () => {
  const loose = join(tempDir(), "loose.secret");
  writeFileSync(loose, "0123456789abcdef0123456789abcdef\n", { mode: 0o644 });
  const refused = depot(["start", server.depotPath, "--port", String(freePort()), "--authorize-webhook", hook.url("authorize"), "--webhook-secret-file", loose]);
  expect(refused.exitCode).toBe(1);
  expect(refused.stderr).toBe(`depot: ${loose} can be read by other users; the webhook secret must be private: chmod 600 ${loose}\n`);
  const without = depot(["start", server.depotPath, "--port", String(freePort()), "--enrich-webhook", hook.url("enrich")]);
  expect(without.stderr).toStartWith("depot: a webhook needs --webhook-secret-file FILE");
});

test("--webhook-fail-open: a hanging webhook lets the issuance through, and its audit record says so", async () => {
  const open = await startHooked(["--webhook-fail-open"]);
  try {
    hook.behave = { authorize: () => "hang", enrich: allow };
    const openCa = join(open.server.depotPath, "certificates", "ca.crt");
    token = depotOk(["token", "create", open.server.depotPath, "--name", "services", "--allow", "*.svc.example.com", "--type", "server"]).trim();
    const answer = await issue("open.svc.example.com", open.httpsPort, openCa);
    expect(answer.status).toBe(201);
    expect(auditRecords(open.server.depotPath).at(-1)).toMatchObject({ event: "issue", subject: "CN=open.svc.example.com", webhooks: { authorize: "failed open: did not answer within 300 ms" } });
    expect(open.server.log()).toContain("the authorize webhook did not answer within 300 ms; issuing anyway (--webhook-fail-open): CN=open.svc.example.com");
    // A denial is never let through.
    hook.behave = { authorize: () => ({ deny: "no" }), enrich: allow };
    expect((await issue("no.svc.example.com", open.httpsPort, openCa)).status).toBe(403);
    expect(depotOk(["audit", "verify", open.server.depotPath])).toStartWith("audit chain intact: ");
  } finally {
    await open.server.kill();
  }
}, 30_000);
