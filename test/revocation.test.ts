/**
 * Revocation and the CRL, through the compiled `depot` and the real openssl:
 * `depot revoke` (serials spelled as openssl prints them, with colons, or as
 * the decimal file name), the ledger row it leaves, the CRL openssl reads
 * back (`openssl crl -text`, `openssl verify -crl_check`), `depot crl`, the
 * error messages, and revocations from several processes at once.
 */
import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BUN, depot, DEPOT_BIN, depotOk, openssl, pemBlocks, ROOT, tempDir } from "./helpers.ts";

import { BACKDATE_MS, DAY_MS } from "../src/ca/issuer.ts";
/** Real processes on a busy machine: generous, explicit per test. */
const TEST_TIMEOUT_MS = 45_000;

/** Runs a depot command that must succeed; returns its stdout. */
function initDepot(keyType = "ec-p256", label = "Rev CA"): { path: string; caFile: string; crlFile: string } {
  const path = join(tempDir("depot-rev-"), "ca");
  depotOk(["init", path, label, "--key-type", keyType]);
  return { path, caFile: join(path, "certificates", "ca.crt"), crlFile: join(path, "crl.pem") };
}

interface Cert {
  /** Upper-case hex, as `openssl x509 -serial` prints it. */
  serial: string;
  file: string;
  pem: string;
}

/** `depot generate` a client certificate; the serial is read back with openssl. */
function issue(path: string, cn: string): Cert {
  const [, pem, ...rest] = pemBlocks(depotOk(["generate", path, "--type", "client", "--cn", cn, "--key-type", "ec-p256"]));
  if (!pem || rest.length) throw new Error("generate did not print a key and a certificate");
  const file = join(path, "..", `${cn.replace(/\W/g, "_")}.crt`);
  writeFileSync(file, pem);
  return { serial: serialOf(file), file, pem };
}

function serialOf(file: string): string {
  const result = openssl(["x509", "-in", file, "-noout", "-serial"]);
  const match = /^serial=([0-9A-F]+)\n$/.exec(result.stdout);
  if (!match) throw new Error(`no serial from openssl: ${result.stdout}${result.stderr}`);
  return match[1]!;
}

const withColons = (hex: string) => hex.match(/../g)!.join(":");
const decimalOf = (hex: string) => BigInt(`0x${hex}`).toString(10);

interface CrlEntry {
  revocationDate: Date;
  /** The CRL Reason Code as openssl prints it, or undefined when the entry has no extension. */
  reason: string | undefined;
}

interface CrlInfo {
  text: string;
  version: string;
  signatureAlgorithm: string;
  issuer: string;
  lastUpdate: Date;
  nextUpdate: Date;
  crlNumber: number | undefined;
  authorityKeyId: string | undefined;
  entries: Map<string, CrlEntry>;
}

/** `openssl crl -noout -text` of a CRL file, picked apart. Fails the test if openssl cannot read it. */
function readCrl(file: string): CrlInfo {
  const result = openssl(["crl", "-in", file, "-noout", "-text"]);
  expect(result.stderr).toBe("");
  expect(result.exitCode).toBe(0);
  const text = result.stdout;
  const field = (re: RegExp) => re.exec(text)?.[1];
  const entries = new Map<string, CrlEntry>();
  const entryRe = /^ {4}Serial Number: ([0-9A-F]+)\n {8}Revocation Date: (.+)\n((?: {8}CRL entry extensions:\n(?: {12}.*\n| {16}.*\n)+)?)/gm;
  for (const match of text.matchAll(entryRe)) {
    const reason = / {12}X509v3 CRL Reason Code: *\n {16}(.+)\n/.exec(match[3] ?? "")?.[1];
    entries.set(match[1]!, { revocationDate: new Date(match[2]!), reason });
  }
  const crlNumber = field(/X509v3 CRL Number: *\n\s+(\d+)\n/);
  return {
    text,
    version: field(/^\s+Version (.+)$/m) ?? "",
    signatureAlgorithm: field(/^\s+Signature Algorithm: (.+)$/m) ?? "",
    issuer: field(/^\s+Issuer: (.+)$/m) ?? "",
    lastUpdate: new Date(field(/^\s+Last Update: (.+)$/m) ?? "invalid"),
    nextUpdate: new Date(field(/^\s+Next Update: (.+)$/m) ?? "invalid"),
    crlNumber: crlNumber === undefined ? undefined : Number(crlNumber),
    authorityKeyId: field(/X509v3 Authority Key Identifier: *\n\s+(?:keyid:)?([0-9A-F:]+)\n/),
    entries,
  };
}

function subjectKeyIdOf(caFile: string): string {
  const result = openssl(["x509", "-in", caFile, "-noout", "-ext", "subjectKeyIdentifier"]);
  const match = /X509v3 Subject Key Identifier: *\n\s+([0-9A-F:]+)\n/.exec(result.stdout);
  if (!match) throw new Error(`no SKI: ${result.stdout}${result.stderr}`);
  return match[1]!;
}

/** `openssl verify -crl_check` of one certificate against the depot's CA and CRL. */
function verifyWithCrl(d: { caFile: string; crlFile: string }, certFile: string) {
  const result = openssl(["verify", "-crl_check", "-CAfile", d.caFile, "-CRLfile", d.crlFile, certFile]);
  return { exitCode: result.exitCode, output: result.stdout + result.stderr };
}

interface LedgerRow {
  serial: string;
  subject: string;
  type: string;
  status: string;
  revoked_at: string | null;
  revocation_reason: string | null;
}

function ledgerRows(path: string): Map<string, LedgerRow> {
  const db = new Database(join(path, "ledger.sqlite3"), { readonly: true });
  try {
    const rows = db.query<LedgerRow, []>("SELECT serial, subject, type, status, revoked_at, revocation_reason FROM certificates").all();
    return new Map(rows.map((row) => [row.serial, row]));
  } finally {
    db.close();
  }
}

function counter(path: string, name: string): number | undefined {
  const db = new Database(join(path, "ledger.sqlite3"), { readonly: true });
  try {
    return db.query<{ value: number }, [string]>("SELECT value FROM counters WHERE name = ?").get(name)?.value;
  } finally {
    db.close();
  }
}

const revokedLines = (serial: string, subject: string, reason: string, crlNumber: number, count: number, crlFile: string) =>
  `Revoked ${serial} (${subject}), reason ${reason}\nCRL number ${crlNumber} with ${count} revoked certificate(s) written to ${crlFile}\n`;

describe("a fresh depot's CRL", () => {
  test("crl.pem exists from init: an empty v2 CRL, ecdsa-with-SHA256, 7 days, number 1, the CA's key identifier", () => {
    const d = initDepot();
    const pem = readFileSync(d.crlFile, "utf8");
    expect(pem.startsWith("-----BEGIN X509 CRL-----\n")).toBe(true);
    expect(pem.endsWith("-----END X509 CRL-----\n")).toBe(true);
    expect(pemBlocks(pem)).toEqual([pem]);
    const crl = readCrl(d.crlFile);
    expect(crl.version).toBe("2 (0x1)");
    expect(crl.signatureAlgorithm).toBe("ecdsa-with-SHA256");
    expect(crl.issuer).toBe("O = Rev CA, CN = Rev CA");
    expect(crl.crlNumber).toBe(1);
    expect(crl.authorityKeyId).toBe(subjectKeyIdOf(d.caFile));
    expect(crl.nextUpdate.getTime() - crl.lastUpdate.getTime() - BACKDATE_MS).toBe(7 * DAY_MS);
    // thisUpdate is backdated as certificates are, for web servers whose clock runs a little behind.
    expect(Math.abs(crl.lastUpdate.getTime() + BACKDATE_MS - Date.now())).toBeLessThan(60_000);
    expect(crl.text).toContain("No Revoked Certificates.\n");
    expect(crl.entries.size).toBe(0);
    // openssl accepts the CRL as signed by the CA.
    const verified = openssl(["crl", "-in", d.crlFile, "-noout", "-CAfile", d.caFile]);
    expect(verified.stderr).toBe("verify OK\n");
    expect(verified.exitCode).toBe(0);
  }, TEST_TIMEOUT_MS);

  test("an RSA CA signs its CRL with sha256WithRSAEncryption", () => {
    const d = initDepot("rsa-2048", "RSA Rev CA");
    const crl = readCrl(d.crlFile);
    expect(crl.version).toBe("2 (0x1)");
    expect(crl.signatureAlgorithm).toBe("sha256WithRSAEncryption");
    expect(crl.crlNumber).toBe(1);
    expect(crl.authorityKeyId).toBe(subjectKeyIdOf(d.caFile));
    const alice = issue(d.path, "RSA Alice");
    expect(depotOk(["revoke", d.path, alice.serial, "--reason", "keyCompromise"])).toBe(
      revokedLines(alice.serial, "CN=RSA Alice", "keyCompromise", 2, 1, d.crlFile),
    );
    const after = readCrl(d.crlFile);
    expect(after.signatureAlgorithm).toBe("sha256WithRSAEncryption");
    expect(after.crlNumber).toBe(2);
    expect(after.entries.get(alice.serial)?.reason).toBe("Key Compromise");
    expect(verifyWithCrl(d, alice.file).output).toContain("certificate revoked");
  }, TEST_TIMEOUT_MS);
});

describe("depot revoke", () => {
  test("by the serial openssl prints: exact output, ledger row, CRL entry; openssl verify -crl_check says revoked, others OK", () => {
    const d = initDepot();
    const alice = issue(d.path, "Alice");
    const bob = issue(d.path, "Bob");
    // Both verify before any revocation.
    expect(verifyWithCrl(d, alice.file)).toEqual({ exitCode: 0, output: `${alice.file}: OK\n` });
    expect(verifyWithCrl(d, bob.file)).toEqual({ exitCode: 0, output: `${bob.file}: OK\n` });

    const before = Math.floor(Date.now() / 1000) * 1000;
    const result = depot(["revoke", d.path, alice.serial, "--reason", "keyCompromise"]);
    const after = Date.now();
    expect(result.stderr).toBe("");
    expect(result.stdout).toBe(revokedLines(alice.serial, "CN=Alice", "keyCompromise", 2, 1, d.crlFile));
    expect(result.exitCode).toBe(0);

    const rows = ledgerRows(d.path);
    const row = rows.get(alice.serial.toLowerCase())!;
    expect(row).toBeDefined();
    expect(row.status).toBe("revoked");
    expect(row.revocation_reason).toBe("keyCompromise");
    expect(row.revoked_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$/);
    const revokedAt = new Date(row.revoked_at!).getTime();
    expect(revokedAt).toBeGreaterThanOrEqual(before);
    expect(revokedAt).toBeLessThanOrEqual(after);
    expect(rows.get(bob.serial.toLowerCase())).toMatchObject({ status: "valid", revoked_at: null, revocation_reason: null });

    const crl = readCrl(d.crlFile);
    expect(crl.crlNumber).toBe(2);
    expect([...crl.entries.keys()]).toEqual([alice.serial]);
    expect(crl.entries.get(alice.serial)).toEqual({ revocationDate: new Date(row.revoked_at!), reason: "Key Compromise" });

    const revoked = verifyWithCrl(d, alice.file);
    expect(revoked.output).toContain("error 23 at 0 depth lookup: certificate revoked\n");
    expect(revoked.output).toContain(`error ${alice.file}: verification failed\n`);
    expect(revoked.exitCode).not.toBe(0);
    expect(verifyWithCrl(d, bob.file)).toEqual({ exitCode: 0, output: `${bob.file}: OK\n` });
  }, TEST_TIMEOUT_MS);

  test("the serial with colons, lower case, and as the decimal file name; each reason is in the CRL, unspecified without an extension", () => {
    const d = initDepot();
    const certs = ["Carol", "Dave", "Erin", "Frank", "Grace"].map((cn) => issue(d.path, cn));
    const [carol, dave, erin, frank, grace] = certs as [Cert, Cert, Cert, Cert, Cert];
    // The decimal spelling names the file the depot wrote.
    expect(readFileSync(join(d.path, "certificates", `${decimalOf(erin.serial)}.crt`), "utf8")).toBe(erin.pem);

    const spellings: [Cert, string, string[], string][] = [
      [carol, withColons(carol.serial), ["--reason", "superseded"], "superseded"],
      [dave, withColons(dave.serial).toLowerCase(), ["--reason", "CESSATIONOFOPERATION"], "cessationOfOperation"],
      [erin, decimalOf(erin.serial), ["--reason", "affiliationChanged"], "affiliationChanged"],
      [frank, `0x${frank.serial.toLowerCase()}`, ["--reason", "unspecified"], "unspecified"],
      [grace, grace.serial, [], "unspecified"],
    ];
    spellings.forEach(([cert, spelling, reasonArgs, reason], i) => {
      const result = depot(["revoke", d.path, spelling, ...reasonArgs]);
      expect(result.stderr).toBe("");
      const subject = `CN=${["Carol", "Dave", "Erin", "Frank", "Grace"][i]}`;
      expect(result.stdout).toBe(revokedLines(cert.serial, subject, reason, 2 + i, 1 + i, d.crlFile));
      expect(result.exitCode).toBe(0);
      expect(ledgerRows(d.path).get(cert.serial.toLowerCase())).toMatchObject({ status: "revoked", revocation_reason: reason });
    });

    const crl = readCrl(d.crlFile);
    expect(crl.crlNumber).toBe(6);
    expect(crl.entries.size).toBe(5);
    expect(crl.entries.get(carol.serial)?.reason).toBe("Superseded");
    expect(crl.entries.get(dave.serial)?.reason).toBe("Cessation Of Operation");
    expect(crl.entries.get(erin.serial)?.reason).toBe("Affiliation Changed");
    // RFC 5280 5.3.1: unspecified is expressed by leaving the reason out.
    expect(crl.entries.get(frank.serial)).toMatchObject({ reason: undefined });
    expect(crl.entries.get(grace.serial)).toMatchObject({ reason: undefined });
    expect(crl.text.match(/CRL entry extensions:/g)?.length).toBe(3);
    for (const cert of certs) expect(verifyWithCrl(d, cert.file).output).toContain("certificate revoked");
  }, TEST_TIMEOUT_MS);

  test("--crl-days 3 on revoke, and on depot crl; the depot's 7 days otherwise, or its crl_days", () => {
    const d = initDepot();
    const henry = issue(d.path, "Henry");
    depotOk(["revoke", d.path, henry.serial, "--crl-days", "3"]);
    let crl = readCrl(d.crlFile);
    expect(crl.nextUpdate.getTime() - crl.lastUpdate.getTime() - BACKDATE_MS).toBe(3 * DAY_MS);
    expect(crl.crlNumber).toBe(2);

    depotOk(["crl", d.path]);
    crl = readCrl(d.crlFile);
    expect(crl.nextUpdate.getTime() - crl.lastUpdate.getTime() - BACKDATE_MS).toBe(7 * DAY_MS);
    expect(crl.crlNumber).toBe(3);

    depotOk(["crl", d.path, "--crl-days", "3"]);
    crl = readCrl(d.crlFile);
    expect(crl.nextUpdate.getTime() - crl.lastUpdate.getTime() - BACKDATE_MS).toBe(3 * DAY_MS);
    expect(crl.crlNumber).toBe(4);
    expect([...crl.entries.keys()]).toEqual([henry.serial]);

    // crl_days in depot.cnf (the depot's own section, the file's last) replaces the 7-day default.
    writeFileSync(join(d.path, "depot.cnf"), `${readFileSync(join(d.path, "depot.cnf"), "utf8")}crl_days        = 2\n`);
    depotOk(["crl", d.path]);
    crl = readCrl(d.crlFile);
    expect(crl.nextUpdate.getTime() - crl.lastUpdate.getTime() - BACKDATE_MS).toBe(2 * DAY_MS);
    expect(crl.crlNumber).toBe(5);
    depotOk(["crl", d.path, "--crl-days", "3"]);
    crl = readCrl(d.crlFile);
    expect(crl.nextUpdate.getTime() - crl.lastUpdate.getTime() - BACKDATE_MS).toBe(3 * DAY_MS);
    expect(crl.crlNumber).toBe(6);

    const bad = depot(["crl", d.path, "--crl-days", "0"]);
    expect(bad.stderr).toBe("depot: days must be a whole number from 1 to 36500, not '0'\n");
    expect(bad.exitCode).toBe(1);
  }, TEST_TIMEOUT_MS);

  test("the CRL number always grows, through revocations and depot crl, which prints exactly crl.pem", () => {
    const d = initDepot();
    const numbers = [readCrl(d.crlFile).crlNumber!];
    const certs = ["Ivan", "Judy"].map((cn) => issue(d.path, cn));
    for (const cert of certs) {
      depotOk(["revoke", d.path, cert.serial]);
      numbers.push(readCrl(d.crlFile).crlNumber!);
      const result = depot(["crl", d.path]);
      expect(result.stderr).toBe("");
      expect(result.exitCode).toBe(0);
      expect(result.stdout).toBe(readFileSync(d.crlFile, "utf8"));
      expect(pemBlocks(result.stdout)).toEqual([result.stdout]);
      expect(result.stdout.startsWith("-----BEGIN X509 CRL-----\n")).toBe(true);
      numbers.push(readCrl(d.crlFile).crlNumber!);
    }
    expect(numbers).toEqual([1, 2, 3, 4, 5]);
    // Re-signing keeps every entry.
    expect([...readCrl(d.crlFile).entries.keys()].sort()).toEqual(certs.map((c) => c.serial).sort());
    expect(counter(d.path, "crl_number")).toBe(5);
    expect(counter(d.path, "crl_published")).toBe(5);
  }, TEST_TIMEOUT_MS);

  test("errors: unknown serial, already revoked, the CA itself, bad serial text, unknown reason; none touches the CRL", () => {
    const d = initDepot();
    const kim = issue(d.path, "Kim");
    depotOk(["revoke", d.path, kim.serial, "--reason", "keyCompromise"]);
    const crlBefore = readFileSync(d.crlFile, "utf8");
    const kimRow = ledgerRows(d.path).get(kim.serial.toLowerCase())!;
    const caSerial = serialOf(d.caFile);

    const cases: [string[], string][] = [
      [["revoke", d.path, "0x1234"], "depot: no certificate with serial 0x1234 in this depot\n"],
      [["revoke", d.path, "AB:CD:EF"], "depot: no certificate with serial AB:CD:EF in this depot\n"],
      [["revoke", d.path, kim.serial], `depot: certificate ${kim.serial} is already revoked (since ${kimRow.revoked_at})\n`],
      [["revoke", d.path, withColons(caSerial)], `depot: serial ${caSerial} is the CA certificate itself; it cannot be revoked\n`],
      [["revoke", d.path, "xyz"], "depot: 'xyz' is not a serial number (hex like 1A:2B or 1A2B, 0x1a2b, or the decimal of a file name)\n"],
      [["revoke", d.path, "0"], "depot: '0' is not a serial number (hex like 1A:2B or 1A2B, 0x1a2b, or the decimal of a file name)\n"],
      [["revoke", d.path, kim.serial, "--reason", "stolen"], "depot: unknown reason 'stolen' (known: unspecified, keyCompromise, affiliationChanged, superseded, cessationOfOperation)\n"],
      [["revoke", d.path, kim.serial, "--crl-days", "0"], "depot: days must be a whole number from 1 to 36500, not '0'\n"],
      [["revoke", d.path], "depot: missing SERIAL\n"],
    ];
    for (const [args, message] of cases) {
      const result = depot(args);
      expect({ args, stderr: result.stderr, stdout: result.stdout, exitCode: result.exitCode }).toEqual({ args, stderr: message, stdout: "", exitCode: 1 });
    }
    expect(readFileSync(d.crlFile, "utf8")).toBe(crlBefore);
    expect(counter(d.path, "crl_number")).toBe(2);
    expect(ledgerRows(d.path).get(caSerial.toLowerCase())).toMatchObject({ type: "ca", status: "valid" });
  }, TEST_TIMEOUT_MS);
});

describe("revoking from several processes at once", () => {
  /** Issues COUNT client certificates with the existing fixture; returns their serials (lower-case hex). */
  async function issueMany(path: string, count: number): Promise<string[]> {
    const proc = Bun.spawn([BUN, join(ROOT, "test", "fixtures", "cli-issue-many.ts"), path, String(count), "Racer"], {
      stdin: "pipe",
      stdout: "pipe",
      stderr: "pipe",
      timeout: 20_000,
      killSignal: "SIGKILL",
    });
    proc.stdin.write("go\n");
    await proc.stdin.end();
    const [out, err] = [await new Response(proc.stdout).text(), await new Response(proc.stderr).text()];
    if ((await proc.exited) !== 0) throw new Error(`cli-issue-many failed: ${err}`);
    return JSON.parse(out.trim().split("\n").at(-1)!) as string[];
  }

  test("fixtures with Depot.open and depot revoke processes, racing for several rounds: nothing lost, the newest CRL lists all", async () => {
    const d = initDepot();
    const ROUNDS = 3;
    const PER_FIXTURE = 4;
    const serials = await issueMany(d.path, ROUNDS * (2 * PER_FIXTURE + 2));
    let next = 0;
    const take = (n: number) => serials.slice(next, (next += n));
    const claimedNumbers: number[] = [];

    for (let round = 0; round < ROUNDS; round++) {
      const fixtureSerials = [take(PER_FIXTURE), take(PER_FIXTURE)];
      const cliSerials = take(2);
      const fixtures = fixtureSerials.map((batch) =>
        Bun.spawn([BUN, join(ROOT, "test", "fixtures", "rev-revoke-many.ts"), d.path, ...batch], {
          stdin: "pipe",
          stdout: "pipe",
          stderr: "pipe",
          timeout: 20_000,
          killSignal: "SIGKILL",
        }),
      );
      // Wait until each fixture has the depot open, then start everything at once.
      const readers = fixtures.map((proc) => proc.stdout.getReader());
      for (const reader of readers) {
        const { value } = await reader.read();
        expect(new TextDecoder().decode(value)).toBe("ready\n");
      }
      const clis = cliSerials.map((serial) =>
        Bun.spawn([DEPOT_BIN, "revoke", d.path, serial.toUpperCase(), "--reason", "cessationOfOperation"], {
          stdout: "pipe",
          stderr: "pipe",
          timeout: 20_000,
          killSignal: "SIGKILL",
        }),
      );
      for (const proc of fixtures) {
        proc.stdin.write("go\n");
        await proc.stdin.end();
      }
      for (const [i, proc] of fixtures.entries()) {
        const reader = readers[i]!;
        let out = "";
        for (let chunk = await reader.read(); !chunk.done; chunk = await reader.read()) out += new TextDecoder().decode(chunk.value);
        const err = await new Response(proc.stderr).text();
        expect({ exitCode: await proc.exited, err }).toEqual({ exitCode: 0, err: "" });
        claimedNumbers.push(...(JSON.parse(out.trim()) as number[]));
      }
      for (const [i, proc] of clis.entries()) {
        const [out, err] = [await new Response(proc.stdout).text(), await new Response(proc.stderr).text()];
        expect({ exitCode: await proc.exited, err }).toEqual({ exitCode: 0, err: "" });
        const match = new RegExp(
          `^Revoked ${cliSerials[i]!.toUpperCase()} \\(CN=Racer \\d+\\), reason cessationOfOperation\\nCRL number (\\d+) with (\\d+) revoked certificate\\(s\\) written to ${d.crlFile.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}\\n$`,
        ).exec(out);
        expect(match).not.toBeNull();
        claimedNumbers.push(Number(match![1]));
      }
    }

    const total = ROUNDS * (2 * PER_FIXTURE + 2);
    // Every revocation is in the ledger: none was lost to another process's write.
    const rows = ledgerRows(d.path);
    const revoked = [...rows.values()].filter((row) => row.status === "revoked");
    expect(revoked.map((row) => row.serial).sort()).toEqual([...serials].sort());
    for (const row of revoked) expect(row.revoked_at).not.toBeNull();
    // Each revocation claimed its own CRL number: 2..total+1, none twice.
    expect([...claimedNumbers].sort((a, b) => a - b)).toEqual(Array.from({ length: total }, (_, i) => i + 2));
    // crl.pem is the newest: the highest number, listing every revoked certificate.
    const crl = readCrl(d.crlFile);
    expect(crl.crlNumber).toBe(total + 1);
    expect(counter(d.path, "crl_published")).toBe(total + 1);
    expect([...crl.entries.keys()].sort()).toEqual(serials.map((s) => s.toUpperCase()).sort());
    // No staged CRL left behind.
    const leftovers = Bun.spawnSync(["ls", "-A", d.path]).stdout.toString().split("\n").filter((name) => name.endsWith(".tmp"));
    expect(leftovers).toEqual([]);
  }, TEST_TIMEOUT_MS);

  test("two depot revoke processes for the same certificate: exactly one revokes it, the other is told it already is", async () => {
    const d = initDepot();
    const [serial] = (await issueMany(d.path, 1)).map((s) => s.toUpperCase()) as [string];
    const procs = ["keyCompromise", "superseded"].map((reason) =>
      Bun.spawn([DEPOT_BIN, "revoke", d.path, serial, "--reason", reason], { stdout: "pipe", stderr: "pipe", timeout: 20_000, killSignal: "SIGKILL" }),
    );
    const results = await Promise.all(
      procs.map(async (proc) => ({ exitCode: await proc.exited, stdout: await new Response(proc.stdout).text(), stderr: await new Response(proc.stderr).text() })),
    );
    const winners = results.filter((r) => r.exitCode === 0);
    const losers = results.filter((r) => r.exitCode !== 0);
    expect(winners.length).toBe(1);
    expect(losers.length).toBe(1);
    const row = ledgerRows(d.path).get(serial.toLowerCase())!;
    expect(row.status).toBe("revoked");
    // The loser may publish first: an already revoked certificate is republished when the CRL lacks it.
    const crl = readCrl(d.crlFile);
    expect([2, 3]).toContain(crl.crlNumber!);
    const winnerNumber = Number(/CRL number (\d+)/.exec(winners[0]!.stdout)?.[1]);
    expect(winners[0]!.stdout).toBe(revokedLines(serial, "CN=Racer 0", row.revocation_reason!, winnerNumber, 1, d.crlFile));
    expect(losers[0]).toEqual({ exitCode: 1, stdout: "", stderr: `depot: certificate ${serial} is already revoked (since ${row.revoked_at})\n` });
    expect([...crl.entries.keys()]).toEqual([serial]);
  }, TEST_TIMEOUT_MS);
});
