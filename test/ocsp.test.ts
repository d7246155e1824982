/**
 * The OCSP responder answers the real `openssl ocsp` over HTTP (a test-local
 * Bun.serve on a loopback port): good, revoked with time and reason, unknown
 * for a serial never issued, unauthorized for another CA's certificate,
 * malformedRequest for garbage; SHA-1 and SHA-256 CertIDs; the nonce echoed;
 * the GET form (with `/` and `+` percent-encoded or not) with RFC 5019
 * caching headers; and a revocation by another process (the CLI) seen
 * within a second.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createDepot } from "../src/ca/create.ts";
import { Depot } from "../src/ca/depot.ts";
import { parseDn } from "../src/ca/dn.ts";
import { DEPOT_BIN, tempDir } from "./helpers.ts";
import { runAsync, type ServedDepot, serveDepot } from "./ocsp-helpers.ts";

const TEST_TIMEOUT_MS = 45_000;
let served: ServedDepot;

beforeAll(async () => {
  served = await serveDepot();
});
afterAll(() => served?.stop());

function ocspArgs(certFile: string, extra: string[] = []): string[] {
  return ["openssl", "ocsp", "-issuer", served.caFile, ...extra, "-cert", certFile, "-url", `${served.url}/ocsp`, "-CAfile", served.caFile];
}

describe("openssl ocsp over POST", () => {
  test("a certificate just issued is good; the nonce comes back and the signature verifies against ca.crt", async () => {
    const leaf = await served.issue("alice");
    const result = await runAsync(ocspArgs(leaf.file));
    expect(result.stderr).toContain("Response verify OK");
    expect(result.stderr).not.toContain("WARNING: no nonce in response");
    expect(result.stdout).toContain(`${leaf.file}: good`);
    expect(result.stdout).toMatch(/This Update: .+\n\s+Next Update: .+/);
    expect(result.exitCode).toBe(0);
  }, TEST_TIMEOUT_MS);

  test("SHA-256 CertIDs are answered as well as SHA-1 ones", async () => {
    const leaf = await served.issue("bob");
    const result = await runAsync(["openssl", "ocsp", "-issuer", served.caFile, "-sha256", "-cert", leaf.file, "-url", `${served.url}/ocsp`, "-CAfile", served.caFile]);
    expect(result.stderr).toContain("Response verify OK");
    expect(result.stdout).toContain(`${leaf.file}: good`);
  }, TEST_TIMEOUT_MS);

  test("a revoked certificate: revoked, with its revocation time and reason", async () => {
    const leaf = await served.issue("carol");
    expect((await runAsync(ocspArgs(leaf.file, ["-no_nonce"]))).stdout).toContain(": good");
    await served.depot.revoke(leaf.serial, "keyCompromise");
    const result = await runAsync(ocspArgs(leaf.file));
    expect(result.stderr).toContain("Response verify OK");
    expect(result.stdout).toContain(`${leaf.file}: revoked`);
    expect(result.stdout).toContain("Reason: keyCompromise");
    expect(result.stdout).toMatch(/Revocation Time: \w{3} +\d+ \d\d:\d\d:\d\d \d{4} GMT/);
  }, TEST_TIMEOUT_MS);

  test("a serial this CA never issued is unknown", async () => {
    const result = await runAsync(["openssl", "ocsp", "-issuer", served.caFile, "-serial", "0x0123456789abcdef0123456789abcdef", "-url", `${served.url}/ocsp`, "-CAfile", served.caFile]);
    expect(result.stderr).toContain("Response verify OK");
    expect(result.stdout).toContain("0x0123456789abcdef0123456789abcdef: unknown");
  }, TEST_TIMEOUT_MS);

  test("another CA's certificate is answered unauthorized", async () => {
    const other = join(tempDir("depot-ocsp-other-"), "other");
    await createDepot(other, { label: "Another CA", keyType: "ec-p256" });
    const otherDepot = await Depot.open(other);
    const issued = await otherDepot.issue({ profile: "client", subject: parseDn("CN=mallory") });
    otherDepot.close();
    const file = join(other, "mallory.crt");
    writeFileSync(file, issued.certificatePem);
    const result = await runAsync(["openssl", "ocsp", "-issuer", join(other, "certificates", "ca.crt"), "-cert", file, "-url", `${served.url}/ocsp`]);
    expect(result.stdout + result.stderr).toContain("Responder Error: unauthorized (6)");
  }, TEST_TIMEOUT_MS);

  test("garbage is answered malformedRequest; a wrong content type 415", async () => {
    const garbage = await fetch(`${served.url}/ocsp`, { method: "POST", headers: { "Content-Type": "application/ocsp-request" }, body: "not DER" });
    expect(garbage.status).toBe(200);
    expect(garbage.headers.get("content-type")).toBe("application/ocsp-response");
    expect(Buffer.from(await garbage.arrayBuffer()).toString("hex")).toBe("30030a0101");
    const wrongType = await fetch(`${served.url}/ocsp`, { method: "POST", headers: { "Content-Type": "text/plain" }, body: "x" });
    expect(wrongType.status).toBe(415);
    const badGet = await fetch(`${served.url}/ocsp/%%%`);
    expect(Buffer.from(await badGet.arrayBuffer()).toString("hex")).toBe("30030a0101");
  }, TEST_TIMEOUT_MS);
});

describe("the GET form (RFC 6960 appendix A.1, RFC 5019 caching)", () => {
  let leaf: { serial: string; file: string };
  let requestDer: Uint8Array;
  const dir = tempDir("depot-ocsp-get-");

  beforeAll(async () => {
    leaf = await served.issue("dave");
    // Regenerate until the base64 holds both `/` and `+`, so every spelling below is exercised.
    for (let i = 0; ; i++) {
      const reqFile = join(dir, `req-${i}.der`);
      const made = await runAsync(["openssl", "ocsp", "-issuer", served.caFile, "-cert", leaf.file, "-no_nonce", "-reqout", reqFile]);
      expect(made.exitCode).toBe(0);
      requestDer = new Uint8Array(readFileSync(reqFile));
      const base64 = Buffer.from(requestDer).toString("base64");
      // Without a nonce the bytes are fixed: a serial whose base64 lacks `/` or `+` gets a new leaf.
      if (base64.includes("/") && base64.includes("+")) break;
      leaf = await served.issue(`dave-${i}`);
      if (i > 200) throw new Error("no request with both / and + in its base64");
    }
  }, TEST_TIMEOUT_MS);

  async function curlGet(path: string, extra: string[] = []): Promise<{ headers: string; body: Uint8Array }> {
    const bodyFile = join(dir, `body-${Math.random()}.der`);
    const result = await runAsync(["curl", "-s", "-D", "-", "-o", bodyFile, ...extra, `${served.url}${path}`]);
    expect(result.exitCode).toBe(0);
    return { headers: result.stdout, body: existsSync(bodyFile) ? new Uint8Array(readFileSync(bodyFile)) : new Uint8Array() };
  }

  async function verifyResponse(body: Uint8Array): Promise<string> {
    const respFile = join(dir, `resp-${Math.random()}.der`);
    writeFileSync(respFile, body);
    const result = await runAsync(["openssl", "ocsp", "-respin", respFile, "-issuer", served.caFile, "-cert", leaf.file, "-CAfile", served.caFile, "-no_nonce"]);
    expect(result.stderr).toContain("Response verify OK");
    return result.stdout;
  }

  test("raw base64 with / and + in the path (several segments): good, with Last-Modified, Expires, max-age and ETag", async () => {
    const base64 = Buffer.from(requestDer).toString("base64");
    const { headers, body } = await curlGet(`/ocsp/${base64}`);
    expect(headers).toStartWith("HTTP/1.1 200");
    expect(headers).toMatch(/content-type: application\/ocsp-response/i);
    expect(headers).toMatch(/cache-control: max-age=(3599|3600), public, no-transform, must-revalidate/i);
    expect(headers).toMatch(/last-modified: \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT/i);
    expect(headers).toMatch(/expires: \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT/i);
    expect(headers).toMatch(/etag: "[0-9a-f]{40}"/i);
    expect(await verifyResponse(body)).toContain(`${leaf.file}: good`);
  }, TEST_TIMEOUT_MS);

  test("percent-encoded (as nginx sends it) and URL-encoded spellings give the same response bytes", async () => {
    const base64 = Buffer.from(requestDer).toString("base64");
    const raw = await curlGet(`/ocsp/${base64}`);
    const encoded = await curlGet(`/ocsp/${encodeURIComponent(base64)}`);
    const slashesOnly = await curlGet(`/ocsp/${base64.replace(/\+/g, "%2B")}`);
    expect(Buffer.from(encoded.body).equals(Buffer.from(raw.body))).toBe(true);
    expect(Buffer.from(slashesOnly.body).equals(Buffer.from(raw.body))).toBe(true);
  }, TEST_TIMEOUT_MS);

  test("If-None-Match with the ETag is answered 304", async () => {
    const base64 = encodeURIComponent(Buffer.from(requestDer).toString("base64"));
    const first = await curlGet(`/ocsp/${base64}`);
    const etag = /etag: ("[0-9a-f]+")/i.exec(first.headers)![1]!;
    const second = await curlGet(`/ocsp/${base64}`, ["-H", `If-None-Match: ${etag}`]);
    expect(second.headers).toStartWith("HTTP/1.1 304");
  }, TEST_TIMEOUT_MS);

  test("a revocation by another process (the depot CLI) shows on the next request, though the good answer was cached", async () => {
    const base64 = encodeURIComponent(Buffer.from(requestDer).toString("base64"));
    expect(await verifyResponse((await curlGet(`/ocsp/${base64}`)).body)).toContain(": good");
    const revoked = await runAsync([DEPOT_BIN, "revoke", served.path, `0x${leaf.serial}`, "--reason", "superseded"]);
    expect(revoked.stderr).toBe("");
    expect(revoked.exitCode).toBe(0);
    const text = await verifyResponse((await curlGet(`/ocsp/${base64}`)).body);
    expect(text).toContain(`${leaf.file}: revoked`);
    expect(text).toContain("Reason: superseded");
  }, TEST_TIMEOUT_MS);
});
