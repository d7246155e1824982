// certbot (Debian's 2.1) gets a certificate from depot's ACME server with
// `certonly --standalone` over http-01, renews it with --force-renewal and
// revokes it; openssl verifies the certificates against the depot's CA, and
// after the revoke the ledger and the CRL say revoked.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { type ChallTestSrv, freePort, type LocalAcme, runAsync, startChallTestSrv, startLocalAcme } from "./acme-clients/harness.ts";
import { openssl, tempDir } from "./helpers.ts";
import { ensureTool } from "./tools.ts";

let dns: ChallTestSrv;
let acme: LocalAcme;
let httpPort: number;

beforeAll(async () => {
  ensureTool("certbot", "certbot");
  dns = await startChallTestSrv();
  httpPort = freePort();
  acme = await startLocalAcme({ validators: { httpPort, resolver: `127.0.0.1:${dns.dnsPort}`, timeoutMs: 5000 } });
}, 120_000);

afterAll(async () => {
  await acme?.stop();
  dns?.stop();
});

test("certbot certonly --standalone, renew --force-renewal, revoke", async () => {
  const home = tempDir("certbot-");
  const dirs = ["--config-dir", join(home, "config"), "--work-dir", join(home, "work"), "--logs-dir", join(home, "logs")];
  const env = { REQUESTS_CA_BUNDLE: acme.caFile, HOME: home };
  const certbot = async (args: string[]) => {
    const result = await runAsync(["certbot", ...args, ...dirs, "--non-interactive"], { env, timeoutMs: 90_000 });
    if (result.exitCode !== 0) throw new Error(`certbot ${args[0]} failed (${result.exitCode}):\n${result.stderr.slice(-3000)}`);
    return result;
  };
  const name = "bot.certbot.test";
  await certbot(["certonly", "--standalone", "--http-01-port", String(httpPort), "--http-01-address", "127.0.0.1", "--server", acme.directory, "--agree-tos", "--email", "ops@example.test", "-d", name]);
  const live = join(home, "config", "live", name);
  const check = () => {
    const file = join(live, "cert.pem");
    expect(openssl(["verify", "-CAfile", acme.caFile, "-purpose", "sslserver", file]).stdout.trim()).toBe(`${file}: OK`);
    const leaf = new X509Certificate(readFileSync(file));
    expect(leaf.subjectAltName).toBe(`DNS:${name}`);
    return leaf;
  };
  const first = check();
  await certbot(["renew", "--force-renewal", "--no-random-sleep-on-renew"]);
  const renewed = check();
  expect(renewed.serialNumber).not.toBe(first.serialNumber);

  await certbot(["revoke", "--cert-path", join(live, "cert.pem"), "--server", acme.directory, "--reason", "superseded", "--no-delete-after-revoke"]);
  const serial = renewed.serialNumber.toLowerCase().replace(/^(00)+(?=..)/, "");
  const record = await acme.depot.ledger.find(serial);
  expect(record?.status).toBe("revoked");
  expect(record?.revocationReason).toBe("superseded");
  expect(openssl(["crl", "-noout", "-text"], acme.depot.currentCrlPem()).stdout).toContain(`Serial Number: ${serial.toUpperCase()}`);
}, 240_000);
