// The /v1/ API, driven as a Request -> Response function over a real depot (no socket): every route and every problem status.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { AuditLog } from "../src/ca/audit.ts";
import { createDepot } from "../src/ca/create.ts";
import { Depot } from "../src/ca/depot.ts";
import { hashToken, newToken, type TokenRecord, type TokenStore } from "../src/ca/tokens.ts";
import type { TokenPolicy } from "../src/ca/token-policy.ts";
import { createApi, type ApiHandler } from "../src/http/api/index.ts";
import { depotApiServices } from "../src/http/api/depot-services.ts";
import { openssl, tempDir } from "./helpers.ts";

let depot: Depot;
let tokens: TokenStore;
let audit: AuditLog;
let api: ApiHandler;
let caFile: string;
const internalErrors: unknown[] = [];
const BASE = "https://depot.test";

beforeAll(async () => {
  const path = join(tempDir(), "ca");
  await createDepot(path, { keyType: "ec-p256" });
  depot = await Depot.open(path);
  ({ tokens, audit } = depot.ledger);
  api = createApi(depotApiServices(depot), { internalError: (e) => internalErrors.push(e) });
  caFile = depot.layout.caCertificate;
});
afterAll(() => depot.close());

async function makeToken(name: string, policy: Partial<TokenPolicy> = {}, extra: Partial<TokenRecord> = {}): Promise<string> {
  const token = newToken();
  await tokens.create({ name, hash: hashToken(token), policy: { admin: false, allow: [], ...policy }, createdAt: new Date(), ...extra }, { event: "token-create", requester: "cli", token: name });
  return token;
}

function call(method: string, path: string, options: { token?: string; body?: unknown; raw?: string; type?: string; headers?: Record<string, string> } = {}) {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  let body: string | undefined;
  if (options.raw !== undefined || options.body !== undefined) {
    body = options.raw ?? JSON.stringify(options.body);
    headers["content-type"] = options.type ?? "application/json";
  }
  return api(new Request(`${BASE}${path}`, { method, headers, ...(body !== undefined ? { body } : {}) }), { clientAddress: "192.0.2.9" });
}

async function expectProblem(response: Response, status: number, detail: string | RegExp) {
  const body = (await response.json()) as { status: number; detail: string; type: string; title: string };
  expect({ status: response.status, type: response.headers.get("content-type") }).toEqual({ status, type: "application/problem+json" });
  expect(body.status).toBe(status);
  if (typeof detail === "string") expect(body.detail).toBe(detail);
  else expect(body.detail).toMatch(detail);
  return body;
}

function verifies(pem: string): string {
  const file = join(tempDir(), "leaf.pem");
  writeFileSync(file, pem);
  return openssl(["verify", "-CAfile", caFile, file]).stdout.trim().replace(`${file}: `, "");
}

describe("authentication", () => {
  test("no token: 401 with WWW-Authenticate", async () => {
    const response = await call("POST", "/v1/certificates", { body: { type: "client", cn: "x" } });
    expect(response.headers.get("www-authenticate")).toBe('Bearer realm="depot"');
    const body = await expectProblem(response, 401, "this API needs a token: send Authorization: Bearer <token> (made with depot token create)");
    expect(body.type).toBe("urn:depot:problem:no-token");
    expect(body.title).toBe("Unauthorized");
  });

  test("an unknown, a malformed, a revoked and an expired token: 401 invalid_token", async () => {
    await expectProblem(await call("GET", "/v1/certificates", { token: newToken() }), 401, "this token is not known to the depot");
    const malformed = await call("GET", "/v1/certificates", { headers: { authorization: "Basic YTpi" } });
    expect(malformed.headers.get("www-authenticate")).toBe('Bearer realm="depot", error="invalid_request"');
    await expectProblem(malformed, 401, "the Authorization header must be: Bearer <token>");
    const revoked = await makeToken("gone");
    await tokens.revoke("gone", new Date(), { event: "token-revoke", requester: "cli", token: "gone" });
    await expectProblem(await call("GET", "/v1/certificates", { token: revoked }), 401, "token 'gone' was revoked");
    const expired = await makeToken("old", {}, { expiresAt: new Date(Date.now() - 1000) });
    await expectProblem(await call("GET", "/v1/certificates", { token: expired }), 401, /^token 'old' expired at /);
  });
});

describe("issuing", () => {
  test("201 with key, certificate and chain; openssl verifies it; the audit records the token and the client", async () => {
    const token = await makeToken("issuer");
    const response = await call("POST", "/v1/certificates", { token, body: { type: "server", cn: "api.example.com", san: ["10.0.0.5"], keyType: "ec-p256", days: 30 } });
    expect(response.status).toBe(201);
    const body = (await response.json()) as { serial: string; certificate: string; privateKey: string; chain: string[]; notBefore: string; notAfter: string };
    expect(response.headers.get("location")).toBe(`/v1/certificates/${body.serial}`);
    expect(body).toMatchObject({ type: "server", subject: "CN=api.example.com", keyType: "ec-p256", status: "valid" });
    expect(body.privateKey).toStartWith("-----BEGIN PRIVATE KEY-----\n");
    expect(body.chain).toEqual([(await Bun.file(caFile).text()).trim() + "\n"]);
    expect(verifies(body.certificate)).toBe("OK");
    expect(new Date(body.notAfter).getTime() - new Date(body.notBefore).getTime()).toBe(30 * 86_400 * 1000);
    const last = (await audit.after(0, 10_000)).at(-1)!;
    expect(last).toMatchObject({ event: "issue", requester: "token:issuer", client: "192.0.2.9", serial: body.serial.toLowerCase(), subject: "CN=api.example.com", sans: ["10.0.0.5"], profile: "server", keyType: "ec-p256" });
    expect(JSON.stringify(last)).not.toContain("PRIVATE");
  });

  test("a CSR made by openssl req: the certificate carries its key and names; no private key in the answer", async () => {
    const dir = tempDir();
    const keyFile = join(dir, "k.pem");
    expect(openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", keyFile]).exitCode).toBe(0);
    const csr = openssl(["req", "-new", "-key", keyFile, "-subj", "/CN=csr.example.com", "-addext", "subjectAltName=DNS:www.csr.example.com"]).stdout;
    const token = await makeToken("csr", { allow: ["**.csr.example.com", "csr.example.com"] });
    const response = await call("POST", "/v1/certificates", { token, body: { type: "server", csr } });
    expect(response.status).toBe(201);
    const body = (await response.json()) as Record<string, string>;
    expect(body.privateKey).toBeUndefined();
    expect(verifies(body.certificate!)).toBe("OK");
    const certFile = join(dir, "c.pem");
    writeFileSync(certFile, body.certificate!);
    expect(openssl(["x509", "-in", certFile, "-noout", "-ext", "subjectAltName"]).stdout).toContain("DNS:csr.example.com, DNS:www.csr.example.com");
    const keyModulus = openssl(["pkey", "-in", keyFile, "-pubout"]).stdout;
    expect(openssl(["x509", "-in", certFile, "-noout", "-pubkey"]).stdout).toBe(keyModulus);
    await expectProblem(await call("POST", "/v1/certificates", { token, body: { type: "server", csr, cn: "x" } }), 400, "with csr, the subject, names and key come from the request; leave out cn");
    await expectProblem(await call("POST", "/v1/certificates", { token, body: { type: "server", csr: "junk" } }), 400, "not a PEM certificate request (-----BEGIN CERTIFICATE REQUEST-----)");
  });

  test.each([
    [{ cn: "x" }, "missing type (client or server)"],
    [{ type: "robot", cn: "x" }, "unknown type 'robot' (client or server)"],
    [{ type: "client" }, "give a subject: cn, email, uid or subject"],
    [{ type: "client", subject: "/CN=a\u0001b" }, "distinguished name holds a control character (0x01)"],
    [{ type: "client", cn: "x", keyType: "rsa-1024" }, "unknown key type 'rsa-1024' (known: rsa-2048, rsa-3072, rsa-4096, ec-p256, ec-p384, ed25519)"],
    [{ type: "client", cn: "x", days: 0 }, "days must be a whole number from 1 to 36500, not '0'"],
    [{ type: "client", cn: "x", san: ["a.example"] }, "san is for server certificates (type server)"],
    [{ type: "server", cn: "not a host" }, "a server certificate needs a DNS name or IP address: give it as --cn or --san"],
    [{ type: "server", cn: "a.example", san: ["bad name!"] }, "'bad name!' is not a DNS name or an IP address"],
    [{ type: "client", cn: "x", colour: "red" }, "unknown field 'colour' (known: type, template, subject, cn, email, uid, san, keyType, days, csr, format, password)"],
    [{ type: "client", cn: "x", format: "jks" }, "format 'jks' is not available (formats: pem, pkcs12)"],
    [{ type: "client", cn: "x", format: "pkcs12" }, "format pkcs12 needs a password (it protects the key in the file)"],
    [{ type: "client", cn: "x", password: "p" }, "password is for format pkcs12"],
    [{ type: "client", cn: 7 }, "cn must be a string"],
  ])("400 for %j: %s", async (body, detail) => {
    const token = await makeToken(`bad-${Math.random().toString(36).slice(2)}`);
    await expectProblem(await call("POST", "/v1/certificates", { token, body }), 400, detail);
  });

  test("format pkcs12: key, certificate and CA in one file that openssl opens with the password; no PEM key in the answer", async () => {
    const token = await makeToken("p12");
    const response = await call("POST", "/v1/certificates", { token, body: { type: "client", cn: "Bob Owner", format: "pkcs12", password: "correct horse" } });
    expect(response.status).toBe(201);
    const body = (await response.json()) as { pkcs12: string; privateKey?: string; certificate: string };
    expect(body.privateKey).toBeUndefined();
    const file = join(tempDir(), "bob.p12");
    writeFileSync(file, Buffer.from(body.pkcs12, "base64"));
    const opened = openssl(["pkcs12", "-in", file, "-passin", "pass:correct horse", "-nodes"]);
    expect(opened.exitCode).toBe(0);
    expect(opened.stdout).toContain("-----BEGIN PRIVATE KEY-----");
    expect(opened.stdout.match(/-----BEGIN CERTIFICATE-----/g)?.length).toBe(2);
    expect(opened.stdout).toContain(body.certificate.trim().split("\n")[1]!);
    expect(openssl(["pkcs12", "-in", file, "-passin", "pass:wrong", "-nodes"]).exitCode).not.toBe(0);
  });

  test("400 for a body that is not JSON; 415 for another media type; 413 past 64 KiB", async () => {
    const token = await makeToken("bodies");
    await expectProblem(await call("POST", "/v1/certificates", { token, raw: "{type:" }), 400, /^the body is not JSON/);
    await expectProblem(await call("POST", "/v1/certificates", { token, raw: "[]" }), 400, "the body must be a JSON object");
    await expectProblem(await call("POST", "/v1/certificates", { token, raw: "cn=x", type: "application/x-www-form-urlencoded" }), 415, "send the body as application/json, not application/x-www-form-urlencoded");
    await expectProblem(await call("POST", "/v1/certificates", { token, raw: JSON.stringify({ type: "client", cn: "x".repeat(70_000) }) }), 413, "the body is larger than 64 KiB");
    // Chunked, without Content-Length: counted as it arrives.
    const chunk = new TextEncoder().encode(" ".repeat(16 * 1024));
    const chunked = new ReadableStream<Uint8Array>({
      pull(controller) {
        controller.enqueue(chunk);
      },
    });
    const request = new Request(`${BASE}/v1/certificates`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: chunked });
    expect(request.headers.has("content-length")).toBe(false);
    await expectProblem(await api(request), 413, "the body is larger than 64 KiB");
  });

  test("403 outside the policy: name, profile, key type, days; nothing issued", async () => {
    const token = await makeToken("narrow", { allow: ["*.svc.example.com"], type: "server", keyTypes: ["ec-p256"], maxDays: 30 });
    const before = await depot.ledger.count();
    const refused = async (body: object, detail: string) => {
      const problem = await expectProblem(await call("POST", "/v1/certificates", { token, body }), 403, detail);
      expect(problem.type).toBe("urn:depot:problem:outside-policy");
    };
    await refused({ cn: "evil.example.com" }, "token 'narrow' does not allow the DNS name evil.example.com (allowed: *.svc.example.com)");
    await refused({ type: "client", cn: "a.svc.example.com" }, "token 'narrow' does not allow client certificates (only server)");
    await refused({ cn: "a.svc.example.com", keyType: "rsa-2048" }, "token 'narrow' does not allow key type rsa-2048 (only ec-p256)");
    await refused({ cn: "a.svc.example.com", days: 31 }, "token 'narrow' does not allow 31 days (at most 30)");
    expect(await depot.ledger.count()).toBe(before);
    // The token's type is the default; its max-days caps the depot's default.
    const ok = await call("POST", "/v1/certificates", { token, body: { cn: "a.svc.example.com" } });
    expect(ok.status).toBe(201);
    const body = (await ok.json()) as { notBefore: string; notAfter: string; type: string };
    expect(body.type).toBe("server");
    expect(new Date(body.notAfter).getTime() - new Date(body.notBefore).getTime()).toBe(30 * 86_400 * 1000);
  });

  test("a one-time token: the second use is refused, and a refused request does not spend it", async () => {
    const token = await makeToken("enrol", { type: "client" }, { uses: 1 });
    await expectProblem(await call("POST", "/v1/certificates", { token, body: { cn: "x", days: 99_999 } }), 400, "days must be a whole number from 1 to 36500, not '99999'");
    expect((await call("POST", "/v1/certificates", { token, body: { cn: "enrolled" } })).status).toBe(201);
    await expectProblem(await call("POST", "/v1/certificates", { token, body: { cn: "again" } }), 401, "token 'enrol' has been used up (it allowed 1 use)");
  });

  // Issuing routes trust a token they saw lately (KnownTokens); the ledger refuses the row of a token revoked since.
  test("a token revoked after it issued: the next issuance is refused at the ledger, nothing recorded, and a 401 from then on; a new token under its name does not revive it", async () => {
    const token = await makeToken("rotated", { type: "client" });
    expect((await call("POST", "/v1/certificates", { token, body: { cn: "before" } })).status).toBe(201);
    const rows = await depot.ledger.count();
    await tokens.revoke("rotated", new Date(), { event: "token-revoke", requester: "cli", token: "rotated" });
    await makeToken("rotated", { type: "client" });
    const auditSeq = await audit.lastSeq();
    const refused = await call("POST", "/v1/certificates", { token, body: { cn: "after" } });
    expect(refused.headers.get("www-authenticate")).toBe('Bearer realm="depot", error="invalid_token"');
    await expectProblem(refused, 401, "token 'rotated' was revoked; nothing was issued");
    expect(await depot.ledger.count()).toBe(rows);
    expect(await audit.lastSeq()).toBe(auditSeq);
    // Forgotten at once: the next request reads the ledger and is refused before anything is signed (the new token took the old row's name).
    await expectProblem(await call("POST", "/v1/certificates", { token, body: { cn: "again" } }), 401, "this token is not known to the depot");
    expect(await depot.ledger.count()).toBe(rows);
    expect(internalErrors).toEqual([]);
  });

  test("429 past the rate, with Retry-After", async () => {
    const token = await makeToken("slow", { type: "client" }, { rate: { limit: 2, windowSeconds: 3600 } });
    expect((await call("POST", "/v1/certificates", { token, body: { cn: "a" } })).status).toBe(201);
    expect((await call("POST", "/v1/certificates", { token, body: { cn: "b" } })).status).toBe(201);
    const response = await call("POST", "/v1/certificates", { token, body: { cn: "c" } });
    const retryAfter = Number(response.headers.get("retry-after"));
    expect(retryAfter).toBeGreaterThan(0);
    expect(retryAfter).toBeLessThanOrEqual(3600);
    const problem = await expectProblem(response, 429, `token 'slow' is over its rate of 2 per 3600 s; retry in ${retryAfter} s`);
    expect((problem as unknown as { retryAfter: number }).retryAfter).toBe(retryAfter);
  });
});

describe("reading and revoking", () => {
  test("show any certificate by its serial (colons optional); 404 for an unknown one; 400 for a non-serial", async () => {
    const token = await makeToken("reader", { type: "client" });
    const issued = (await (await call("POST", "/v1/certificates", { token, body: { cn: "shown" } })).json()) as { serial: string; certificate: string };
    const shown = (await (await call("GET", `/v1/certificates/${issued.serial}`, { token })).json()) as { certificate: string; subject: string };
    expect(shown).toMatchObject({ certificate: issued.certificate, subject: "CN=shown" });
    const withColons = issued.serial.match(/../g)!.join(":");
    expect((await call("GET", `/v1/certificates/${withColons}`, { token })).status).toBe(200);
    await expectProblem(await call("GET", "/v1/certificates/ABCDEF", { token }), 404, "no certificate with serial ABCDEF in this depot");
    await expectProblem(await call("GET", "/v1/certificates/xyz", { token }), 400, "'xyz' is not a serial number (hex, as the API returns it)");
  });

  test("revoke: 403 for a non-admin token, 200 for an admin, 409 the second time; audited", async () => {
    const user = await makeToken("user", { type: "client" });
    const admin = await makeToken("root", { admin: true });
    const { serial } = (await (await call("POST", "/v1/certificates", { token: user, body: { cn: "doomed" } })).json()) as { serial: string };
    await expectProblem(await call("POST", `/v1/certificates/${serial}/revoke`, { token: user, body: { reason: "keyCompromise" } }), 403, "revoking certificates needs an admin token (depot token create --admin); token 'user' is not one");
    await expectProblem(await call("POST", `/v1/certificates/${serial}/revoke`, { token: admin, body: { reason: "stolen" } }), 400, "unknown reason 'stolen' (known: unspecified, keyCompromise, affiliationChanged, superseded, cessationOfOperation)");
    const response = await call("POST", `/v1/certificates/${serial}/revoke`, { token: admin, body: { reason: "keyCompromise" } });
    expect(response.status).toBe(200);
    const body = (await response.json()) as { status: string; revocationReason: string; crlNumber: number };
    expect(body).toMatchObject({ status: "revoked", revocationReason: "keyCompromise" });
    expect(body.crlNumber).toBeGreaterThan(0);
    expect(openssl(["crl", "-noout", "-text"], depot.currentCrlPem()).stdout).toContain(`Serial Number: ${serial}`);
    await expectProblem(await call("POST", `/v1/certificates/${serial}/revoke`, { token: admin }), 409, /^certificate [0-9A-F]+ is already revoked \(since /);
    expect((await audit.after(0, 10_000)).at(-1)).toMatchObject({ event: "revoke", requester: "token:root", client: "192.0.2.9", serial: serial.toLowerCase(), reason: "keyCompromise" });
    expect(await audit.verify()).toMatchObject({ ok: true });
  });

  test("list: admin only; filtered by status; paged with a cursor that holds steady", async () => {
    const user = await makeToken("lister", { type: "client" });
    const admin = await makeToken("lister-admin", { admin: true });
    await expectProblem(await call("GET", "/v1/certificates", { token: user }), 403, "listing certificates needs an admin token (depot token create --admin); token 'lister' is not one");
    for (let i = 0; i < 5; i++) expect((await call("POST", "/v1/certificates", { token: user, body: { cn: `page-${i}` } })).status).toBe(201);
    const all = ((await (await call("GET", "/v1/certificates?limit=1000", { token: admin })).json()) as { certificates: { serial: string; status: string }[] }).certificates;
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = (await (await call("GET", `/v1/certificates?limit=3${cursor ? `&cursor=${cursor}` : ""}`, { token: admin })).json()) as { certificates: { serial: string }[]; next?: string };
      expect(page.certificates.length).toBeLessThanOrEqual(3);
      seen.push(...page.certificates.map((c) => c.serial));
      cursor = page.next;
    } while (cursor);
    expect(seen).toEqual(all.map((c) => c.serial));
    const revoked = ((await (await call("GET", "/v1/certificates?status=revoked", { token: admin })).json()) as { certificates: { status: string }[] }).certificates;
    expect(revoked.length).toBeGreaterThan(0);
    expect(revoked.every((c) => c.status === "revoked")).toBe(true);
    await expectProblem(await call("GET", "/v1/certificates?status=lost", { token: admin }), 400, "unknown status 'lost' (valid, revoked or expired)");
    await expectProblem(await call("GET", "/v1/certificates?cursor=zzz", { token: admin }), 400, "cursor is not one this API gave out");
    await expectProblem(await call("GET", "/v1/certificates?limit=0", { token: admin }), 400, "limit must be a whole number from 1 to 1000");
  });
});

describe("routing and failures", () => {
  test("404 for an unknown path, 405 with Allow for a wrong method, 404 for metrics without a registry", async () => {
    const admin = await makeToken("router", { admin: true });
    await expectProblem(await call("GET", "/v1/nothing", { token: admin }), 404, "no such API path: /v1/nothing");
    const wrong = await call("DELETE", "/v1/certificates", { token: admin });
    expect(wrong.headers.get("allow")).toBe("POST, GET");
    await expectProblem(wrong, 405, "DELETE is not allowed on /v1/certificates");
    await expectProblem(await call("GET", "/v1/metrics", { token: admin }), 404, "this server keeps no metrics");
  });

  test("503 with Retry-After when the ledger cannot be reached; 500 without details for a bug", async () => {
    const failing = (error: unknown) =>
      createApi({ ...depotApiServices(depot), tokens: { ...tokens, findByHash: async () => Promise.reject(error) } as TokenStore }, { internalError: (e) => internalErrors.push(e) });
    const request = () => new Request(`${BASE}/v1/certificates`, { headers: { authorization: `Bearer ${newToken()}` } });
    const unreachable = await failing(Object.assign(new Error("unable to open database file"), { code: "SQLITE_CANTOPEN" }))(request());
    expect(unreachable.headers.get("retry-after")).toBe("5");
    await expectProblem(unreachable, 503, "the ledger is busy or out of reach; nothing was issued or changed, retry in 5 s");
    const before = internalErrors.length;
    await expectProblem(await failing(new TypeError("x is undefined"))(request()), 500, "internal error; the server log has the details");
    expect(internalErrors.length).toBe(before + 1);
  });
});
