// certbot (Debian's 2.1) gets a certificate from a running dist/depot (2
// workers, --https-port --acme) with `certonly --standalone` over http-01,
// renews it with --force-renewal and revokes it; openssl verifies the
// certificates against the depot's CA, and after the revoke the server's
// OCSP responder says revoked, the ledger too, and the CRL lists it.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Depot } from "../src/ca/depot.ts";
import { type ChallTestSrv, freePort, runAsync, type ServedAcme, startChallTestSrv, startServedAcme, waitFor } from "./acme-clients/harness.ts";
import { openssl, tempDir } from "./helpers.ts";
import { ensureTool } from "./tools.ts";

let dns: ChallTestSrv;
let acme: ServedAcme;
let httpPort: number;
let publicPort: number;

beforeAll(async () => {
  ensureTool("certbot", "certbot");
  dns = await startChallTestSrv();
  httpPort = freePort();
  publicPort = freePort();
  acme = await startServedAcme(["--http-port", String(publicPort), "--acme-http-port", String(httpPort), "--acme-resolver", `127.0.0.1:${dns.dnsPort}`]);
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
    if (result.exitCode !== 0) throw new Error(`certbot ${args[0]} failed (${result.exitCode}):\n${result.stderr.slice(-3000)}\nserver log:\n${acme.server.log().slice(-2000)}`);
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
  const ocsp = () =>
    openssl(["ocsp", "-issuer", acme.caFile, "-cert", join(live, "cert.pem"), "-url", `http://127.0.0.1:${publicPort}/ocsp`, "-CAfile", acme.caFile, "-no_nonce"]).stdout;
  expect(ocsp()).toContain(": good");
  await certbot(["renew", "--force-renewal", "--no-random-sleep-on-renew"]);
  const renewed = check();
  expect(renewed.serialNumber).not.toBe(first.serialNumber);

  await certbot(["revoke", "--cert-path", join(live, "cert.pem"), "--server", acme.directory, "--reason", "superseded", "--no-delete-after-revoke"]);
  expect(ocsp()).toMatch(/: revoked\n[\s\S]*Reason: superseded/);
  const serial = renewed.serialNumber.toLowerCase().replace(/^(00)+(?=..)/, "");
  const depot = await Depot.open(acme.depotPath);
  try {
    const record = await depot.ledger.find(serial);
    expect(record?.status).toBe("revoked");
    expect(record?.revocationReason).toBe("superseded");
    // The workers record; the server's upkeep process publishes the CRL.
    await waitFor(() => openssl(["crl", "-noout", "-text"], depot.currentCrlPem()).stdout.includes(`Serial Number: ${serial.toUpperCase()}`), 15_000, "the CRL lists the revoked certificate");
  } finally {
    depot.close();
  }
}, 240_000);
