/**
 * SSH certificates over the HTTPS API, with curl: a token's SSH policy
 * (kinds, principals, key ids, validity) decides, each certificate is read
 * by the real ssh-keygen and recorded in the ledger with its audit record; a
 * revoke over the API reaches /ssh/krl (plain HTTP) within a second; and a
 * server on an encrypted depot signs with the SSH CA keys its supervisor
 * decrypted and handed over.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Subprocess } from "bun";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DEPOT_BIN, depot, depotOk, run, succeeded, tempDir } from "./helpers.ts";
import { freePort, type RunningServer, startServer, waitFor } from "./server-helpers.ts";
import { ensureTool } from "./tools.ts";

ensureTool("curl", "curl");
ensureTool("ssh-keygen", "openssh-client");

const dir = tempDir("depot-ssh-api-");
const userPub = (() => {
  const path = join(dir, "id");
  succeeded(run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "api-user", "-f", path]));
  return readFileSync(`${path}.pub`, "utf8").trim();
})();

interface Answer {
  status: number;
  body: Record<string, unknown>;
}

function curl(caFile: string, port: number, method: string, urlPath: string, token: string, json?: unknown): Answer {
  const args = ["curl", "-sS", "--cacert", caFile, "-X", method, "-w", "\n%{http_code}", "-H", `Authorization: Bearer ${token}`];
  if (json !== undefined) args.push("-H", "Content-Type: application/json", "--data-binary", JSON.stringify(json));
  args.push(`https://localhost:${port}${urlPath}`);
  const result = run(args);
  if (result.exitCode !== 0) throw new Error(`curl failed (${result.exitCode}): ${result.stderr}`);
  const lines = result.stdout.trimEnd().split("\n");
  return { status: Number(lines.pop()), body: JSON.parse(lines.join("\n")) as Record<string, unknown> };
}

function sshKeygenL(certificate: string): string {
  const file = join(dir, `c-${Math.random().toString(36).slice(2)}-cert.pub`);
  writeFileSync(file, `${certificate}\n`);
  return succeeded(run(["ssh-keygen", "-L", "-f", file]));
}

describe("a server on a plain depot", () => {
  let server: RunningServer;
  let httpsPort: number;
  let httpPort: number;
  let caFile: string;
  const tokens: Record<string, string> = {};

  beforeAll(async () => {
    httpsPort = freePort();
    httpPort = freePort();
    server = await startServer(["--https-port", String(httpsPort), "--http-port", String(httpPort), "--process-count", "2"]);
    await server.ready;
    caFile = join(server.depotPath, "certificates", "ca.crt");
    depotOk(["ssh", "init", server.depotPath]);
    const create = (name: string, ...flags: string[]) => (tokens[name] = depotOk(["token", "create", server.depotPath, "--name", name, ...flags]).trim());
    create("deployers", "--ssh", "user", "--ssh-principal", "deploy-*", "--ssh-key-id", "ci-*", "--ssh-max-valid", "1h", "--uses", "3");
    create("x509-only", "--allow", "*.example.com");
    create("admin", "--admin");
  }, 30_000);

  afterAll(async () => {
    server?.process.kill("SIGQUIT");
    await server?.process.exited;
  });

  test("a certificate within the policy: 201, ssh-keygen reads it, the ledger and the audit chain hold it", () => {
    const answer = curl(caFile, httpsPort, "POST", "/v1/ssh/certificates", tokens.deployers!, {
      publicKey: userPub,
      principals: ["deploy-web"],
      keyId: "ci-42",
      valid: "30m",
      sourceAddress: ["10.1.0.0/16"],
    });
    expect(answer.status).toBe(201);
    expect(answer.body).toMatchObject({ type: "user", keyId: "ci-42", principals: ["deploy-web"], keyType: "ssh-ed25519" });
    const shown = sshKeygenL(answer.body.certificate as string);
    expect(shown).toContain(`Serial: ${answer.body.serial}`);
    expect(shown).toContain('Key ID: "ci-42"');
    expect(shown).toContain("source-address 10.1.0.0/16");
    const listed = JSON.parse(depotOk(["ssh", "list", server.depotPath, "--json"])) as { serial: string }[];
    expect(listed.map((r) => r.serial)).toContain(answer.body.serial as string);
    const audit = depotOk(["audit", "export", server.depotPath]).trim().split("\n").map((l) => JSON.parse(l) as { event: string; requester: string; serial?: string });
    expect(audit.find((r) => r.event === "ssh-issue" && r.serial === answer.body.serial)).toMatchObject({ requester: "token:deployers", client: "127.0.0.1" });
  });

  test.each([
    ["a principal outside", { principals: ["root"], keyId: "ci-1" }, 403, "token 'deployers' does not allow the principal root (allowed: deploy-*)"],
    ["a key id outside", { principals: ["deploy-a"], keyId: "laptop" }, 403, "token 'deployers' does not allow the key id laptop (allowed: ci-*)"],
    ["too long", { principals: ["deploy-a"], keyId: "ci-1", valid: "2h" }, 403, "token 'deployers' does not allow a validity of 7200 s (at most 3600 s)"],
    ["a host certificate", { type: "host", principals: ["deploy-a"], keyId: "ci-1" }, 403, "token 'deployers' does not allow SSH host certificates (only user)"],
    ["a malformed key", { principals: ["deploy-a"], keyId: "ci-1", publicKey: "ssh-ed25519 AAAA" }, 400, "the SSH public key: the ssh-ed25519 public key is malformed"],
    ["no principal", { principals: [], keyId: "ci-1" }, 400, "an SSH certificate needs at least one principal (a user name, or the host's names)"],
    ["an unknown field", { principals: ["deploy-a"], hack: true }, 400, undefined],
  ])("%s is refused (%#)", (_what, fields, status, detail) => {
    const answer = curl(caFile, httpsPort, "POST", "/v1/ssh/certificates", tokens.deployers!, { publicKey: userPub, ...fields });
    expect(answer.status).toBe(status);
    if (detail) expect(answer.body.detail).toBe(detail);
  });

  test("a token made without --ssh signs no SSH certificate", () => {
    const answer = curl(caFile, httpsPort, "POST", "/v1/ssh/certificates", tokens["x509-only"]!, { type: "user", publicKey: userPub, principals: ["bob"] });
    expect(answer.status).toBe(403);
    expect(answer.body.detail).toBe("token 'x509-only' does not allow SSH certificates (it was made without --ssh)");
  });

  test("a revoke over the API reaches /ssh/krl within a second; ssh-keygen -Q then says REVOKED", async () => {
    const issued = curl(caFile, httpsPort, "POST", "/v1/ssh/certificates", tokens.deployers!, { publicKey: userPub, principals: ["deploy-db"], keyId: "ci-7" });
    expect(issued.status).toBe(201);
    const certFile = join(dir, "revoked-cert.pub");
    writeFileSync(certFile, `${issued.body.certificate}\n`);
    const krlFile = join(dir, "served.krl");
    const fetchKrl = async () => {
      const response = await fetch(`http://127.0.0.1:${httpPort}/ssh/krl`);
      expect(response.status).toBe(200);
      writeFileSync(krlFile, new Uint8Array(await response.arrayBuffer()));
      return run(["ssh-keygen", "-Q", "-f", krlFile, certFile]);
    };
    expect((await fetchKrl()).exitCode).toBe(0);
    expect(curl(caFile, httpsPort, "POST", `/v1/ssh/certificates/${issued.body.serial}/revoke`, tokens.deployers!, { reason: "keyCompromise" }).status).toBe(403);
    const revoked = curl(caFile, httpsPort, "POST", `/v1/ssh/certificates/${issued.body.serial}/revoke`, tokens.admin!, { reason: "keyCompromise" });
    expect(revoked.status).toBe(200);
    expect(revoked.body).toMatchObject({ serial: issued.body.serial, status: "revoked", reason: "keyCompromise" });
    const started = performance.now();
    await waitFor(async () => (await fetchKrl()).stdout.includes("REVOKED"), 1_000, () => `the KRL served at /ssh/krl did not list the serial within 1 s; log:\n${server.log()}`);
    console.log(`revoke to /ssh/krl: ${Math.round(performance.now() - started)} ms`);
    expect(curl(caFile, httpsPort, "POST", `/v1/ssh/certificates/${issued.body.serial}/revoke`, tokens.admin!).status).toBe(409);
    const hostCa = await fetch(`http://127.0.0.1:${httpPort}/ssh/host_ca.pub`);
    expect(await hostCa.text()).toBe(readFileSync(join(server.depotPath, "ssh", "host_ca.pub"), "utf8"));
  });

  test("a one-time token's uses count SSH certificates too", () => {
    // deployers allows 3: two were used above (a refused request takes none).
    const third = curl(caFile, httpsPort, "POST", "/v1/ssh/certificates", tokens.deployers!, { publicKey: userPub, principals: ["deploy-x"], keyId: "ci-9" });
    expect(third.status).toBe(201);
    const fourth = curl(caFile, httpsPort, "POST", "/v1/ssh/certificates", tokens.deployers!, { publicKey: userPub, principals: ["deploy-x"], keyId: "ci-9" });
    expect(fourth.status).toBe(401);
  });
});

describe("a server on an encrypted depot", () => {
  let server: Subprocess | undefined;
  afterAll(async () => {
    server?.kill("SIGQUIT");
    await server?.exited;
  });

  test("signs SSH certificates with the keys its supervisor decrypted; no key file is decrypted by a worker", async () => {
    const home = tempDir("depot-ssh-enc-server-");
    const root = join(home, "ca");
    const passphraseFile = join(home, "passphrase");
    writeFileSync(passphraseFile, "ssh server passphrase\n", { mode: 0o600 });
    succeeded(depot(["init", root, "--encrypt", "--passphrase-file", passphraseFile, "--key-type", "ec-p256"]));
    succeeded(depot(["ssh", "init", root, "--passphrase-file", passphraseFile]));
    const token = depotOk(["token", "create", root, "--name", "ops", "--ssh", "host", "--ssh-principal", "*.example.com"]).trim();
    const port = freePort();
    const httpsPort = freePort();
    const logFile = join(home, "depot.log");
    server = Bun.spawn(
      [DEPOT_BIN, "start", root, "--port", String(port), "--https-port", String(httpsPort), "--pid-file", join(home, "depot.pid"), "--log-file", logFile, "--passphrase-file", passphraseFile],
      { stdin: "ignore", stdout: "pipe", stderr: "pipe", env: { ...process.env, HOME: home } },
    );
    const log = () => { try { return readFileSync(logFile, "utf8"); } catch { return ""; } };
    await waitFor(() => /All \d+ workers ready/.test(log()), 20_000, () => `not ready:\n${log()}`);
    const answer = curl(join(root, "certificates", "ca.crt"), httpsPort, "POST", "/v1/ssh/certificates", token, { publicKey: userPub, principals: ["web1.example.com"] });
    expect(answer.status).toBe(201);
    expect(answer.body.type).toBe("host");
    expect(sshKeygenL(answer.body.certificate as string)).toContain("host certificate");
  }, 60_000);
});
