// POST /v1/renew over a real `depot start --https-port`: certificates issued with a token through POST /v1/certificates (curl), renewed with `depot renew` (no token: the certificate's key signs the request); openssl verifies the new certificates; the ledger and `depot audit export` show the renewal; revoked, expired (beyond --renew-after-expiry), foreign-key and wrong-audience requests are refused.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { createPrivateKey, generateKeyPairSync } from "node:crypto";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { certificateDerFromPem } from "../src/ca/certificate-der.ts";
import { makeProof } from "../src/renew/client.ts";
import { depot, depotOk, openssl, run, tempDir } from "./helpers.ts";
import { issueThroughApi, lifetimeOf, recordCertificate, serialOf, x509 } from "./renew-helpers.ts";
import { freePort, type RunningServer, startServer } from "./server-helpers.ts";
import { ensureTool } from "./tools.ts";

const DAY = 86_400_000;
let dir: string;
let strict: RunningServer;
let lenient: RunningServer;
let strictPort: number;
let lenientPort: number;
let token: string;

beforeAll(async () => {
  ensureTool("curl", "curl");
  dir = tempDir("depot-renew-");
  strictPort = freePort();
  lenientPort = freePort();
  [strict, lenient] = await Promise.all([
    startServer(["--https-port", String(strictPort), "--process-count", "2"]),
    startServer(["--https-port", String(lenientPort), "--process-count", "1", "--renew-after-expiry", "2d"]),
  ]);
  await Promise.all([strict.ready, lenient.ready]);
  token = depotOk(["token", "create", strict.depotPath, "--name", "hosts", "--allow", "*.example.com", "--allow", "10.0.0.0/8", "--allow", "::1", "--allow", "cn:*"]).trim();
}, 60_000);

afterAll(async () => {
  for (const server of [strict, lenient]) server?.process.kill("SIGQUIT");
  await Promise.all([strict?.process.exited, lenient?.process.exited]);
});

const caOf = (server: RunningServer) => join(server.depotPath, "certificates", "ca.crt");
const renew = (server: RunningServer, port: number, files: { cert: string; key: string }, ...extra: string[]) =>
  depot(["renew", "--cert", files.cert, "--key", files.key, "--server", `https://localhost:${port}`, "--ca-file", caOf(server), ...extra]);

function verify(server: RunningServer, file: string): string {
  const result = openssl(["verify", "-CAfile", caOf(server), file]);
  return (result.stdout + result.stderr).trim();
}

/** POSTs a body to /v1/renew with curl; the status and the problem's detail. */
function postRenew(port: number, server: RunningServer, body: string, type = "application/jose"): { status: number; body: Record<string, unknown> } {
  const bodyFile = join(dir, `body-${Math.random().toString(36).slice(2)}`);
  writeFileSync(bodyFile, body);
  const result = run(["curl", "-sS", "--cacert", caOf(server), "-H", `Content-Type: ${type}`, "--data-binary", `@${bodyFile}`, "-w", "\n%{http_code}", `https://localhost:${port}/v1/renew`]);
  if (result.exitCode !== 0) throw new Error(`curl failed: ${result.stderr}`);
  const lines = result.stdout.trimEnd().split("\n");
  return { status: Number(lines.pop()), body: JSON.parse(lines.join("\n")) as Record<string, unknown> };
}

test("a server certificate renewed with depot renew: new serial, same subject, names, profile and lifetime, same key and modes; openssl verifies it", () => {
  const files = issueThroughApi(strictPort, caOf(strict), token, { type: "server", cn: "www.example.com", san: ["10.0.0.5", "::1"], days: 3 }, dir, "www");
  const before = { subject: x509(files.cert, "-subject"), names: x509(files.cert, "-ext", "subjectAltName"), usage: x509(files.cert, "-ext", "extendedKeyUsage"), key: readFileSync(files.key, "utf8") };
  const lifetime = lifetimeOf(files.cert);
  const result = renew(strict, strictPort, files);
  expect(result.stderr).toContain(`renewed ${files.cert}: serial ${files.serial} -> `);
  expect(result.exitCode).toBe(0);
  const serial = serialOf(files.cert);
  expect(serial).not.toBe(files.serial);
  expect(verify(strict, files.cert)).toBe(`${files.cert}: OK`);
  expect({ subject: x509(files.cert, "-subject"), names: x509(files.cert, "-ext", "subjectAltName"), usage: x509(files.cert, "-ext", "extendedKeyUsage"), key: readFileSync(files.key, "utf8") }).toEqual(before);
  expect(before.names).toContain("DNS:www.example.com, IP Address:10.0.0.5, IP Address:0:0:0:0:0:0:0:1");
  expect(lifetimeOf(files.cert)).toBe(lifetime);
  expect(lifetime).toBe(3 * DAY);
  expect(statSync(files.cert).mode & 0o777).toBe(0o644);
  expect(statSync(files.key).mode & 0o777).toBe(0o600);

  // The ledger holds it, valid, and the audit chain names the renewal and the client.
  expect(depotOk(["show", strict.depotPath, serial])).toContain("www.example.com");
  const audit = depotOk(["audit", "export", strict.depotPath])
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as Record<string, unknown>);
  expect(audit.find((record) => record.serial === serial.toLowerCase())).toMatchObject({ event: "issue", requester: `renew:${files.serial}`, client: "127.0.0.1", subject: "CN=www.example.com", sans: ["10.0.0.5", "::1"], profile: "server" });
  expect(depot(["audit", "verify", strict.depotPath]).exitCode).toBe(0);
});

test("--new-key: a client certificate (RSA) renewed for a new key, 0600, the pending key gone; the profile stays client", () => {
  const files = issueThroughApi(strictPort, caOf(strict), token, { type: "client", cn: "Bob Owner", keyType: "rsa-2048", days: 30 }, dir, "bob");
  const oldKey = readFileSync(files.key, "utf8");
  const result = renew(strict, strictPort, files, "--new-key");
  expect(result.stderr).toContain(`new key in ${files.key}`);
  expect(result.exitCode).toBe(0);
  expect(readFileSync(files.key, "utf8")).not.toBe(oldKey);
  expect(statSync(files.key).mode & 0o777).toBe(0o600);
  expect(existsSync(`${files.key}.next`)).toBe(false);
  expect(x509(files.cert, "-pubkey")).toBe(openssl(["pkey", "-in", files.key, "-pubout"]).stdout.trim());
  expect(verify(strict, files.cert)).toBe(`${files.cert}: OK`);
  expect(x509(files.cert, "-ext", "extendedKeyUsage")).toContain("TLS Web Client Authentication");
  expect(x509(files.cert, "-ext", "extendedKeyUsage")).not.toContain("Server");
  expect(x509(files.cert, "-subject")).toBe("subject=CN = Bob Owner");
  // And renewed again with that new key (an Ed25519 certificate too, for its algorithm).
  expect(renew(strict, strictPort, files).exitCode).toBe(0);
  const ed = issueThroughApi(strictPort, caOf(strict), token, { type: "server", cn: "ed.example.com", keyType: "ed25519", days: 2 }, dir, "ed");
  expect(renew(strict, strictPort, ed, "--new-key").exitCode).toBe(0);
  expect(verify(strict, ed.cert)).toBe(`${ed.cert}: OK`);
});

test("a revoked certificate is refused (403), and its files are left as they were", () => {
  const files = issueThroughApi(strictPort, caOf(strict), token, { type: "server", cn: "gone.example.com", days: 3 }, dir, "gone");
  depotOk(["revoke", strict.depotPath, files.serial]);
  const before = readFileSync(files.cert, "utf8");
  const result = renew(strict, strictPort, files);
  expect(result.exitCode).toBe(1);
  expect(result.stderr).toContain(`refused the renewal (403): certificate ${files.serial} was revoked`);
  expect(readFileSync(files.cert, "utf8")).toBe(before);
});

test("an expired certificate is refused by default (403)", async () => {
  const now = Date.now();
  const files = await recordCertificate(strict.depotPath, "late.example.com", new Date(now - 3 * DAY), new Date(now - DAY), dir);
  const result = renew(strict, strictPort, files);
  expect(result.exitCode).toBe(1);
  expect(result.stderr).toContain(`refused the renewal (403): certificate ${files.serial} expired at`);
  expect(result.stderr).toContain("--renew-after-expiry");
});

test("with --renew-after-expiry 2d: expired a day ago is renewed (a fresh validity of the same length), three days ago is refused", async () => {
  const now = Date.now();
  const recent = await recordCertificate(lenient.depotPath, "recent.example.com", new Date(now - 3 * DAY), new Date(now - DAY), dir);
  const result = renew(lenient, lenientPort, recent);
  expect(result.stderr).toContain(`serial ${recent.serial} -> `);
  expect(result.exitCode).toBe(0);
  expect(verify(lenient, recent.cert)).toBe(`${recent.cert}: OK`);
  expect(lifetimeOf(recent.cert)).toBe(2 * DAY);
  expect(Date.parse(x509(recent.cert, "-enddate").replace("notAfter=", ""))).toBeGreaterThan(now + DAY);

  const old = await recordCertificate(lenient.depotPath, "old.example.com", new Date(now - 5 * DAY), new Date(now - 3 * DAY), dir);
  const refused = renew(lenient, lenientPort, old);
  expect(refused.exitCode).toBe(1);
  expect(refused.stderr).toContain("(this server renews certificates up to 2d after they expire)");
});

test("a proof signed by another key, or made for another server (aud), is refused with 401; malformed bodies with 400 and 415", async () => {
  const files = issueThroughApi(strictPort, caOf(strict), token, { type: "server", cn: "api.example.com", days: 3 }, dir, "api");
  const der = certificateDerFromPem(readFileSync(files.cert, "utf8"));
  const url = `https://localhost:${strictPort}/v1/renew`;
  const otherKey = generateKeyPairSync("ec", { namedCurve: "P-256" }).privateKey;
  const forged = postRenew(strictPort, strict, await makeProof(der, otherKey, url, new Date()));
  expect({ status: forged.status, detail: forged.body.detail }).toEqual({ status: 401, detail: "the renewal request's signature does not verify with the certificate's key" });

  const ownKey = createPrivateKey(readFileSync(files.key, "utf8"));
  const elsewhere = postRenew(strictPort, strict, await makeProof(der, ownKey, `https://ca.elsewhere.example:${strictPort}/v1/renew`, new Date()));
  expect(elsewhere.status).toBe(401);
  expect(elsewhere.body.detail).toContain("was made for https://ca.elsewhere.example");
  const stale = postRenew(strictPort, strict, await makeProof(der, ownKey, url, new Date(Date.now() - 10 * 60_000)));
  expect({ status: stale.status, detail: stale.body.detail }).toEqual({ status: 401, detail: "the renewal request has expired (exp); make a new one" });

  expect(postRenew(strictPort, strict, "not a jws").status).toBe(400);
  expect(postRenew(strictPort, strict, "{}", "application/json").status).toBe(415);
  // The same proof, properly made, is accepted: the refusals above were for what they said.
  const good = postRenew(strictPort, strict, await makeProof(der, ownKey, url, new Date()));
  expect(good.status).toBe(201);
  expect(good.body).toMatchObject({ renewed: files.serial, subject: "CN=api.example.com", type: "server", status: "valid" });
  // Every other route still asks for a token.
  const list = run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", caOf(strict), `https://localhost:${strictPort}/v1/certificates`]);
  expect(list.stdout).toBe("401");
});

test("a renewal killed between installing the certificate and its new key is finished on the next run; a stale pending key is removed", () => {
  const files = issueThroughApi(strictPort, caOf(strict), token, { type: "server", cn: "crash.example.com", days: 3 }, dir, "crash");
  const oldKey = readFileSync(files.key, "utf8");
  expect(renew(strict, strictPort, files, "--new-key").exitCode).toBe(0);
  const newKey = readFileSync(files.key, "utf8");
  // As if killed after the certificate's rename: the new key still waits as KEY.next, the old one is in place.
  writeFileSync(`${files.key}.next`, newKey, { mode: 0o600 });
  writeFileSync(files.key, oldKey, { mode: 0o600 });
  const finished = renew(strict, strictPort, files);
  expect(finished.stderr).toContain(`finished an interrupted renewal: ${files.key} now holds the key of ${files.cert}`);
  expect(finished.exitCode).toBe(0);
  expect(readFileSync(files.key, "utf8")).toBe(newKey);
  expect(x509(files.cert, "-pubkey")).toBe(openssl(["pkey", "-in", files.key, "-pubout"]).stdout.trim());
  // A pending key that belongs to no certificate (its renewal got no answer) is dropped.
  writeFileSync(`${files.key}.next`, oldKey, { mode: 0o600 });
  const stale = renew(strict, strictPort, files);
  expect(stale.stderr).toContain(`removed ${files.key}.next, the key of a renewal that got no certificate`);
  expect(stale.exitCode).toBe(0);
  expect(existsSync(`${files.key}.next`)).toBe(false);
});

test("the same proof twice to one worker: the second is refused as a replay (401)", async () => {
  // The lenient server has one worker, so both requests meet the same memory of jti values.
  const copy = await recordCertificate(lenient.depotPath, "twice-copy.example.com", new Date(Date.now() - 60_000), new Date(Date.now() + DAY), dir);
  const der = certificateDerFromPem(readFileSync(copy.cert, "utf8"));
  const proof = await makeProof(der, createPrivateKey(readFileSync(copy.key, "utf8")), `https://localhost:${lenientPort}/v1/renew`, new Date());
  expect(postRenew(lenientPort, lenient, proof).status).toBe(201);
  const again = postRenew(lenientPort, lenient, proof);
  expect({ status: again.status, detail: again.body.detail }).toEqual({ status: 401, detail: "this renewal request was already used (jti); make a new one" });
});
