// lego (Debian's 4.9) gets certificates from a running dist/depot (2
// workers, --https-port --acme) over http-01, tls-alpn-01 and dns-01, for
// several names in one order, with an external account binding (made by
// `depot acme eab`) when required, and renews; openssl verifies each against
// the depot's CA and the names match the order.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { chmodSync, readFileSync } from "node:fs";
import { X509Certificate } from "node:crypto";
import { join } from "node:path";
import { type ChallTestSrv, freePort, runAsync, type ServedAcme, startChallTestSrv, startServedAcme, writeTemp } from "./acme-clients/harness.ts";
import { depotOk, openssl, pemBlocks, tempDir } from "./helpers.ts";
import { ensureTool } from "./tools.ts";

let dns: ChallTestSrv;
let acme: ServedAcme;
let httpPort: number;
let tlsPort: number;

beforeAll(async () => {
  ensureTool("lego", "lego");
  dns = await startChallTestSrv();
  httpPort = freePort();
  tlsPort = freePort();
  acme = await startServedAcme(["--acme-http-port", String(httpPort), "--acme-tls-port", String(tlsPort), "--acme-resolver", `127.0.0.1:${dns.dnsPort}`]);
}, 60_000);

afterAll(async () => {
  await acme?.stop();
  dns?.stop();
}, 60_000);

async function lego(dir: string, args: string[], served = acme) {
  const result = await runAsync(["lego", "--server", served.directory, "--accept-tos", "--email", "ops@example.test", "--path", dir, ...args], {
    env: { LEGO_CA_CERTIFICATES: served.caFile },
  });
  if (result.exitCode !== 0) throw new Error(`lego ${args.join(" ")} failed (${result.exitCode}):\n${result.stderr.slice(-3000)}\nserver log:\n${served.server.log().slice(-2000)}`);
  return result;
}

/** lego's certificate for `first`: verified by openssl against the CA, with exactly `names`. */
function checkIssued(dir: string, first: string, names: string[], caFile = acme.caFile): X509Certificate {
  const file = join(dir, "certificates", `${first.replace("*", "_")}.crt`);
  const chain = readFileSync(file, "utf8");
  const leafFile = writeTemp("leaf.pem", pemBlocks(chain)[0]!);
  expect(openssl(["verify", "-CAfile", caFile, "-purpose", "sslserver", leafFile]).stdout.trim()).toBe(`${leafFile}: OK`);
  const leaf = new X509Certificate(pemBlocks(chain)[0]!);
  const sans = leaf.subjectAltName!.split(", ").map((n) => n.replace(/^DNS:|^IP Address:/, "")).sort();
  expect(sans).toEqual([...names].sort());
  return leaf;
}

test("lego over http-01, several names in one order, then renew", async () => {
  const dir = tempDir("lego-");
  const names = ["one.lego.test", "two.lego.test", "three.lego.test"];
  await lego(dir, [...names.flatMap((n) => ["--domains", n]), "--http", "--http.port", `127.0.0.1:${httpPort}`, "run"]);
  const first = checkIssued(dir, names[0]!, names);
  await lego(dir, [...names.flatMap((n) => ["--domains", n]), "--http", "--http.port", `127.0.0.1:${httpPort}`, "renew", "--days", "30", "--no-random-sleep"]);
  const renewed = checkIssued(dir, names[0]!, names);
  expect(renewed.serialNumber).not.toBe(first.serialNumber);
}, 60_000);

test("lego over tls-alpn-01", async () => {
  const dir = tempDir("lego-");
  await lego(dir, ["--domains", "alpn.lego.test", "--tls", "--tls.port", `127.0.0.1:${tlsPort}`, "run"]);
  checkIssued(dir, "alpn.lego.test", ["alpn.lego.test"]);
}, 60_000);

test("lego over dns-01 with a wildcard, the TXT record set through challtestsrv's /set-txt", async () => {
  const dir = tempDir("lego-");
  const script = writeTemp(
    "set-txt.sh",
    `#!/bin/sh\n# lego's exec provider: $1 present|cleanup, $2 the FQDN, $3 the value\n[ "$1" = present ] || exit 0\nexec curl -sf -X POST -d "{\\"host\\":\\"$2\\",\\"value\\":\\"$3\\"}" http://127.0.0.1:${dns.managementPort}/set-txt\n`,
  );
  chmodSync(script, 0o755);
  const result = await runAsync(
    ["lego", "--server", acme.directory, "--accept-tos", "--email", "ops@example.test", "--path", dir, "--domains", "*.dns.lego.test", "--domains", "dns.lego.test", "--dns", "exec", "--dns.resolvers", `127.0.0.1:${dns.dnsPort}`, "--dns.disable-cp", "run"],
    { env: { LEGO_CA_CERTIFICATES: acme.caFile, EXEC_PATH: script, EXEC_SEQUENCE_INTERVAL: "1", EXEC_POLLING_INTERVAL: "1" } },
  );
  if (result.exitCode !== 0) throw new Error(`lego dns-01 failed:\n${result.stderr.slice(-3000)}`);
  checkIssued(dir, "*.dns.lego.test", ["*.dns.lego.test", "dns.lego.test"]);
}, 60_000);

test("lego with an external account binding when the server requires one; without it, lego is refused", async () => {
  const eab = await startServedAcme(["--acme-require-eab", "--acme-http-port", String(httpPort), "--acme-resolver", `127.0.0.1:${dns.dnsPort}`]);
  try {
    const refused = await runAsync(["lego", "--server", eab.directory, "--accept-tos", "--email", "ops@example.test", "--path", tempDir("lego-"), "--domains", "eab.lego.test", "--http", "--http.port", `127.0.0.1:${httpPort}`, "run"], {
      env: { LEGO_CA_CERTIFICATES: eab.caFile },
    });
    expect(refused.exitCode).not.toBe(0);
    // lego reads meta.externalAccountRequired from the directory and stops before asking.
    expect(refused.stderr).toContain("Server requires External Account Binding");
    // The binding key made with the CLI while the server runs: the workers read it from the ledger.
    const out = depotOk(["acme", "eab", eab.depotPath, "--name", "lego", "--allow", "*.lego.test"]);
    const legoFlags = /^lego: +(.*)$/m.exec(out)![1]!.split(" ");
    const dir = tempDir("lego-");
    await lego(dir, [...legoFlags, "--domains", "eab.lego.test", "--http", "--http.port", `127.0.0.1:${httpPort}`, "run"], eab);
    checkIssued(dir, "eab.lego.test", ["eab.lego.test"], eab.caFile);
  } finally {
    await eab.stop();
  }
}, 60_000);
