// Templates on a running dist/depot (one worker, HTTPS API, EST, ACME with --acme-template, the line protocol): curl posts a template by name and openssl reads what came back; a name outside a template's rules is 403, an ERROR line on the line protocol; a token limited to templates gets its first by default and a 403 for another; EST's label picks the template (RFC 7030 3.2.2), simplereenroll and `depot renew` keep it; lego gets a certificate under --acme-template in one order. And `depot start` refuses a bad template, an unknown --acme-template, or one of the wrong base, with one line.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { createPrivateKey } from "node:crypto";
import { appendFileSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makeProof } from "../src/renew/client.ts";
import { type ChallTestSrv, runAsync, startChallTestSrv } from "./acme-clients/harness.ts";
import { depot, depotOk, pemBlocks, run, tempDir } from "./helpers.ts";
import { curlAnswer, freePort, request, type RunningServer, startServer } from "./server-helpers.ts";
import { ACME_TEMPLATE, TEMPLATES } from "./template-fixtures.ts";
import { ensureTool } from "./tools.ts";

let dir: string;
let server: RunningServer;
let dns: ChallTestSrv;
let port: number;
let legoPort: number;
const tokens: Record<string, string> = {};

beforeAll(async () => {
  ensureTool("curl", "curl");
  ensureTool("base64", "coreutils");
  ensureTool("lego", "lego");
  dir = tempDir("depot-tpl-server-");
  dns = await startChallTestSrv();
  port = freePort();
  legoPort = freePort();
  // --acme-days 60 asks for more than acme-web's 30: the template's days win.
  server = await startServer(
    ["--https-port", String(port), "--process-count", "1", "--acme", "--acme-template", "acme-web", "--acme-days", "60", "--acme-http-port", String(legoPort), "--acme-resolver", `127.0.0.1:${dns.dnsPort}`],
    { beforeStart: (path) => appendFileSync(join(path, "depot.cnf"), TEMPLATES + ACME_TEMPLATE) },
  );
  await server.ready;
  writeFileSync(join(dir, "ca.crt"), readFileSync(join(server.depotPath, "certificates", "ca.crt")));
  const create = (name: string, ...flags: string[]) => (tokens[name] = depotOk(["token", "create", server.depotPath, "--name", name, ...flags]).trim());
  create("ops");
  create("vpn", "--template", "vpn-client", "--template", "vpn-server");
}, 60_000);

afterAll(async () => {
  await server?.kill();
  dns?.stop();
});

/** A shell script run in the test's folder, as a person would type it; fails the test on a non-zero exit. */
function sh(script: string, env: Record<string, string> = {}): string {
  const result = run(["sh", "-ec", script], { cwd: dir, env: { ...process.env, PORT: String(port), ...env } as Record<string, string> });
  if (result.exitCode !== 0) throw new Error(`sh failed (${result.exitCode}): ${script}\n${result.stderr}`);
  return result.stdout;
}

const curl = (args: string[]) => curlAnswer(join(dir, "ca.crt"), dir, args);
const issue = (token: string, body: Record<string, unknown>) =>
  curl(["-H", `Authorization: Bearer ${tokens[token]}`, "-H", "Content-Type: application/json", "--data-binary", JSON.stringify(body), `https://localhost:${port}/v1/certificates`]);
const estUrl = (operation: string) => `https://localhost:${port}/.well-known/est/${operation}`;
const count = () => (JSON.parse(depotOk(["list", server.depotPath, "--json"])) as unknown[]).length;

/** The extensions of a PEM certificate saved as `name`, as openssl prints them (ext_dump: unknown ones in hex). */
function extensionsOf(name: string, pem: string): string {
  writeFileSync(join(dir, name), pem);
  return sh(`openssl x509 -in ${name} -noout -text -certopt ext_dump | sed -n '/X509v3 extensions/,/Signature Algorithm/p'`);
}
const days = (name: string) => Number(sh(`echo $(( ( $(date -d "$(openssl x509 -in ${name} -noout -enddate | cut -d= -f2)" +%s) - $(date -d "$(openssl x509 -in ${name} -noout -startdate | cut -d= -f2)" +%s) ) / 86400 ))`).trim());

test("POST /v1/certificates with \"template\": issued under it (serverAuth alone, its extension, its days), the JSON names it; outside its name rules 403; an unknown one 400", () => {
  const answer = issue("ops", { template: "vpn-server", cn: "gw.vpn.example.com", keyType: "rsa-2048" });
  expect(answer.status).toBe(201);
  const body = JSON.parse(answer.body);
  expect(body).toMatchObject({ type: "server", template: "vpn-server", subject: "CN=gw.vpn.example.com" });
  const text = extensionsOf("gw.pem", body.certificate);
  expect(text).toContain("X509v3 Key Usage: critical\n                Digital Signature, Key Encipherment\n");
  expect(text).toContain("X509v3 Extended Key Usage: \n                TLS Web Server Authentication\n");
  expect(text).toContain("1.3.6.1.4.1.99999.1: \n                0000 - 0c 03 76 70 6e                           ..vpn\n");
  expect(days("gw.pem")).toBe(825);
  writeFileSync(join(dir, "gw.key"), body.privateKey, { mode: 0o600 });
  expect(JSON.parse(curl(["-H", `Authorization: Bearer ${tokens.ops}`, `https://localhost:${port}/v1/certificates/${body.serial}`]).body).template).toBe("vpn-server");

  const before = count();
  const outside = issue("ops", { template: "vpn-server", cn: "gw.example.org" });
  expect({ status: outside.status, body: JSON.parse(outside.body) }).toMatchObject({
    status: 403,
    body: { type: "urn:depot:problem:outside-policy", detail: "template 'vpn-server' does not allow the DNS name gw.example.org (allowed: *.vpn.example.com)" },
  });
  const tooLong = issue("ops", { template: "vpn-server", cn: "gw2.vpn.example.com", days: 900 });
  expect({ status: tooLong.status, detail: JSON.parse(tooLong.body).detail }).toEqual({ status: 403, detail: "template 'vpn-server' does not allow 900 days (at most 825)" });
  const unknown = issue("ops", { template: "vpn", cn: "gw2.vpn.example.com" });
  expect({ status: unknown.status, detail: JSON.parse(unknown.body).detail }).toEqual({ status: 400, detail: "no template named 'vpn' in depot.cnf; depot template list shows them" });
  const mismatch = issue("ops", { template: "vpn-server", type: "client", cn: "gw2.vpn.example.com" });
  expect({ status: mismatch.status, detail: JSON.parse(mismatch.body).detail }).toEqual({ status: 400, detail: "template 'vpn-server' makes server certificates; leave out type, or give server" });
  expect(count()).toBe(before);
});

test("a token limited to templates: its first when the request names none, another of its own when named, 403 for any other", () => {
  const first = issue("vpn", { cn: "vpn-alice" });
  expect(first.status).toBe(201);
  const alice = JSON.parse(first.body);
  expect(alice).toMatchObject({ type: "client", template: "vpn-client" });
  expect(extensionsOf("alice.pem", alice.certificate)).toContain("X509v3 Extended Key Usage: \n                TLS Web Client Authentication\n");
  expect(days("alice.pem")).toBe(90);
  expect(issue("vpn", { template: "vpn-server", cn: "gw3.vpn.example.com" }).status).toBe(201);

  const before = count();
  const other = issue("vpn", { template: "client", cn: "vpn-bob" });
  expect({ status: other.status, detail: JSON.parse(other.body).detail }).toEqual({ status: 403, detail: "token 'vpn' does not allow template 'client' (only vpn-client, vpn-server)" });
  const rules = issue("vpn", { cn: "bob" });
  expect({ status: rules.status, detail: JSON.parse(rules.body).detail }).toEqual({ status: 403, detail: "template 'vpn-client' does not allow CN=bob (allowed: cn:vpn-*)" });
  expect(count()).toBe(before);
});

test("EST with a label: /.well-known/est/vpn-server/simpleenroll issues under vpn-server; without one, the built-in client; an unknown label 404; a label the token may not use 403; cacerts under a label", () => {
  sh(`openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout est.key -subj /CN=est.vpn.example.com -outform DER | base64 > est.b64`);
  sh(`curl -sS --fail --cacert ca.crt -u ops:$TOKEN -H 'Content-Type: application/pkcs10' --data-binary @est.b64 https://localhost:$PORT/.well-known/est/vpn-server/simpleenroll | base64 -d | openssl pkcs7 -inform DER -print_certs > est.pem`, { TOKEN: tokens.ops! });
  expect(sh("openssl verify -CAfile ca.crt -purpose sslserver est.pem")).toBe("est.pem: OK\n");
  const text = extensionsOf("est-copy.pem", readFileSync(join(dir, "est.pem"), "utf8"));
  expect(text).toContain("X509v3 Extended Key Usage: \n                TLS Web Server Authentication\n");
  expect(text).toContain("DNS:est.vpn.example.com");
  expect(text).toContain("1.3.6.1.4.1.99999.1: ");
  const serial = sh("openssl x509 -in est.pem -noout -serial").trim().replace("serial=", "");
  expect(depotOk(["show", server.depotPath, serial])).toContain("Template:    vpn-server\n");

  sh(`curl -sS --fail --cacert ca.crt -u ops:$TOKEN -H 'Content-Type: application/pkcs10' --data-binary @est.b64 https://localhost:$PORT/.well-known/est/simpleenroll | base64 -d | openssl pkcs7 -inform DER -print_certs > est-plain.pem`, { TOKEN: tokens.ops! });
  expect(sh("openssl x509 -in est-plain.pem -noout -ext extendedKeyUsage")).toBe("X509v3 Extended Key Usage: \n    TLS Web Client Authentication\n");

  const post = (path: string, token: string) => curl(["-u", `${token}:${tokens[token]}`, "-H", "Content-Type: application/pkcs10", "--data-binary", "@est.b64", estUrl(path)]);
  const before = count();
  const unknown = post("nope/simpleenroll", "ops");
  expect({ status: unknown.status, detail: JSON.parse(unknown.body).detail }).toEqual({ status: 404, detail: "no EST label 'nope': the labels are the depot's templates (depot template list)" });
  const forbidden = post("acme-web/simpleenroll", "vpn");
  expect({ status: forbidden.status, detail: JSON.parse(forbidden.body).detail }).toEqual({ status: 403, detail: "token 'vpn' does not allow template 'acme-web' (only vpn-client, vpn-server)" });
  expect(count()).toBe(before);
  expect(curl([estUrl("vpn-server/cacerts")]).status).toBe(200);
  expect(curl([estUrl("nope/cacerts")]).status).toBe(404);
});

test("renewals keep the template: EST simplereenroll (under its label, or refused under another) and depot renew (POST /v1/renew)", async () => {
  const certificateDer = new Uint8Array(Buffer.from(sh("openssl x509 -in est.pem -outform DER | base64 -w0"), "base64"));
  const key = createPrivateKey(readFileSync(join(dir, "est.key"), "utf8"));
  const reenroll = async (label: string) =>
    curl(["-H", `X-Depot-Proof: ${await makeProof(certificateDer, key, estUrl(`${label}simplereenroll`), new Date())}`, "-H", "Content-Type: application/pkcs10", "--data-binary", "@est.b64", estUrl(`${label}simplereenroll`)]);
  const wrong = await reenroll("vpn-client/");
  expect({ status: wrong.status, detail: JSON.parse(wrong.body).detail }).toEqual({
    status: 400,
    detail: "this certificate was issued under template 'vpn-server': renew it at /.well-known/est/vpn-server/simplereenroll, or without a label",
  });
  const renewed = await reenroll("vpn-server/");
  expect(renewed.status).toBe(200);
  writeFileSync(join(dir, "est-renewed.b64"), renewed.body);
  sh("base64 -d est-renewed.b64 | openssl pkcs7 -inform DER -print_certs > est-renewed.pem");
  expect(sh("openssl x509 -in est-renewed.pem -noout -text -certopt ext_dump")).toContain("1.3.6.1.4.1.99999.1: ");
  const serial = sh("openssl x509 -in est-renewed.pem -noout -serial").trim().replace("serial=", "");
  expect(depotOk(["show", server.depotPath, serial])).toContain("Template:    vpn-server\n");

  // depot renew, the client of POST /v1/renew, on the certificate the API made above.
  const oldSerial = sh("openssl x509 -in gw.pem -noout -serial");
  const result = depot(["renew", "--cert", join(dir, "gw.pem"), "--key", join(dir, "gw.key"), "--server", `https://localhost:${port}`, "--ca-file", join(dir, "ca.crt")]);
  expect(result.exitCode).toBe(0);
  expect(sh("openssl x509 -in gw.pem -noout -serial")).not.toBe(oldSerial);
  const text = sh("openssl x509 -in gw.pem -noout -text -certopt ext_dump");
  expect(text).toContain("TLS Web Server Authentication\n");
  expect(text).not.toContain("TLS Web Client Authentication");
  expect(text).toContain("1.3.6.1.4.1.99999.1: ");
  expect(days("gw.pem")).toBe(825);
});

test("the line protocol: 'sign vpn-client' issues under it; outside its rules, or an unknown template, one ERROR line", async () => {
  const csrFor = (cn: string) => {
    sh(`openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout line.key -subj /CN=${cn} -out line.csr`);
    return readFileSync(join(dir, "line.csr"), "utf8");
  };
  const signed = await request(server.port, `sign vpn-client\n${csrFor("vpn-carol")}`, { raw: true });
  const [certificate] = pemBlocks(signed);
  expect(extensionsOf("carol.pem", certificate!)).toContain("X509v3 Extended Key Usage: \n                TLS Web Client Authentication\n");
  expect(days("carol.pem")).toBe(90);
  const before = count();
  expect(await request(server.port, `sign vpn-client\n${csrFor("bob")}`, { raw: true })).toBe("ERROR template 'vpn-client' does not allow CN=bob (allowed: cn:vpn-*)\n");
  expect(await request(server.port, `sign vpn\n${csrFor("vpn-dave")}`, { raw: true })).toBe("ERROR no template named 'vpn' in depot.cnf; depot template list shows them\n");
  expect(count()).toBe(before);
});

test("lego gets a certificate under --acme-template acme-web: serverAuth alone, its extension, its 30 days over --acme-days 60; the ledger names the template", async () => {
  const legoDir = tempDir("lego-tpl-");
  const result = await runAsync(
    ["lego", "--server", `https://localhost:${port}/acme/directory`, "--accept-tos", "--email", "ops@example.test", "--path", legoDir, "--domains", "tpl.lego.test", "--http", "--http.port", `127.0.0.1:${legoPort}`, "run"],
    { env: { LEGO_CA_CERTIFICATES: join(dir, "ca.crt") } },
  );
  if (result.exitCode !== 0) throw new Error(`lego failed (${result.exitCode}):\n${result.stderr.slice(-3000)}\nserver log:\n${server.log().slice(-2000)}`);
  const [leaf] = pemBlocks(readFileSync(join(legoDir, "certificates", "tpl.lego.test.crt"), "utf8"));
  const text = extensionsOf("lego.pem", leaf!);
  expect(text).toContain("X509v3 Extended Key Usage: \n                TLS Web Server Authentication\n");
  expect(text).toContain("1.3.6.1.4.1.99999.4: \n                0000 - 0c 08 61 63 6d 65 2d 77-65 62            ..acme-web\n");
  expect(text).toContain("DNS:tpl.lego.test");
  expect(sh("openssl verify -CAfile ca.crt -purpose sslserver lego.pem")).toBe("lego.pem: OK\n");
  expect(days("lego.pem")).toBe(30);
  const serial = sh("openssl x509 -in lego.pem -noout -serial").trim().replace("serial=", "");
  expect(depotOk(["show", server.depotPath, serial])).toContain("Template:    acme-web\n");
}, 60_000);

test("depot start refuses a depot.cnf with a bad template (its line), an unknown --acme-template, and one whose base is not server", () => {
  const home = tempDir("depot-tpl-start-");
  const path = join(home, "ca");
  depotOk(["init", path, "Start CA", "--key-type", "ec-p256"]);
  const config = readFileSync(join(path, "depot.cnf"), "utf8");
  const start = (...flags: string[]) => {
    const result = run([join(import.meta.dir, "..", "dist", "depot"), "start", path, "--port", String(freePort()), "--pid-file", join(home, "pid"), ...flags], { env: { HOME: home } });
    return { exitCode: result.exitCode, lastLine: result.stderr.trim().split("\n").at(-1) };
  };
  writeFileSync(join(path, "depot.cnf"), `${config}\n[ template vpn ]\nbase = server\nextended_key_usage = srvAuth\n`);
  expect(start()).toEqual({ exitCode: 1, lastLine: `depot: ${path}/depot.cnf line 11: [ template vpn ] extended_key_usage: 'srvAuth' is not a known purpose (serverAuth, clientAuth, codeSigning, emailProtection, timeStamping, OCSPSigning) or a dotted OID` });
  writeFileSync(join(path, "depot.cnf"), config + TEMPLATES);
  const acme = ["--https-port", String(freePort()), "--acme", "--acme-template"];
  expect(start(...acme, "nope")).toEqual({ exitCode: 1, lastLine: "depot: --acme-template nope: no template named 'nope' in depot.cnf; depot template list shows them" });
  expect(start(...acme, "vpn-client")).toEqual({ exitCode: 1, lastLine: "depot: --acme-template vpn-client: template 'vpn-client' makes client certificates; --acme-template needs one with base = server" });
}, 60_000);
