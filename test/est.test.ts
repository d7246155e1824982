// EST (RFC 7030) on a real `depot start --https-port`, driven as RFC 7030's examples and the usual how-tos do: openssl req makes a DER PKCS#10 request, base64 carries it, curl posts it (HTTP Basic or Bearer), base64 -d | openssl pkcs7 -print_certs reads the answer, openssl verify checks it; the ledger and the audit chain hold every certificate; a two-tier depot answers its chain; a PostgreSQL ledger records the same.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createPrivateKey } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeProof } from "../src/renew/client.ts";
import { DEPOT_BIN, depot, depotOk, run, tempDir } from "./helpers.ts";
import { pgDatabase } from "./pg-server.ts";
import { curlAnswer, freePort, type RunningServer, startServer, waitFor } from "./server-helpers.ts";
import { ensureTool } from "./tools.ts";

let dir: string;
let path: string;
let server: RunningServer;
let port: number;
const tokens: Record<string, string> = {};

beforeAll(async () => {
  ensureTool("curl", "curl");
  ensureTool("base64", "coreutils");
  dir = tempDir("depot-est-");
  port = freePort();
  // One worker: a replayed proof meets the memory of jti values that saw it (renew-proof.ts keeps it per worker). The PostgreSQL test runs two.
  server = await startServer(["--https-port", String(port), "--process-count", "1"]);
  await server.ready;
  path = server.depotPath;
  // The CA certificate a device is given out of band, as RFC 7030 4.1.1 expects (its "explicit TA").
  writeFileSync(join(dir, "ca.crt"), readFileSync(join(path, "certificates", "ca.crt")));
  const create = (name: string, ...flags: string[]) => (tokens[name] = depotOk(["token", "create", path, "--name", name, ...flags]).trim());
  create("devices", "--allow", "*.example.com");
  create("webs", "--allow", "*.svc.example.com", "--type", "server", "--max-days", "30", "--key-type", "ec-p256");
  create("once", "--uses", "1");
}, 60_000);

afterAll(async () => {
  server?.process.kill("SIGQUIT");
  await server?.process.exited;
});

/** A shell script run in the test's folder, as a person would type it; fails the test on a non-zero exit. */
function sh(script: string, env: Record<string, string> = {}): string {
  const result = run(["sh", "-ec", script], { cwd: dir, env: { ...process.env, PORT: String(port), ...env } as Record<string, string> });
  if (result.exitCode !== 0) throw new Error(`sh failed (${result.exitCode}): ${script}\n${result.stderr}`);
  return result.stdout;
}

/** curl with the headers kept: for the refusals' status, WWW-Authenticate and problem document. */
const curl = (args: string[]) => curlAnswer(join(dir, "ca.crt"), dir, args);

const url = (operation: string) => `https://localhost:${port}/.well-known/est/${operation}`;

/** `openssl req` as RFC 7030 and its how-tos do it: a new P-256 key, the request DER in base64 (coreutils wraps its lines at 76). */
function makeRequest(name: string, subject: string, ...extra: string[]): void {
  sh(`openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ${name}.key -subj '${subject}' ${extra.join(" ")} -outform DER | base64 > ${name}.b64`);
}

function validCount(): number {
  return (JSON.parse(depotOk(["list", path, "--json"])) as unknown[]).length;
}

test("cacerts: public, application/pkcs7-mime certs-only; openssl pkcs7 -print_certs gives back the CA certificate", () => {
  const answer = curl([url("cacerts")]);
  expect(answer.status).toBe(200);
  expect(answer.headers["content-type"]).toBe("application/pkcs7-mime; smime-type=certs-only");
  expect(answer.headers["content-transfer-encoding"]).toBe("base64");
  sh(`curl -sS --fail --cacert ca.crt https://localhost:$PORT/.well-known/est/cacerts > cacerts.p7.b64
base64 -d cacerts.p7.b64 | openssl pkcs7 -inform DER -print_certs > cacerts.pem`);
  expect(sh("grep -c 'BEGIN CERTIFICATE' cacerts.pem")).toBe("1\n");
  expect(sh("openssl x509 -in cacerts.pem -outform DER | openssl dgst -sha256 -r")).toBe(sh("openssl x509 -in ca.crt -outform DER | openssl dgst -sha256 -r"));
  // openssl's own base64 reader takes the answer too.
  expect(sh("openssl base64 -d -in cacerts.p7.b64 | openssl pkcs7 -inform DER -print_certs | openssl x509 -noout -subject")).toBe("subject=O = Test CA, CN = Test CA\n");
});

test("simpleenroll with HTTP Basic (token name, token): RFC 7030's example through curl, openssl verifies the certificate, the key stays on the device", () => {
  makeRequest("dev1", "/CN=dev1.example.com");
  expect(readFileSync(join(dir, "dev1.b64"), "utf8").trim().split("\n").length).toBeGreaterThan(1);
  sh(`curl -sS --fail --cacert ca.crt -u devices:$TOKEN -H 'Content-Type: application/pkcs10' --data-binary @dev1.b64 https://localhost:$PORT/.well-known/est/simpleenroll > dev1.p7.b64
base64 -d dev1.p7.b64 | openssl pkcs7 -inform DER -print_certs > dev1.pem`, { TOKEN: tokens.devices! });
  expect(sh("openssl verify -CAfile ca.crt dev1.pem")).toBe("dev1.pem: OK\n");
  expect(sh("openssl x509 -in dev1.pem -noout -subject")).toBe("subject=CN = dev1.example.com\n");
  expect(sh("openssl x509 -in dev1.pem -noout -pubkey")).toBe(sh("openssl pkey -in dev1.key -pubout"));
  // The token has no --type: EST's devices are TLS clients.
  expect(sh("openssl x509 -in dev1.pem -noout -ext extendedKeyUsage")).toContain("TLS Web Client Authentication");
  // Only the new certificate in the answer (RFC 7030 4.2.3).
  expect(sh("grep -c 'BEGIN CERTIFICATE' dev1.pem")).toBe("1\n");
  const serial = sh("openssl x509 -in dev1.pem -noout -serial").trim().replace(/^serial=/, "");
  const shown = depotOk(["show", path, serial]);
  expect(shown).toContain("CN=dev1.example.com");
});

test("simpleenroll with a Bearer token: the token's --type server and --max-days apply, the request's names are kept", () => {
  makeRequest("web", "/CN=web.svc.example.com", "-addext", "'subjectAltName=DNS:web.svc.example.com,DNS:www.svc.example.com'");
  sh(`curl -sS --fail --cacert ca.crt -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/pkcs10' --data-binary @web.b64 https://localhost:$PORT/.well-known/est/simpleenroll | base64 -d | openssl pkcs7 -inform DER -print_certs > web.pem`, { TOKEN: tokens.webs! });
  expect(sh("openssl verify -CAfile ca.crt web.pem")).toBe("web.pem: OK\n");
  expect(sh("openssl x509 -in web.pem -noout -ext subjectAltName,extendedKeyUsage")).toContain("DNS:web.svc.example.com, DNS:www.svc.example.com");
  expect(sh("openssl x509 -in web.pem -noout -ext extendedKeyUsage")).toContain("TLS Web Server Authentication");
  const days = (Date.parse(sh("openssl x509 -in web.pem -noout -enddate").trim().replace("notAfter=", "")) - Date.now()) / 86_400_000;
  expect(Math.round(days)).toBe(30);
});

test("refusals: no credentials (401 with both challenges), a wrong token or user name (401), outside the policy (403), not base64 or not a request (400), another media type (415); none issues anything", () => {
  makeRequest("evil", "/CN=dev2.evil.org");
  makeRequest("dev3", "/CN=dev3.example.com");
  const before = validCount();
  const post = (file: string, ...auth: string[]) => curl([...auth, "-H", "Content-Type: application/pkcs10", "--data-binary", `@${file}`, url("simpleenroll")]);

  const none = post("dev3.b64");
  expect(none.status).toBe(401);
  expect(none.headers["www-authenticate"]).toBe('Basic realm="depot", Bearer realm="depot"');
  expect(none.headers["content-type"]).toBe("application/problem+json");

  const wrong = post("dev3.b64", "-u", `devices:${tokens.devices}x`);
  expect(wrong.status).toBe(401);
  expect(wrong.headers["www-authenticate"]).toBe('Basic realm="depot", Bearer realm="depot", error="invalid_token"');
  expect(JSON.parse(wrong.body).detail).toBe("this token is not known to the depot");
  const misnamed = post("dev3.b64", "-u", `webs:${tokens.devices}`);
  expect(misnamed.status).toBe(401);
  expect(JSON.parse(misnamed.body).detail).toBe("with HTTP Basic, the user name must be the token's name");

  const outside = post("evil.b64", "-u", `devices:${tokens.devices}`);
  expect(outside.status).toBe(403);
  expect(JSON.parse(outside.body)).toMatchObject({ type: "urn:depot:problem:outside-policy", detail: "token 'devices' does not allow CN=dev2.evil.org (allowed: *.example.com)" });

  writeFileSync(join(dir, "garbage.b64"), "this is not base64!\n");
  const garbage = post("garbage.b64", "-u", `devices:${tokens.devices}`);
  expect(garbage.status).toBe(400);
  expect(JSON.parse(garbage.body).detail).toStartWith("the body is not base64");
  writeFileSync(join(dir, "notcsr.b64"), `${Buffer.from("hello, not a certificate request").toString("base64")}\n`);
  const notCsr = post("notcsr.b64", "-u", `devices:${tokens.devices}`);
  expect(notCsr.status).toBe(400);
  expect(JSON.parse(notCsr.body).detail).toContain("not a PEM certificate request");

  const form = curl(["-u", `devices:${tokens.devices}`, "--data-binary", "@dev3.b64", url("simpleenroll")]);
  expect(form.status).toBe(415);
  for (const answer of [none, wrong, misnamed, outside, garbage, notCsr, form]) expect(answer.body).not.toContain("    at ");
  expect(validCount()).toBe(before);
});

test("a one-time token enrols once; the second request is 401 and issues nothing", () => {
  makeRequest("first", "/CN=first.example.com");
  makeRequest("second", "/CN=second.example.com");
  const post = (file: string) => curl(["-u", `once:${tokens.once}`, "-H", "Content-Type: application/pkcs10", "--data-binary", `@${file}`, url("simpleenroll")]);
  const first = post("first.b64");
  expect(first.status).toBe(200);
  const before = validCount();
  const second = post("second.b64");
  expect(second.status).toBe(401);
  expect(JSON.parse(second.body).detail).toBe("token 'once' has been used up (it allowed 1 use)");
  expect(validCount()).toBe(before);
});

test("simplereenroll: the holder of dev1's certificate proves it (X-Depot-Proof) and gets a new one for a new key, same subject; refusals for no proof, another subject, a replayed proof", async () => {
  const certificateDer = new Uint8Array(Buffer.from(sh("openssl x509 -in dev1.pem -outform DER | base64 -w0"), "base64"));
  const key = createPrivateKey(readFileSync(join(dir, "dev1.key"), "utf8"));
  const proof = () => makeProof(certificateDer, key, url("simplereenroll"), new Date());
  const oldSerial = sh("openssl x509 -in dev1.pem -noout -serial").trim().replace(/^serial=/, "");
  makeRequest("dev1-new", "/CN=dev1.example.com");
  makeRequest("dev1-other", "/CN=other.example.com");
  const before = validCount();

  const none = curl(["-H", "Content-Type: application/pkcs10", "--data-binary", "@dev1-new.b64", url("simplereenroll")]);
  expect(none.status).toBe(401);
  expect(none.headers["www-authenticate"]).toBe('Depot-Proof realm="depot"');
  const other = curl(["-H", `X-Depot-Proof: ${await proof()}`, "-H", "Content-Type: application/pkcs10", "--data-binary", "@dev1-other.b64", url("simplereenroll")]);
  expect(other.status).toBe(400);
  expect(JSON.parse(other.body).detail).toBe("for simplereenroll the request's subject and names must be those of the certificate it renews (RFC 7030 4.2.2): CN=dev1.example.com");
  const forRenew = curl(["-H", `X-Depot-Proof: ${await makeProof(certificateDer, key, `https://localhost:${port}/v1/renew`, new Date())}`, "-H", "Content-Type: application/pkcs10", "--data-binary", "@dev1-new.b64", url("simplereenroll")]);
  expect(forRenew.status).toBe(401);
  expect(validCount()).toBe(before);

  const used = await proof();
  sh(`curl -sS --fail --cacert ca.crt -H "X-Depot-Proof: $PROOF" -H 'Content-Type: application/pkcs10' --data-binary @dev1-new.b64 https://localhost:$PORT/.well-known/est/simplereenroll | base64 -d | openssl pkcs7 -inform DER -print_certs > dev1-new.pem`, { PROOF: used });
  expect(sh("openssl verify -CAfile ca.crt dev1-new.pem")).toBe("dev1-new.pem: OK\n");
  expect(sh("openssl x509 -in dev1-new.pem -noout -subject")).toBe("subject=CN = dev1.example.com\n");
  expect(sh("openssl x509 -in dev1-new.pem -noout -pubkey")).toBe(sh("openssl pkey -in dev1-new.key -pubout"));
  expect(sh("openssl x509 -in dev1-new.pem -noout -serial")).not.toContain(oldSerial);
  expect(validCount()).toBe(before + 1);

  const replay = curl(["-H", `X-Depot-Proof: ${used}`, "-H", "Content-Type: application/pkcs10", "--data-binary", "@dev1-new.b64", url("simplereenroll")]);
  expect({ status: replay.status, detail: JSON.parse(replay.body).detail }).toEqual({ status: 401, detail: "this renewal request was already used (jti); make a new one" });
  expect(validCount()).toBe(before + 1);
});

test("the ledger and the audit chain: each EST certificate has its row and an issue record naming the token (or the renewed serial) and the client; verify passes", () => {
  const records = depotOk(["audit", "export", path])
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as { event: string; requester: string; client?: string; subject?: string });
  const issues = records.filter((r) => r.event === "issue" && r.requester !== "server");
  expect(issues.map((r) => [r.requester.replace(/^renew:[0-9A-F]+$/, "renew:SERIAL"), r.subject])).toEqual([
    ["token:devices", "CN=dev1.example.com"],
    ["token:webs", "CN=web.svc.example.com"],
    ["token:once", "CN=first.example.com"],
    ["renew:SERIAL", "CN=dev1.example.com"],
  ]);
  expect(issues.every((r) => r.client === "127.0.0.1")).toBe(true);
  expect(depotOk(["audit", "verify", path])).toStartWith("audit chain intact: ");
  const listed = JSON.parse(depotOk(["list", path, "--json"])) as { subject: string; type: string }[];
  expect(listed.map((r) => `${r.type} ${r.subject}`).sort()).toEqual(
    ["client CN=dev1.example.com", "client CN=dev1.example.com", "client CN=first.example.com", "server CN=localhost", "server CN=web.svc.example.com"].sort(),
  );
});

/** `depot start` on a depot made by the test (two tiers, a PostgreSQL ledger), with an HTTPS port and two workers; stopped by `stop`. */
async function startOn(depotPath: string, home: string, env: Record<string, string> = {}): Promise<{ httpsPort: number; stop(): Promise<void> }> {
  const httpsPort = freePort();
  const logFile = join(home, "depot.log");
  const child = Bun.spawn(
    [DEPOT_BIN, "start", depotPath, "--port", String(freePort()), "--https-port", String(httpsPort), "--process-count", "2", "--pid-file", join(home, "depot.pid"), "--log-file", logFile],
    { stdin: "ignore", stdout: "ignore", stderr: "pipe", env: { ...process.env, HOME: home, ...env } },
  );
  const log = () => (existsSync(logFile) ? readFileSync(logFile, "utf8") : "");
  const stop = async () => {
    child.kill("SIGTERM");
    await child.exited;
  };
  try {
    await waitFor(() => /All \d+ workers ready/.test(log()), 20_000, () => `server not ready; log:\n${log()}`);
  } catch (error) {
    await stop();
    throw error;
  }
  return { httpsPort, stop };
}

describe("EST on a two-tier depot", () => {
  test("cacerts holds the intermediate and the root; a device that trusts the root verifies its enrolled certificate with them", async () => {
    const home = tempDir("depot-est-tiers-");
    const tiered = join(home, "ca");
    expect(depot(["init", tiered, "EST Tiers", "--key-type", "ec-p256", "--intermediate"]).exitCode).toBe(0);
    const token = depotOk(["token", "create", tiered, "--name", "fleet", "--allow", "*.example.com"]).trim();
    const started = await startOn(tiered, home);
    try {
      writeFileSync(join(dir, "root.crt"), readFileSync(join(tiered, "certificates", "ca.crt")));
      const env = { TOKEN: token, HTTPS_PORT: String(started.httpsPort) };
      sh("curl -sS --fail --cacert root.crt https://localhost:$HTTPS_PORT/.well-known/est/cacerts | base64 -d | openssl pkcs7 -inform DER -print_certs > tiers.pem", env);
      expect(sh("grep -c 'BEGIN CERTIFICATE' tiers.pem")).toBe("2\n");
      expect(sh("openssl x509 -in tiers.pem -noout -fingerprint -sha256")).toBe(sh(`openssl x509 -in ${join(tiered, "certificates", "intermediate.crt")} -noout -fingerprint -sha256`));
      makeRequest("tier", "/CN=tier1.example.com");
      sh("curl -sS --fail --cacert root.crt -u fleet:$TOKEN -H 'Content-Type: application/pkcs10' --data-binary @tier.b64 https://localhost:$HTTPS_PORT/.well-known/est/simpleenroll | base64 -d | openssl pkcs7 -inform DER -print_certs > tier.pem", env);
      expect(sh("openssl verify -CAfile root.crt -untrusted tiers.pem tier.pem")).toBe("tier.pem: OK\n");
    } finally {
      await started.stop();
    }
  }, 120_000);
});

describe("EST on a PostgreSQL ledger", () => {
  test("simpleenroll through a real server records the certificate and its audit record in PostgreSQL", async () => {
    const db = await pgDatabase();
    const home = tempDir("depot-est-pg-");
    const pgPath = join(home, "ca");
    expect(depot(["init", pgPath, "EST PG CA", "--key-type", "ec-p256", "--ledger", db.url], { env: db.env }).exitCode).toBe(0);
    const token = (depot(["token", "create", pgPath, "--name", "fleet", "--allow", "*.example.com"], { env: db.env }).stdout ?? "").trim();
    expect(token).toStartWith("depot_");
    const started = await startOn(pgPath, home, db.env);
    const httpsPort = started.httpsPort;
    try {
      writeFileSync(join(dir, "pg-ca.crt"), readFileSync(join(pgPath, "certificates", "ca.crt")));
      makeRequest("pg", "/CN=pg1.example.com");
      sh(`curl -sS --fail --cacert pg-ca.crt -u fleet:$TOKEN -H 'Content-Type: application/pkcs10' --data-binary @pg.b64 https://localhost:$HTTPS_PORT/.well-known/est/simpleenroll | base64 -d | openssl pkcs7 -inform DER -print_certs > pg.pem`, {
        TOKEN: token,
        HTTPS_PORT: String(httpsPort),
      });
      expect(sh("openssl verify -CAfile pg-ca.crt pg.pem")).toBe("pg.pem: OK\n");
      const serial = sh("openssl x509 -in pg.pem -noout -serial").trim().replace(/^serial=/, "").toLowerCase().replace(/^0+/, "");
      const rows = await db.query<{ serial: string; subject: string; type: string }>("SELECT serial, subject, type FROM certificates WHERE subject = $1", "CN=pg1.example.com");
      expect(rows.map((r) => ({ ...r, serial: r.serial.replace(/^0+/, "") }))).toEqual([{ serial, subject: "CN=pg1.example.com", type: "client" }]);
      const audit = await db.query<{ body: string }>("SELECT body FROM audit WHERE body LIKE '%pg1.example.com%'");
      expect(audit.length).toBe(1);
      expect(JSON.parse(audit[0]!.body)).toMatchObject({ event: "issue", requester: "token:fleet", subject: "CN=pg1.example.com" });
      const verified = depot(["audit", "verify", pgPath], { env: db.env });
      expect(verified.stdout).toStartWith("audit chain intact: ");
    } finally {
      await started.stop();
    }
  }, 300_000);
});
