/**
 * A browser, end to end: headless Chromium, with the depot's CA trusted in
 * its NSS database, a client certificate imported from `depot generate
 * --p12` with pk12util, and an AutoSelectCertificateForUrls policy, loads a
 * page from nginx that requires a depot client certificate; without the
 * certificate nginx refuses it. The policy file is machine-wide
 * (/etc/chromium/policies/managed), so it is written for this test alone
 * and removed after it.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { depot, run, tempDir } from "./helpers.ts";
import { ensureNginx, type RunningNginx, startNginx } from "./nginx.ts";
import { ensureTool } from "./tools.ts";

const POLICY_DIR = "/etc/chromium/policies/managed";
const PASSWORD = "browser test";
let dir: string;
let policyFile: string;
let nginx: RunningNginx | undefined;

/** A HOME whose NSS database trusts the depot's CA and, if given, holds a client certificate. */
function browserHome(name: string, p12?: string): string {
  const home = join(dir, name);
  const db = join(home, ".pki", "nssdb");
  mkdirSync(db, { recursive: true });
  const must = (args: string[]) => {
    const result = run(args);
    if (result.exitCode !== 0) throw new Error(`${args.join(" ")} failed: ${result.stdout}${result.stderr}`);
  };
  must(["certutil", "-N", "-d", `sql:${db}`, "--empty-password"]);
  must(["certutil", "-A", "-d", `sql:${db}`, "-t", "C,,", "-n", "depot browser test CA", "-i", join(dir, "ca", "certificates", "ca.crt")]);
  if (p12) {
    writeFileSync(join(home, "pw"), PASSWORD);
    must(["pk12util", "-i", p12, "-d", `sql:${db}`, "-w", join(home, "pw")]);
  }
  return home;
}

/** The page as headless Chromium renders it (its DOM), with the given HOME. */
function load(home: string): string {
  const result = run(
    [
      "chromium", "--no-sandbox", "--headless=new", "--disable-gpu", "--disable-quic", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync",
      `--user-data-dir=${join(home, "profile")}`, "--virtual-time-budget=5000", "--dump-dom", `https://127.0.0.1:${nginx!.port}/`,
    ],
    { env: { HOME: home } },
  );
  return result.stdout;
}

beforeAll(async () => {
  const started = Date.now();
  ensureNginx();
  ensureTool("pk12util", "libnss3-tools");
  ensureTool("chromium", "chromium");
  process.stderr.write(`browser test: tools ready in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
  dir = tempDir("depot-browser-");
  const ca = join(dir, "ca");
  const ok = (args: string[]) => {
    const result = depot(args);
    if (result.exitCode !== 0) throw new Error(`depot ${args.join(" ")}: ${result.stderr}`);
  };
  ok(["init", ca, "Browser Test CA", "--key-type", "ec-p256"]);
  ok(["generate", ca, "--type", "server", "--cn", "localhost", "--san", "127.0.0.1", "--out", join(dir, "server.pem")]);
  writeFileSync(join(dir, "pw"), PASSWORD);
  ok(["generate", ca, "--type", "client", "--cn", "Browser User", "--p12", join(dir, "user.p12"), "--password-file", join(dir, "pw")]);

  nginx = await startNginx({
    certificate: join(dir, "server.pem"),
    directives: `ssl_client_certificate ${ca}/certificates/ca.crt;
ssl_verify_client on;`,
  });

  mkdirSync(POLICY_DIR, { recursive: true });
  policyFile = join(POLICY_DIR, `depot-test-${process.pid}.json`);
  writeFileSync(policyFile, JSON.stringify({ AutoSelectCertificateForUrls: [JSON.stringify({ pattern: `https://127.0.0.1:${nginx.port}`, filter: {} })] }));
}, 900_000);

afterAll(async () => {
  if (policyFile) rmSync(policyFile, { force: true });
  await nginx?.stop();
});

describe("headless Chromium and nginx requiring a depot client certificate", () => {
  test("with the PKCS#12 from depot generate imported: the page loads, and nginx saw the certificate", () => {
    const dom = load(browserHome("with-certificate", join(dir, "user.p12")));
    expect(dom).toContain("hello CN=Browser User");
  }, 120_000);

  test("without a client certificate: nginx refuses it", () => {
    const dom = load(browserHome("without-certificate"));
    expect(dom).toContain("400 No required SSL certificate was sent");
    expect(dom).not.toContain("hello");
  }, 120_000);
});
