/**
 * `depot list` and `depot show`, through the compiled executable, against
 * what openssl reads from the certificates and what the ledger holds.
 */
import { Database } from "bun:sqlite";
import { beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { depot, openssl, pemBlocks, tempDir } from "./helpers.ts";

/** Real processes on a busy machine: generous, explicit per test. */
const TEST_TIMEOUT_MS = 45_000;

function ok(args: string[]): string {
  const result = depot(args);
  if (result.exitCode !== 0) throw new Error(`depot ${args.join(" ")} failed (${result.exitCode}): ${result.stderr}`);
  expect(result.stderr).toBe("");
  return result.stdout;
}

function mustOpenssl(args: string[]): string {
  const result = openssl(args);
  if (result.exitCode !== 0) throw new Error(`openssl ${args.join(" ")} failed: ${result.stderr}`);
  return result.stdout;
}

interface Cert {
  name: string;
  /** Upper-case hex, as openssl prints it. */
  serial: string;
  decimal: string;
  subject: string;
  type: "ca" | "client" | "server";
  file: string;
  pem: string;
  notBefore: string;
  notAfter: string;
  /** SHA-256 of the DER, upper-case hex with colons, as openssl prints it. */
  fingerprint: string;
}

/** What openssl says about a certificate file. */
function describeCert(name: string, file: string, subject: string, type: Cert["type"]): Cert {
  const pem = readFileSync(file, "utf8");
  const text = mustOpenssl(["x509", "-in", file, "-noout", "-serial", "-startdate", "-enddate", "-fingerprint", "-sha256"]);
  const serial = /^serial=([0-9A-F]+)$/m.exec(text)![1]!;
  const iso = (re: RegExp) => new Date(re.exec(text)![1]!).toISOString();
  return {
    name,
    serial,
    decimal: BigInt(`0x${serial}`).toString(10),
    subject,
    type,
    file,
    pem,
    notBefore: iso(/^notBefore=(.+)$/m),
    notAfter: iso(/^notAfter=(.+)$/m),
    fingerprint: /^sha256 Fingerprint=([0-9A-F:]+)$/im.exec(text)![1]!,
  };
}

let dir: string;
let path: string;
let ca: Cert;
let alice: Cert;
let www: Cert;
let bob: Cert;
let carol: Cert;
let dave: Cert;
/** When Bob was revoked, as the ledger says. */
let bobRevokedAt: string;
const PAST = "2020-01-02T03:04:05.000Z";

function generate(name: string, args: string[], subject: string, type: "client" | "server"): Cert {
  const [, certPem, ...rest] = pemBlocks(ok(["generate", path, "--type", type, ...args]));
  if (!certPem || rest.length) throw new Error("generate did not print a key and a certificate");
  const file = join(dir, `${name}.crt`);
  writeFileSync(file, certPem);
  return describeCert(name, file, subject, type);
}

function ledger<T>(use: (db: Database) => T): T {
  const db = new Database(join(path, "ledger.sqlite3"));
  try {
    return use(db);
  } finally {
    db.close();
  }
}

beforeAll(() => {
  dir = tempDir("depot-inspect-");
  path = join(dir, "ca");
  ok(["init", path, "Inspect CA", "--key-type", "ec-p256"]);
  ca = describeCert("ca", join(path, "certificates", "ca.crt"), "O=Inspect CA,CN=Inspect CA", "ca");
  alice = generate("alice", ["--cn", "Alice", "--email", "alice@example.com"], "CN=Alice,emailAddress=alice@example.com", "client");
  www = generate("www", ["--cn", "www.example.com", "--san", "api.example.com", "--san", "10.0.0.5", "--days", "30"], "CN=www.example.com", "server");
  bob = generate("bob", ["--subject", "/O=Example/CN=Bob"], "O=Example,CN=Bob", "client");
  carol = generate("carol", ["--cn", "Carol"], "CN=Carol", "client");
  dave = generate("dave", ["--cn", "Dave"], "CN=Dave", "client");
  ok(["revoke", path, bob.serial, "--reason", "keyCompromise"]);
  ok(["revoke", path, dave.serial, "--reason", "superseded"]);
  // `--days` is at least 1, so no certificate can be issued already expired:
  // move Carol's and Dave's not_after into the past in the ledger directly
  // (bun:sqlite). Their files still say otherwise; list and show read the ledger.
  ledger((db) => {
    const update = db.query("UPDATE certificates SET not_after = ? WHERE serial = ?");
    for (const cert of [carol, dave]) expect(update.run(PAST, cert.serial.toLowerCase()).changes).toBe(1);
  });
  carol.notAfter = PAST;
  dave.notAfter = PAST;
  bobRevokedAt = ledger((db) => db.query<{ revoked_at: string }, [string]>("SELECT revoked_at FROM certificates WHERE serial = ?").get(bob.serial.toLowerCase())!.revoked_at);
}, TEST_TIMEOUT_MS);

const statusOf = (cert: Cert) => (cert === bob || cert === dave ? "revoked" : cert === carol ? "expired" : "valid");

/** The line `depot list` prints (src/cli/list.ts): serial, type, status, not-after date, subject, two spaces apart. */
const listLine = (cert: Cert) => [cert.serial, cert.type.padEnd(6), statusOf(cert).padEnd(7), cert.notAfter.slice(0, 10), cert.subject].join("  ");

/** In the ledger's order: not_before, then serial (lower-case hex, as text). */
function inLedgerOrder(certs: Cert[]): Cert[] {
  const rows = ledger((db) => db.query<{ serial: string }, []>("SELECT serial FROM certificates ORDER BY not_before, serial").all().map((r) => r.serial));
  return [...certs].sort((a, b) => rows.indexOf(a.serial.toLowerCase()) - rows.indexOf(b.serial.toLowerCase()));
}

describe("depot list", () => {
  test("one line per certificate issued, with its status; the CA itself only with --all", () => {
    const issued = inLedgerOrder([alice, www, bob, carol, dave]);
    const stdout = ok(["list", path]);
    expect(stdout).toBe(`${issued.map(listLine).join("\n")}\n`);
    expect(stdout).not.toContain(ca.serial);
    const all = ok(["list", path, "--all"]);
    expect(all).toBe(`${inLedgerOrder([ca, alice, www, bob, carol, dave]).map(listLine).join("\n")}\n`);
    // Spot-check the format by hand, independent of listLine.
    expect(all).toContain(`${ca.serial}  ca      valid    ${ca.notAfter.slice(0, 10)}  O=Inspect CA,CN=Inspect CA\n`);
    expect(stdout).toContain(`${www.serial}  server  valid    ${www.notAfter.slice(0, 10)}  CN=www.example.com\n`);
    expect(stdout).toContain(`${bob.serial}  client  revoked  ${bob.notAfter.slice(0, 10)}  O=Example,CN=Bob\n`);
    expect(stdout).toContain(`${carol.serial}  client  expired  2020-01-02  CN=Carol\n`);
  }, TEST_TIMEOUT_MS);

  test("--valid, --revoked, --expired filter; revoked wins over expired", () => {
    const expectLines = (filter: string, certs: Cert[]) =>
      expect({ filter, stdout: ok(["list", path, filter]) }).toEqual({ filter, stdout: certs.length ? `${inLedgerOrder(certs).map(listLine).join("\n")}\n` : "" });
    expectLines("--valid", [alice, www]);
    expect(ok(["list", path, "--valid", "--all"])).toBe(`${inLedgerOrder([ca, alice, www]).map(listLine).join("\n")}\n`);
    expectLines("--revoked", [bob, dave]);
    expectLines("--expired", [carol]);
  }, TEST_TIMEOUT_MS);

  test("--json parses and matches the ledger rows exactly", () => {
    const listed = JSON.parse(ok(["list", path, "--json", "--all"])) as Record<string, unknown>[];
    // The same text as JSON.stringify of the whole array, though it is written a record at a time.
    expect(ok(["list", path, "--json", "--all"])).toBe(`${JSON.stringify(listed, null, 2)}\n`);
    expect((JSON.parse(ok(["list", path, "--json"])) as unknown[]).length).toBe(5);
    const rows = ledger((db) =>
      db
        .query<Record<string, string | null>, []>(
          "SELECT serial, subject, type, key_type, not_before, not_after, fingerprint, status, revoked_at, revocation_reason FROM certificates ORDER BY not_before, serial",
        )
        .all(),
    );
    expect(rows.length).toBe(6);
    const now = Date.now();
    expect(listed).toEqual(
      rows.map((row) => ({
        serial: row.serial!.toUpperCase(),
        subject: row.subject,
        type: row.type,
        keyType: row.key_type,
        notBefore: row.not_before,
        notAfter: row.not_after,
        fingerprint: row.fingerprint,
        status: row.status === "revoked" ? "revoked" : new Date(row.not_after!).getTime() <= now ? "expired" : "valid",
        revokedAt: row.revoked_at,
        revocationReason: row.revocation_reason,
      })),
    );
    // ...and the ledger matches the certificates themselves.
    const byName = new Map(listed.map((entry) => [entry.serial as string, entry]));
    for (const cert of [ca, alice, www, bob, carol, dave]) {
      expect(byName.get(cert.serial)).toMatchObject({
        subject: cert.subject,
        type: cert.type,
        keyType: "ec-p256",
        status: statusOf(cert),
        notBefore: cert.notBefore,
        notAfter: cert.notAfter,
        fingerprint: cert.fingerprint.replaceAll(":", "").toLowerCase(),
      });
    }
    expect(byName.get(bob.serial)).toMatchObject({ revokedAt: bobRevokedAt, revocationReason: "keyCompromise" });
    expect(byName.get(alice.serial)).toMatchObject({ revokedAt: null, revocationReason: null });

    const revoked = JSON.parse(ok(["list", path, "--revoked", "--json"])) as { serial: string }[];
    expect(revoked.map((entry) => entry.serial)).toEqual(inLedgerOrder([bob, dave]).map((c) => c.serial));
  }, TEST_TIMEOUT_MS);

  test("two filters at once, an unknown option, or no depot are errors", () => {
    for (const args of [["--valid", "--revoked"], ["--revoked", "--expired"], ["--valid", "--expired", "--json"]]) {
      expect(depot(["list", path, ...args])).toEqual({ exitCode: 1, stdout: "", stderr: "depot: give at most one of --valid, --revoked, --expired\n" });
    }
    expect(depot(["list", path, "--every"])).toEqual({ exitCode: 1, stdout: "", stderr: "depot: unknown option --every\n" });
    const missing = join(dir, "nothing-here");
    expect(depot(["list", missing])).toEqual({ exitCode: 1, stdout: "", stderr: `depot: ${missing} does not exist; create a depot with: depot init ${missing}\n` });
  }, TEST_TIMEOUT_MS);
});

describe("depot show", () => {
  const colons = (hex: string) => hex.match(/../g)!.join(":");

  function expectedShow(cert: Cert, extra: { status?: string; names?: string } = {}): string {
    const lines = [
      `Serial:      ${cert.serial} (decimal ${cert.decimal})`,
      `Subject:     ${cert.subject}`,
      "Issuer:      O=Inspect CA,CN=Inspect CA",
      `Type:        ${cert.type}`,
      "Key type:    ec-p256",
      `Not before:  ${cert.notBefore}`,
      `Not after:   ${cert.notAfter}`,
      `Status:      ${extra.status ?? "valid"}`,
      `SHA-256:     ${cert.fingerprint}`,
      ...(extra.names ? [`Names:       ${extra.names}`] : []),
    ];
    return `${lines.join("\n")}\n${cert.pem}`;
  }

  test("prints the summary lines and the PEM, equal to certificates/<decimal>.crt; any serial spelling", () => {
    const shown = ok(["show", path, www.serial]);
    expect(shown).toBe(expectedShow(www, { names: "DNS:www.example.com, DNS:api.example.com, IP:10.0.0.5" }));
    const file = readFileSync(join(path, "certificates", `${www.decimal}.crt`), "utf8");
    expect(pemBlocks(shown)).toEqual([file]);
    expect(shown.endsWith(file)).toBe(true);
    // The same for every spelling of the serial.
    for (const spelling of [colons(www.serial), www.decimal, `0x${www.serial.toLowerCase()}`, www.serial.toLowerCase()]) {
      expect({ spelling, stdout: ok(["show", path, spelling]) }).toEqual({ spelling, stdout: shown });
    }

    expect(ok(["show", path, alice.decimal])).toBe(expectedShow(alice, { names: "EMAIL:alice@example.com" }));
    expect(pemBlocks(ok(["show", path, alice.serial]))).toEqual([readFileSync(join(path, "certificates", `${alice.decimal}.crt`), "utf8")]);
    expect(ok(["show", path, colons(bob.serial)])).toBe(expectedShow(bob, { status: `revoked since ${bobRevokedAt} (keyCompromise)` }));
    expect(ok(["show", path, carol.serial])).toBe(expectedShow(carol, { status: "expired" }));
    expect(ok(["show", path, ca.serial])).toBe(expectedShow(ca));
  }, TEST_TIMEOUT_MS);

  test("an unknown or malformed serial is an error", () => {
    expect(depot(["show", path, "99"])).toEqual({ exitCode: 1, stdout: "", stderr: "depot: no certificate with serial 99 in this depot\n" });
    expect(depot(["show", path, "AB:CD:EF"])).toEqual({ exitCode: 1, stdout: "", stderr: "depot: no certificate with serial AB:CD:EF in this depot\n" });
    expect(depot(["show", path, "not-a-serial"])).toEqual({
      exitCode: 1,
      stdout: "",
      stderr: "depot: 'not-a-serial' is not a serial number (hex like 1A:2B or 1A2B, 0x1a2b, or the decimal of a file name)\n",
    });
    expect(depot(["show", path])).toEqual({ exitCode: 1, stdout: "", stderr: "depot: missing SERIAL\n" });
  }, TEST_TIMEOUT_MS);
});
