/**
 * The plain-HTTP publication point serves the CA certificate and the CRL
 * as openssl reads them (DER with the pkix media types, and PEM), follows
 * crl.pem when another writer replaces it, reports health, and answers
 * /metrics only to loopback clients.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { publicRoutes } from "../src/http/public/handler.ts";
import { Publication } from "../src/http/public/publication.ts";
import { OcspResponder } from "../src/ocsp/responder.ts";
import { tempDir } from "./helpers.ts";
import { runAsync, type ServedDepot, serveDepot } from "./ocsp-helpers.ts";

const TEST_TIMEOUT_MS = 45_000;
let served: ServedDepot;
const dir = tempDir("depot-http-public-");

beforeAll(async () => {
  served = await serveDepot();
});
afterAll(() => served?.stop());

async function saved(path: string): Promise<{ response: Response; file: string; bytes: Buffer }> {
  const response = await fetch(`${served.url}${path}`);
  const bytes = Buffer.from(await response.arrayBuffer());
  const file = join(dir, `${path.slice(1)}-${Math.random()}`);
  writeFileSync(file, bytes);
  return { response, file, bytes };
}

test("/ca is the CA certificate in DER (application/pkix-cert), /ca.pem the same as ca.crt", async () => {
  const der = await saved("/ca");
  expect(der.response.headers.get("content-type")).toBe("application/pkix-cert");
  const subject = await runAsync(["openssl", "x509", "-inform", "DER", "-in", der.file, "-noout", "-subject"]);
  expect(subject.stdout).toContain("CN = OCSP Test CA");
  const pem = await saved("/ca.pem");
  expect(pem.bytes.toString()).toBe(readFileSync(served.caFile, "utf8"));
}, TEST_TIMEOUT_MS);

test("/crl is the CRL in DER (application/pkix-crl) and /crl.pem the PEM; both follow crl.pem when it is rewritten", async () => {
  const before = await saved("/crl");
  expect(before.response.headers.get("content-type")).toBe("application/pkix-crl");
  expect(before.response.headers.get("last-modified")).toMatch(/GMT$/);
  const text = await runAsync(["openssl", "crl", "-inform", "DER", "-in", before.file, "-noout", "-crlnumber"]);
  expect(text.stdout).toBe("crlNumber=0x01\n");
  const leaf = await served.issue("erin");
  await served.depot.revoke(leaf.serial, "superseded");
  const after = await saved("/crl");
  const listed = await runAsync(["openssl", "crl", "-inform", "DER", "-in", after.file, "-noout", "-text"]);
  expect(listed.stdout).toContain("X509v3 CRL Number: \n                2");
  expect(listed.stdout).toContain(`Serial Number: ${leaf.serial.toUpperCase()}`);
  const pem = await saved("/crl.pem");
  expect(pem.bytes.toString()).toBe(readFileSync(join(served.path, "crl.pem"), "utf8"));
}, TEST_TIMEOUT_MS);

test("/health answers ok, the version, the workers and that the ledger is reachable", async () => {
  const response = await fetch(`${served.url}/health`);
  expect(response.status).toBe(200);
  expect(await response.json()).toEqual({ ok: true, version: expect.stringMatching(/^\d+\.\d+\.\d+/), workers: 1, ledger: "reachable" });
});

test("/health says 503 when the ledger cannot be read", async () => {
  const handler = publicRoutes({
    ocsp: new OcspResponder({ issuer: served.depot.issuer, find: async () => undefined }),
    publication: new Publication(served.caFile, join(served.path, "crl.pem")),
    ledgerReachable: async () => {
      throw new Error("database is locked");
    },
    workers: () => 2,
  });
  const response = await handler(new Request("http://depot/health"), "127.0.0.1");
  expect(response.status).toBe(503);
  expect(await response.json()).toMatchObject({ ok: false, ledger: "unreachable", workers: 2 });
});

test("/metrics is answered to a loopback client and refused (403) to any other", async () => {
  const local = await fetch(`${served.url}/metrics`);
  expect(local.status).toBe(200);
  expect(local.headers.get("content-type")).toStartWith("text/plain; version=0.0.4");
  const handler = publicRoutes({
    ocsp: new OcspResponder({ issuer: served.depot.issuer, find: async () => undefined }),
    publication: new Publication(served.caFile, join(served.path, "crl.pem")),
    scrape: () => "secret\n",
    ledgerReachable: async () => true,
    workers: () => 1,
  });
  for (const address of ["10.0.0.7", "192.168.1.2", "::ffff:10.0.0.7", "2001:db8::1", undefined]) {
    const response = await handler(new Request("http://depot/metrics"), address);
    expect(response.status).toBe(403);
    expect(await response.text()).not.toContain("secret");
  }
  for (const address of ["127.0.0.1", "::1", "::ffff:127.0.0.1"]) expect((await handler(new Request("http://depot/metrics"), address)).status).toBe(200);
});

test("unknown paths are 404, other methods 405 with Allow", async () => {
  expect((await fetch(`${served.url}/nothing`)).status).toBe(404);
  const post = await fetch(`${served.url}/ca`, { method: "POST", body: "x" });
  expect(post.status).toBe(405);
  expect(post.headers.get("allow")).toBe("GET, HEAD");
});

test("requests are counted by route and outcome, OCSP answers by status", async () => {
  await fetch(`${served.url}/nothing`);
  await fetch(`${served.url}/ocsp`, { method: "POST", headers: { "Content-Type": "application/ocsp-request" }, body: "junk" });
  const pending = served.metrics.peekPending();
  const find = (name: string, labels: string) => pending.find((s) => s.name === name && s.labels === labels)?.value;
  expect(find("depot_requests_total", 'listener="http",outcome="client_error",route="other"')).toBeGreaterThanOrEqual(1);
  expect(find("depot_ocsp_responses_total", 'status="malformedRequest"')).toBeGreaterThanOrEqual(1);
  expect(find("depot_request_duration_seconds_count", 'listener="http",route="/ocsp"')).toBeGreaterThanOrEqual(1);
});
