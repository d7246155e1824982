// EST and SCEP across two depot hosts on one PostgreSQL ledger (real dist/depot processes, the second a copy of the first's folder, as the README makes it): a token made on host B enrols a device over EST at host A; a SCEP challenge made on A enrols at B through certmonger's scep-submit, and the same request resent to A (its answer lost) gets the same certificate from the shared transaction store, not a second use of the one-time challenge. openssl verifies every certificate; each host's CLI shows the other's.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { depot, run, tempDir } from "./helpers.ts";
import { type PgDatabase, pgDatabase } from "./pg-server.ts";
import { base64Of, envelopeFor, makeRequest, pkiMessage, SCEP_SUBMIT, sh } from "./scep-client.ts";
import { type PgHost, startPgHost, twoHostFolders } from "./pg-hosts.ts";
import { freePort } from "./server-helpers.ts";
import { ensureProgram, ensureTool } from "./tools.ts";

const running: PgHost[] = [];
let db: PgDatabase;
let first: string;
let second: string;
let dir: string;

beforeAll(() => {
  ensureProgram(SCEP_SUBMIT, "certmonger", { startsNoService: true });
  ensureTool("curl", "curl");
  dir = tempDir("depot-enrol-pg-");
});

afterAll(async () => {
  for (const host of running) await host.kill();
});

async function startHost(path: string): Promise<{ http: number; https: number }> {
  const [http, https] = [freePort(), freePort()];
  running.push(await startPgHost(path, db, ["--http-port", String(http), "--https-port", String(https), "--process-count", "1"]));
  return { http, https };
}

const cli = (args: string[]) => {
  const result = depot(args, { env: db.env });
  expect(result.stderr.includes("    at ")).toBe(false);
  expect(result.exitCode).toBe(0);
  return result.stdout;
};

test("EST and SCEP enrolments on either host of one PostgreSQL ledger", async () => {
  db = await pgDatabase();
  [first, second] = twoHostFolders(db, { before: (path) => cli(["scep", "init", path]), alsoCopy: ["scep_ra.crt"] });
  const [a, b] = [await startHost(first), await startHost(second)];
  writeFileSync(join(dir, "ca.crt"), readFileSync(join(first, "certificates", "ca.crt")));

  // EST: a token made through host B's folder, used at host A.
  const token = cli(["token", "create", second, "--name", "est-devices", "--allow", "cn:device-*"]).trim();
  sh(dir, `openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout est.key -subj /CN=device-est -outform DER 2>/dev/null | base64 > est.b64
curl -sS --fail --cacert ca.crt -H "Authorization: Bearer ${token}" -H 'Content-Type: application/pkcs10' --data-binary @est.b64 https://localhost:${a.https}/.well-known/est/simpleenroll | base64 -d | openssl pkcs7 -inform DER -print_certs -out est.crt`);
  expect(sh(dir, "openssl verify -CAfile ca.crt est.crt")).toBe("est.crt: OK\n");
  const estSerial = sh(dir, "openssl x509 -in est.crt -noout -serial").trim().replace(/^serial=/, "");
  expect(cli(["show", second, estSerial])).toContain("CN=device-est");

  // SCEP: a challenge made through host A's folder, the enrolment at host B.
  const password = cli(["scep", "challenge", "create", first, "--name", "shared-printer"]).trim();
  writeFileSync(join(dir, "ra.pem"), readFileSync(join(first, "scep_ra.crt")));
  makeRequest(dir, "printer", "/CN=printer-pg", password);
  const { der } = pkiMessage(dir, { messageType: "19", transactionId: "TX-PG-1", envelope: envelopeFor(dir, "printer.csr.der", "ra.pem"), certificate: "printer.self.crt", key: "printer.key" });
  const submit = (port: number) =>
    run([SCEP_SUBMIT, "-u", `http://127.0.0.1:${port}/scep`], {
      env: { ...process.env, CERTMONGER_OPERATION: "SUBMIT", CERTMONGER_PKCSREQ: base64Of(der), CERTMONGER_SCEP_RA_CERTIFICATE: readFileSync(join(dir, "ra.pem"), "utf8"), CERTMONGER_SCEP_CA_CERTIFICATE: readFileSync(join(dir, "ca.crt"), "utf8") } as Record<string, string>,
    });
  const serialOf = (answer: string, name: string) => {
    writeFileSync(join(dir, `${name}.env.pem`), answer.replace(/PKCS7-----/g, "CMS-----"));
    sh(dir, `openssl cms -decrypt -inform PEM -in ${name}.env.pem -recip printer.self.crt -inkey printer.key -binary | openssl pkcs7 -inform DER -print_certs -out ${name}.crt`);
    expect(sh(dir, `openssl verify -CAfile ca.crt ${name}.crt`)).toBe(`${name}.crt: OK\n`);
    return sh(dir, `openssl x509 -in ${name}.crt -noout -serial`).trim();
  };
  const atB = submit(b.http);
  expect(`${atB.exitCode} ${atB.stderr}`).toStartWith("0 ");
  const serial = serialOf(atB.stdout, "printer-b");
  // Resent to the other host: the shared transaction store answers the same certificate (the challenge's one use is gone).
  const atA = submit(a.http);
  expect(`${atA.exitCode} ${atA.stderr}`).toStartWith("0 ");
  expect(serialOf(atA.stdout, "printer-a")).toBe(serial);
  expect(cli(["show", first, serial.replace(/^serial=/, "")])).toContain("CN=printer-pg");
  const audit = cli(["audit", "export", first]).trim().split("\n").map((line) => JSON.parse(line) as Record<string, unknown>);
  expect(audit.filter((entry) => entry.event === "issue" && entry.requester === "scep:shared-printer")).toHaveLength(1);
  expect(cli(["audit", "verify", second])).toStartWith("audit chain intact: ");
}, 120_000);
