// curl against the HTTPS API with --cacert ca.crt: issuance, 401, 403, 429, one-time tokens, CSR issuance, admin revoke; answers verified by openssl; the audit chain verifies.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { depot, depotOk, openssl, run, tempDir } from "./helpers.ts";
import { curlAnswer, freePort, request, type RunningServer, startServer, waitFor } from "./server-helpers.ts";
import { ensureTool } from "./tools.ts";

let dir: string;
let path: string;
let caFile: string;
let port: number;
let auditLog: string;
let server: RunningServer;
const tokens: Record<string, string> = {};

beforeAll(async () => {
  ensureTool("curl", "curl");
  dir = tempDir();
  port = freePort();
  auditLog = join(dir, "audit.log");
  server = await startServer(["--https-port", String(port), "--process-count", "2", "--audit-log", auditLog]);
  await server.ready;
  path = server.depotPath;
  caFile = join(path, "certificates", "ca.crt");
  // Tokens made by the CLI while the server runs: the workers read them from the ledger.
  const create = (name: string, ...flags: string[]) => (tokens[name] = depotOk(["token", "create", path, "--name", name, ...flags]).trim());
  create("services", "--allow", "*.svc.example.com", "--allow", "10.0.0.0/8", "--type", "server");
  create("people", "--allow", "cn:*", "--allow", "email:*@example.com", "--type", "client", "--rate", "3/h");
  create("enrol", "--type", "client", "--uses", "1", "--expires", "1h");
  create("admin", "--admin");
}, 30_000);

afterAll(async () => {
  server?.process.kill("SIGQUIT");
  await server?.process.exited;
});

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: Record<string, unknown>;
}

function curl(method: string, urlPath: string, options: { token?: string; json?: unknown; host?: string } = {}): Answer {
  const args = ["-X", method];
  if (options.token) args.push("-H", `Authorization: Bearer ${options.token}`);
  if (options.json !== undefined) args.push("-H", "Content-Type: application/json", "--data-binary", JSON.stringify(options.json));
  args.push(`https://${options.host ?? "localhost"}:${port}${urlPath}`);
  const answer = curlAnswer(caFile, dir, args);
  return { ...answer, body: JSON.parse(answer.body) as Record<string, unknown> };
}

function verify(pem: string, ...extra: string[]): string {
  const file = join(dir, `leaf-${Math.random().toString(36).slice(2)}.pem`);
  writeFileSync(file, pem);
  const result = openssl(["verify", "-CAfile", caFile, ...extra, file]);
  return (result.stdout + result.stderr).replaceAll(`${file}: `, "").trim();
}

test("the HTTPS certificate is the depot's own, issued at start for localhost and 127.0.0.1; its key is 0600", () => {
  expect(statSync(join(path, "private", "https.key")).mode & 0o777).toBe(0o600);
  expect(server.log()).toContain(`issued the HTTPS certificate ${join(path, "https.crt")} for localhost, 127.0.0.1, ::1`);
  expect(curl("GET", "/v1/certificates", { host: "127.0.0.1" }).status).toBe(401);
  const served = openssl(["s_client", "-connect", `127.0.0.1:${port}`, "-servername", "localhost", "-verify_return_error", "-CAfile", caFile, "-showcerts"], "");
  expect(served.stdout).toContain("Verify return code: 0 (ok)");
  // The leaf, then the CA that signed it (the root of this one-tier depot): https.crt holds the leaf alone.
  const sent = served.stdout.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [];
  expect(sent.length).toBe(2);
  expect(sent[1]!.replace(/\s/g, "")).toBe(readFileSync(caFile, "utf8").replace(/\s/g, ""));
  expect(readFileSync(join(path, "https.crt"), "utf8").match(/BEGIN CERTIFICATE/g)?.length).toBe(1);
});

test("issuance with a valid token: 201, and openssl verifies the certificate", () => {
  const answer = curl("POST", "/v1/certificates", { token: tokens.services, json: { cn: "api.svc.example.com", san: ["10.1.2.3"], keyType: "ec-p256" } });
  expect(answer.status).toBe(201);
  expect(answer.headers["content-type"]).toBe("application/json");
  expect(answer.body).toMatchObject({ type: "server", subject: "CN=api.svc.example.com", keyType: "ec-p256", status: "valid" });
  expect(verify(answer.body.certificate as string)).toBe("OK");
  expect(answer.body.privateKey as string).toStartWith("-----BEGIN PRIVATE KEY-----");
  const file = join(dir, "api.pem");
  writeFileSync(file, answer.body.certificate as string);
  expect(openssl(["x509", "-in", file, "-noout", "-ext", "subjectAltName"]).stdout).toContain("DNS:api.svc.example.com, IP Address:10.1.2.3");
});

test("401 without a token, and with a wrong one", () => {
  const none = curl("POST", "/v1/certificates", { json: { type: "client", cn: "x" } });
  expect(none.status).toBe(401);
  expect(none.headers["content-type"]).toBe("application/problem+json");
  expect(none.headers["www-authenticate"]).toBe('Bearer realm="depot"');
  const wrong = curl("POST", "/v1/certificates", { token: `${tokens.services}x`, json: { type: "client", cn: "x" } });
  expect(wrong.status).toBe(401);
  expect(wrong.body.detail).toBe("this token is not known to the depot");
});

test("403 outside the token's policy", () => {
  const answer = curl("POST", "/v1/certificates", { token: tokens.services, json: { cn: "evil.example.com" } });
  expect(answer.status).toBe(403);
  expect(answer.body).toMatchObject({ type: "urn:depot:problem:outside-policy", detail: "token 'services' does not allow the DNS name evil.example.com (allowed: *.svc.example.com, 10.0.0.0/8)" });
});

test("429 past the rate, with Retry-After", () => {
  for (const name of ["Ann", "Bob", "Cy"]) expect(curl("POST", "/v1/certificates", { token: tokens.people, json: { cn: name, email: `${name.toLowerCase()}@example.com` } }).status).toBe(201);
  const answer = curl("POST", "/v1/certificates", { token: tokens.people, json: { cn: "Dee" } });
  expect(answer.status).toBe(429);
  expect(Number(answer.headers["retry-after"])).toBeGreaterThan(0);
});

test("a one-time token is refused on its second use", () => {
  const first = curl("POST", "/v1/certificates", { token: tokens.enrol, json: { cn: "laptop-17" } });
  expect(first.status).toBe(201);
  expect(verify(first.body.certificate as string)).toBe("OK");
  const second = curl("POST", "/v1/certificates", { token: tokens.enrol, json: { cn: "laptop-18" } });
  expect(second.status).toBe(401);
  expect(second.body.detail).toBe("token 'enrol' has been used up (it allowed 1 use)");
});

test("CSR issuance: openssl req makes the request, the key never leaves the client", () => {
  const keyFile = join(dir, "csr.key");
  expect(openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", keyFile]).exitCode).toBe(0);
  const csr = openssl(["req", "-new", "-key", keyFile, "-subj", "/CN=db.svc.example.com"]).stdout;
  const answer = curl("POST", "/v1/certificates", { token: tokens.services, json: { csr } });
  expect(answer.status).toBe(201);
  expect(answer.body.privateKey).toBeUndefined();
  expect(verify(answer.body.certificate as string)).toBe("OK");
  const file = join(dir, "db.pem");
  writeFileSync(file, answer.body.certificate as string);
  expect(openssl(["x509", "-in", file, "-noout", "-pubkey"]).stdout).toBe(openssl(["pkey", "-in", keyFile, "-pubout"]).stdout);
});

test("revoke: refused with a non-admin token, done with an admin one; openssl then sees it revoked in the CRL", async () => {
  const issued = curl("POST", "/v1/certificates", { token: tokens.services, json: { cn: "old.svc.example.com" } });
  const serial = issued.body.serial as string;
  const refused = curl("POST", `/v1/certificates/${serial}/revoke`, { token: tokens.services, json: { reason: "keyCompromise" } });
  expect(refused.status).toBe(403);
  expect(refused.body.detail).toBe("revoking certificates needs an admin token (depot token create --admin); token 'services' is not one");
  const done = curl("POST", `/v1/certificates/${serial}/revoke`, { token: tokens.admin, json: { reason: "keyCompromise" } });
  expect(done.status).toBe(200);
  expect(done.body).toMatchObject({ serial, status: "revoked", revocationReason: "keyCompromise" });
  expect(curl("POST", `/v1/certificates/${serial}/revoke`, { token: tokens.admin }).status).toBe(409);
  // The upkeep process publishes the CRL (within its poll).
  const crlFile = join(path, "crl.pem");
  await waitFor(() => verify(issued.body.certificate as string, "-crl_check", "-CRLfile", crlFile).includes("certificate revoked"), 5000, "the CRL lists the revoked certificate");
  const listed = curl("GET", "/v1/certificates?status=revoked", { token: tokens.admin });
  expect((listed.body.certificates as { serial: string }[]).map((c) => c.serial)).toEqual([serial]);
});

test("the audit trail: every issuance names its requester (token, line protocol), the --audit-log file follows the ledger, and verify passes", async () => {
  expect((await request(server.port, "generate /CN=over the line")).startsWith("-----BEGIN PRIVATE KEY-----")).toBe(true);
  expect(depotOk(["audit", "verify", path])).toStartWith("audit chain intact: ");
  const exported = depotOk(["audit", "export", path]).trim().split("\n");
  const records = exported.map((line) => JSON.parse(line) as { seq: number; event: string; requester: string; client?: string; subject?: string });
  const issues = records.filter((r) => r.event === "issue");
  expect(issues.map((r) => r.requester)).toEqual(["server", "token:services", "token:people", "token:people", "token:people", "token:enrol", "token:services", "token:services", "line"]);
  expect(issues.filter((r) => r.requester !== "server").every((r) => r.client === "127.0.0.1")).toBe(true);
  expect(records.find((r) => r.event === "revoke")).toMatchObject({ requester: "token:admin", client: "127.0.0.1" });
  expect(records.filter((r) => r.event === "token-create").length).toBe(4);
  // The supervisor appends what the upkeep process forwards: the same lines, byte for byte.
  await waitFor(() => existsSync(auditLog) && readFileSync(auditLog, "utf8").trim().split("\n").length === exported.length, 5000, "the audit log file catches up");
  expect(readFileSync(auditLog, "utf8").trim().split("\n")).toEqual(exported);
  expect(statSync(auditLog).mode & 0o777).toBe(0o600);
});

test("depot audit verify detects a tampered row", async () => {
  const { Database } = await import("bun:sqlite");
  const db = new Database(join(path, "ledger.sqlite3"));
  db.run("UPDATE audit SET body = replace(body, 'laptop-17', 'laptop-99') WHERE body LIKE '%laptop-17%'");
  const seq = db.query<{ seq: number }, []>("SELECT seq FROM audit WHERE body LIKE '%laptop-99%'").get()!.seq;
  db.close();
  const result = depot(["audit", "verify", path]);
  expect(result.exitCode).toBe(1);
  expect(result.stderr).toBe(`depot: audit chain broken at record ${seq}: record ${seq} was altered (its hash does not match its content) (${seq - 1} record(s) before it verify)\n`);
});

test("/v1/metrics: Prometheus text for an admin token, 403 for another", async () => {
  const refused = curl("GET", "/v1/metrics", { token: tokens.services });
  expect(refused.status).toBe(403);
  expect(refused.body.detail).toBe("reading metrics needs an admin token (depot token create --admin); token 'services' is not one");
  const result = run(["curl", "-sS", "--cacert", caFile, "-H", `Authorization: Bearer ${tokens.admin}`, "-w", "\n%{http_code} %{content_type}", `https://localhost:${port}/v1/metrics`]);
  const lines = result.stdout.trim().split("\n");
  expect(lines.at(-1)).toStartWith("200 text/plain");
  expect(lines.some((line) => line.startsWith("# TYPE depot_"))).toBe(true);
});
