/**
 * A lost ledger never undoes revocations, a CRL that missed a revocation is
 * caught up, the ledger's schema is versioned, and its files are private
 * with a bounded WAL. Through the compiled executable and the library,
 * checked with openssl.
 */
import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createDepot } from "../src/ca/create.ts";
import { Depot } from "../src/ca/depot.ts";
import { parseDn } from "../src/ca/dn.ts";
import { SCHEMA_VERSION, SLOW_STEP_ROWS } from "../src/store/sqlite/migrations.ts";
import { WAL_SIZE_LIMIT } from "../src/store/sqlite/ledger.ts";
import { depot, depotOk, openssl, tempDir } from "./helpers.ts";

const TEST_TIMEOUT_MS = 60_000;

interface Made {
  path: string;
  caFile: string;
  crlFile: string;
}

function initDepot(): Made {
  const path = join(tempDir(), "ca");
  depotOk(["init", path, "--key-type", "ec-p256"]);
  return { path, caFile: join(path, "certificates", "ca.crt"), crlFile: join(path, "crl.pem") };
}

/** Issues a client certificate; returns its serial (upper-case hex) and file. */
function issue(d: Made, cn: string): { serial: string; file: string } {
  const pem = depotOk(["generate", d.path, "--type", "client", "--cn", cn]);
  const file = join(d.path, `${cn}.pem`);
  writeFileSync(file, pem);
  const serial = openssl(["x509", "-in", file, "-noout", "-serial"]).stdout.trim().replace("serial=", "");
  return { serial, file };
}

function crlOf(d: Made): { number: number; serials: string[]; text: string } {
  const text = openssl(["crl", "-in", d.crlFile, "-noout", "-text"]).stdout;
  return {
    number: Number(/X509v3 CRL Number: *\n\s+(\d+)/.exec(text)?.[1]),
    serials: [...text.matchAll(/Serial Number: ([0-9A-F]+)/g)].map((m) => m[1]!),
    text,
  };
}

const verifyWithCrl = (d: Made, file: string) => openssl(["verify", "-crl_check", "-CAfile", d.caFile, "-CRLfile", d.crlFile, file]);

const lostMessage = (path: string, state: string) =>
  `depot: the ledger ${path}/ledger.sqlite3 is ${state}, but this depot had one; depot will not start a new one, which would forget every revocation. Restore it from a backup, or rebuild it from the certificate files and crl.pem with: depot ledger rebuild ${path}\n`;

describe("a lost ledger", () => {
  test("deleted: list, crl and generate refuse, and the revoked certificate stays revoked", () => {
    const d = initDepot();
    const alice = issue(d, "alice");
    depotOk(["revoke", d.path, alice.serial]);
    for (const suffix of ["", "-wal", "-shm"]) rmSync(join(d.path, `ledger.sqlite3${suffix}`), { force: true });
    for (const args of [["list", d.path, "--revoked"], ["crl", d.path], ["generate", d.path, "--type", "client", "--cn", "x"]]) {
      const result = depot(args);
      expect({ args, exitCode: result.exitCode, stderr: result.stderr, stdout: result.stdout }).toEqual({ args, exitCode: 1, stderr: lostMessage(d.path, "missing"), stdout: "" });
    }
    expect(existsSync(join(d.path, "ledger.sqlite3"))).toBe(false);
    expect(crlOf(d).serials).toEqual([alice.serial]);
    expect(verifyWithCrl(d, alice.file).stdout + verifyWithCrl(d, alice.file).stderr).toContain("certificate revoked");
  }, TEST_TIMEOUT_MS);

  test("truncated to 0 bytes: refused as empty", () => {
    const d = initDepot();
    issue(d, "bob");
    for (const suffix of ["-wal", "-shm"]) rmSync(join(d.path, `ledger.sqlite3${suffix}`), { force: true });
    truncateSync(join(d.path, "ledger.sqlite3"), 0);
    const result = depot(["list", d.path]);
    expect({ exitCode: result.exitCode, stderr: result.stderr }).toEqual({ exitCode: 1, stderr: lostMessage(d.path, "empty") });
  }, TEST_TIMEOUT_MS);

  test("a depot 0.1.0 made (crl.pem, no marker) that lost its ledger is refused too", () => {
    const d = initDepot();
    rmSync(join(d.path, "depot-ledger"));
    for (const suffix of ["", "-wal", "-shm"]) rmSync(join(d.path, `ledger.sqlite3${suffix}`), { force: true });
    const result = depot(["list", d.path]);
    expect({ exitCode: result.exitCode, stderr: result.stderr }).toEqual({ exitCode: 1, stderr: lostMessage(d.path, "missing") });
  }, TEST_TIMEOUT_MS);

  test("depot ledger rebuild: certificates from their files, revocations, reasons and the CRL number from crl.pem", () => {
    const d = initDepot();
    const alice = issue(d, "alice");
    const bob = issue(d, "bob");
    const carol = issue(d, "carol");
    depotOk(["revoke", d.path, alice.serial, "--reason", "keyCompromise"]);
    depotOk(["revoke", d.path, carol.serial, "--reason", "superseded"]);
    depotOk(["crl", d.path]); // number 4
    const before = depotOk(["list", d.path, "--json"]);
    // carol's file is lost with the ledger: her revocation must survive anyway.
    rmSync(join(d.path, "certificates", `${BigInt(`0x${carol.serial}`)}.crt`));
    for (const suffix of ["", "-wal", "-shm"]) rmSync(join(d.path, `ledger.sqlite3${suffix}`), { force: true });

    const rebuilt = depot(["ledger", "rebuild", d.path]);
    expect({ exitCode: rebuilt.exitCode, stderr: rebuilt.stderr }).toEqual({ exitCode: 0, stderr: "" });
    expect(rebuilt.stdout).toBe(
      "Rebuilt the ledger: 3 certificate(s) from certificates/ (the CA's included)\n" +
        "Restored 1 revocation(s) from crl.pem (CRL number 4; the next CRL is 5)\n" +
        "1 revoked serial(s) have no certificate file; they stay on every CRL\n",
    );
    const records = JSON.parse(depotOk(["list", d.path, "--json"])) as { serial: string; status: string; revocationReason: string | null; revokedAt: string | null }[];
    const old = new Map((JSON.parse(before) as typeof records).map((r) => [r.serial, r]));
    expect(records.map((r) => [r.serial, r.status]).sort()).toEqual([
      [alice.serial, "revoked"],
      [bob.serial, "valid"],
    ].sort());
    const aliceNow = records.find((r) => r.serial === alice.serial)!;
    expect({ reason: aliceNow.revocationReason, at: aliceNow.revokedAt }).toEqual({ reason: "keyCompromise", at: old.get(alice.serial)!.revokedAt });

    // The next CRL continues the numbering and still lists both.
    depotOk(["crl", d.path]);
    const crl = crlOf(d);
    expect(crl.number).toBe(5);
    expect(crl.serials.sort()).toEqual([alice.serial, carol.serial].sort());
    expect(crl.text).toContain("Key Compromise");
    expect(crl.text).toContain("Superseded");
    expect(verifyWithCrl(d, alice.file).stderr).toContain("certificate revoked");
    expect(verifyWithCrl(d, bob.file).stdout).toBe(`${bob.file}: OK\n`);

    // A healthy ledger is never rebuilt over.
    const again = depot(["ledger", "rebuild", d.path]);
    expect({ exitCode: again.exitCode, stderr: again.stderr }).toEqual({
      exitCode: 1,
      stderr: `depot: the ledger ${d.path}/ledger.sqlite3 is there and holds 3 certificate(s); there is nothing to rebuild\n`,
    });
  }, TEST_TIMEOUT_MS);

  test("rebuild without crl.pem needs --without-crl; a damaged ledger is moved aside", () => {
    const d = initDepot();
    issue(d, "dave");
    for (const suffix of ["-wal", "-shm"]) rmSync(join(d.path, `ledger.sqlite3${suffix}`), { force: true });
    writeFileSync(join(d.path, "ledger.sqlite3"), "this is not a database, it is garbage ".repeat(200));
    rmSync(d.crlFile);
    const refused = depot(["ledger", "rebuild", d.path]);
    expect({ exitCode: refused.exitCode, stderr: refused.stderr }).toEqual({
      exitCode: 1,
      stderr: `depot: ${d.crlFile} is missing: the revocations cannot be recovered from it; to rebuild without the revocations it held, give --without-crl (revoked certificates then read as valid)\n`,
    });
    const rebuilt = depot(["ledger", "rebuild", d.path, "--without-crl"]);
    expect(rebuilt.exitCode).toBe(0);
    expect(rebuilt.stdout).toMatch(/^Moved the damaged ledger aside to .*\/ledger\.sqlite3\.lost-[0-9TZ-]+\nRebuilt the ledger: 2 certificate\(s\)/);
    expect(depotOk(["list", d.path]).split("\n").filter(Boolean)).toHaveLength(1);
  }, TEST_TIMEOUT_MS);

  test("a depot 0.1.0 made (a ledger, no marker) opens and gets the marker", async () => {
    const d = initDepot();
    rmSync(join(d.path, "depot-ledger"));
    expect(depotOk(["list", d.path])).toBe("");
    expect(readFileSync(join(d.path, "depot-ledger"), "utf8")).toContain("depot ledger rebuild");
  }, TEST_TIMEOUT_MS);
});

describe("publication is recoverable", () => {
  test("a revocation committed without its CRL (a revoke killed in between): the retry says already revoked and publishes it", async () => {
    const d = initDepot();
    const alice = issue(d, "alice");
    const opened = await Depot.open(d.path);
    // What a revoke killed after its commit leaves: the row revoked, crl.pem without it.
    await opened.ledger.revoke(alice.serial.toLowerCase(), "keyCompromise", new Date(Math.floor(Date.now() / 1000) * 1000));
    opened.close();
    expect(crlOf(d).serials).toEqual([]);
    const retry = depot(["revoke", d.path, alice.serial]);
    expect(retry.exitCode).toBe(1);
    expect(retry.stderr).toMatch(new RegExp(`^depot: certificate ${alice.serial} is already revoked \\(since .*\\)\\n$`));
    expect(crlOf(d).serials).toEqual([alice.serial]);
    expect(verifyWithCrl(d, alice.file).stderr).toContain("certificate revoked");
  }, TEST_TIMEOUT_MS);

  test("a CRL that failed to be written is written by the next refreshCrl; refreshCrl does nothing when the CRL is current", async () => {
    const d = initDepot();
    const bob = issue(d, "bob");
    // crl.pem cannot be replaced while a folder stands in its place.
    rmSync(d.crlFile);
    mkdirSync(join(d.crlFile, "blocker"), { recursive: true });
    const failed = depot(["revoke", d.path, bob.serial]);
    expect(failed.exitCode).toBe(1);
    expect(failed.stderr).toStartWith(`depot: revoked ${bob.serial} in the ledger, but crl.pem was not rewritten (`);
    rmSync(d.crlFile, { recursive: true });

    const opened = await Depot.open(d.path);
    try {
      const crl = await opened.refreshCrl();
      expect(crl?.revokedCount).toBe(1);
      expect(crlOf(d).serials).toEqual([bob.serial]);
      expect(await opened.refreshCrl()).toBeUndefined();
      // Revocations recorded without publishing are all published by one refresh.
      const serials = [];
      for (let i = 0; i < 5; i++) {
        const issued = await opened.issue({ profile: "client", subject: parseDn(`CN=burst ${i}`) });
        await opened.revoke(issued.serial, "superseded", { publish: false });
        serials.push(issued.serial.toUpperCase());
      }
      const [first, second] = await Promise.all([opened.refreshCrl(), opened.refreshCrl()]);
      expect([first?.revokedCount, second]).toEqual([6, undefined]);
      expect(crlOf(d).serials.sort()).toEqual([bob.serial, ...serials].sort());
    } finally {
      opened.close();
    }
  }, TEST_TIMEOUT_MS);

  test("while another process holds the publication lease, refreshCrl leaves the CRL to it; an expired lease is taken over", async () => {
    const d = initDepot();
    const opened = await Depot.open(d.path);
    try {
      const issued = await opened.issue({ profile: "client", subject: parseDn("CN=leased") });
      await opened.revoke(issued.serial, "superseded", { publish: false });
      const other = 424242; // another process's holder id
      const now = Date.now();
      expect(await opened.ledger.leaseCrlPublication(other, new Date(now), new Date(now + 60_000))).toBe(true);
      expect(await opened.refreshCrl()).toBeUndefined();
      expect(crlOf(d).serials).toEqual([]);
      // The other process died holding it: once its lease has run out, it is taken over.
      expect(await opened.ledger.leaseCrlPublication(other, new Date(now), new Date(now - 1))).toBe(true);
      expect((await opened.refreshCrl())?.revokedCount).toBe(1);
      expect(crlOf(d).serials).toEqual([issued.serial.toUpperCase()]);
      // A forced publication (depot crl, depot revoke) never waits for the lease.
      expect(await opened.ledger.leaseCrlPublication(other, new Date(), new Date(Date.now() + 60_000))).toBe(true);
      expect((await opened.publishCrl()).crlNumber).toBe(3);
    } finally {
      opened.close();
    }
  }, TEST_TIMEOUT_MS);

  test("refreshCrl re-signs once less than half of the CRL's validity is left", async () => {
    const d = initDepot();
    const opened = await Depot.open(d.path);
    try {
      expect(await opened.refreshCrl()).toBeUndefined();
      const day = 86_400_000;
      expect(await opened.refreshCrl(Date.now() + 3 * day)).toBeUndefined();
      expect((await opened.refreshCrl(Date.now() + 4 * day))?.crlNumber).toBe(2);
    } finally {
      opened.close();
    }
  }, TEST_TIMEOUT_MS);

  test("currentCrlPem serves only a CRL this CA signed, never through a symbolic link, naming no absolute path", async () => {
    const d = initDepot();
    const opened = await Depot.open(d.path);
    try {
      expect(opened.currentCrlPem()).toBe(readFileSync(d.crlFile, "utf8"));
      rmSync(d.crlFile);
      await Bun.$`ln -s ${join(d.path, "private", "ca.key")} ${d.crlFile}`.quiet();
      expect(() => opened.currentCrlPem()).toThrow("cannot read the depot's crl.pem: it is a symbolic link");
      rmSync(d.crlFile);
      const other = await createDepot(join(tempDir(), "other"), { keyType: "ec-p256" });
      writeFileSync(d.crlFile, readFileSync(join(other, "crl.pem")));
      expect(() => opened.currentCrlPem()).toThrow("the depot's crl.pem is not a CRL signed by this CA; publish a new one with depot crl");
      writeFileSync(d.crlFile, "garbage\n");
      expect(() => opened.currentCrlPem()).toThrow("the depot's crl.pem is not a CRL signed by this CA; publish a new one with depot crl");
    } finally {
      opened.close();
    }
  }, TEST_TIMEOUT_MS);
});

describe("the ledger's schema and files", () => {
  test("a ledger newer than this depot is refused, saying so", () => {
    const d = initDepot();
    const db = new Database(join(d.path, "ledger.sqlite3"));
    db.run(`PRAGMA user_version = ${SCHEMA_VERSION + 1}`);
    db.close();
    const result = depot(["list", d.path]);
    expect({ exitCode: result.exitCode, stderr: result.stderr }).toEqual({
      exitCode: 1,
      stderr: `depot: the ledger ${d.path}/ledger.sqlite3 has schema version ${SCHEMA_VERSION + 1}, newer than this depot knows (${SCHEMA_VERSION}): it was written by a newer depot; use that version\n`,
    });
  }, TEST_TIMEOUT_MS);

  test("a depot 0.1.0 ledger (user_version 0, no indexes) is migrated, its records and CRL numbers kept", async () => {
    const d = initDepot();
    const alice = issue(d, "alice");
    depotOk(["revoke", d.path, alice.serial]);
    const db = new Database(join(d.path, "ledger.sqlite3"));
    db.run("DROP INDEX certificates_by_date; DROP INDEX certificates_revoked; DROP TABLE crl_only_revocations");
    db.run("DELETE FROM counters WHERE name NOT IN ('crl_number', 'crl_published', 'adopted')");
    db.run("PRAGMA user_version = 0");
    db.close();
    rmSync(join(d.path, "depot-ledger"));
    expect(depotOk(["list", d.path, "--revoked"])).toContain(alice.serial);
    const after = new Database(join(d.path, "ledger.sqlite3"), { readonly: true });
    expect(after.query("PRAGMA user_version").get()).toEqual({ user_version: SCHEMA_VERSION });
    expect(after.query("SELECT value FROM counters WHERE name = 'revocations'").get()).toEqual({ value: 1 });
    after.close();
    depotOk(["crl", d.path]);
    expect(crlOf(d)).toMatchObject({ number: 3, serials: [alice.serial] });
  }, TEST_TIMEOUT_MS);

  test("a version 4 ledger loses the audit chain's serial index on open, and its chain still verifies", () => {
    const d = initDepot();
    issue(d, "bob");
    const db = new Database(join(d.path, "ledger.sqlite3"));
    db.run("CREATE INDEX audit_serial ON audit (serial)");
    db.run("PRAGMA user_version = 4");
    db.close();
    issue(d, "carol");
    const after = new Database(join(d.path, "ledger.sqlite3"), { readonly: true });
    expect(after.query("PRAGMA user_version").get()).toEqual({ user_version: SCHEMA_VERSION });
    expect(after.query("SELECT name FROM sqlite_master WHERE type = 'index' AND name = 'audit_serial'").all()).toEqual([]);
    after.close();
    expect(depotOk(["audit", "verify", d.path])).toContain("audit chain intact: 2 record(s)");
  }, TEST_TIMEOUT_MS);

  test("a version 9 ledger's spent ACME nonces move to a table keyed by issue time, and the nonce secret is dropped (a new one refuses every older nonce)", () => {
    const d = initDepot();
    issue(d, "dave");
    const db = new Database(join(d.path, "ledger.sqlite3"));
    db.run("DROP TABLE acme_spent_nonces");
    db.run("CREATE TABLE acme_used_nonces (nonce TEXT PRIMARY KEY NOT NULL, used_at INTEGER NOT NULL) STRICT");
    db.run("CREATE INDEX acme_used_nonces_used_at ON acme_used_nonces (used_at)");
    db.run("INSERT INTO acme_used_nonces (nonce, used_at) VALUES ('spent-before', 1)");
    db.run("INSERT INTO acme_meta (name, value) VALUES ('nonce_secret', 'the-old-secret')");
    db.run("PRAGMA user_version = 9");
    db.close();
    issue(d, "erin");
    const after = new Database(join(d.path, "ledger.sqlite3"), { readonly: true });
    expect(after.query("PRAGMA user_version").get()).toEqual({ user_version: SCHEMA_VERSION });
    const tables = after.query<{ name: string }, []>("SELECT name FROM sqlite_master WHERE name LIKE 'acme_%nonces%' ORDER BY name").all().map((t) => t.name);
    expect(tables).toEqual(["acme_spent_nonces"]);
    expect(after.query("SELECT value FROM acme_meta WHERE name = 'nonce_secret'").all()).toEqual([]);
    after.close();
  }, TEST_TIMEOUT_MS);

  test("a version 10 ledger's certificates table is rebuilt without the fingerprint's UNIQUE index, every row and rowid kept, announced when large", () => {
    const d = initDepot();
    const frank = issue(d, "frank");
    issue(d, "grace");
    depotOk(["revoke", d.path, frank.serial]);
    const db = new Database(join(d.path, "ledger.sqlite3"));
    // The table as versions 1-10 made it: the same columns, the fingerprint UNIQUE.
    const tableSql = db.query<{ sql: string }, []>("SELECT sql FROM sqlite_master WHERE name = 'certificates'").get()!.sql;
    db.run(tableSql.replace(/CREATE TABLE "?certificates"?/, "CREATE TABLE old_certificates").replace(/fingerprint(\s+)TEXT NOT NULL/, "fingerprint$1TEXT NOT NULL UNIQUE"));
    db.run("INSERT INTO old_certificates (rowid, serial, subject, type, key_type, not_before, not_after, fingerprint, pem, status, revoked_at, revocation_reason, template) SELECT rowid, * FROM certificates");
    db.run("DROP TABLE certificates");
    db.run("ALTER TABLE old_certificates RENAME TO certificates");
    db.run("CREATE INDEX certificates_by_date ON certificates (not_before, serial)");
    db.run("CREATE INDEX certificates_revoked ON certificates (revoked_at, serial) WHERE status = 'revoked'");
    // Past SLOW_STEP_ROWS, so the rebuild is announced.
    db.run(`WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ${SLOW_STEP_ROWS})
      INSERT INTO certificates (serial, subject, type, key_type, not_before, not_after, fingerprint, pem)
      SELECT printf('ff%08x', i), '/CN=filler', 'client', 'ec-p256', '2026-01-01T00:00:00.000Z', '2027-01-01T00:00:00.000Z', printf('fp%08x', i), 'pem' FROM n`);
    db.run("PRAGMA user_version = 10");
    const indexes = (of: Database) => of.query<{ name: string }, []>("SELECT name FROM pragma_index_list('certificates') ORDER BY name").all().map((i) => i.name);
    expect(indexes(db)).toEqual(["certificates_by_date", "certificates_revoked", "sqlite_autoindex_certificates_1", "sqlite_autoindex_certificates_2"]);
    const rowsOf = (of: Database) => [of.query("SELECT rowid, * FROM certificates WHERE subject != '/CN=filler' ORDER BY rowid").all(), of.query("SELECT count(*) AS n, sum(rowid) AS rowids FROM certificates").get()];
    const rowsBefore = rowsOf(db);
    db.close();
    const listed = depot(["list", d.path, "--revoked"]);
    expect(listed.stdout).toContain(frank.serial);
    expect({ exitCode: listed.exitCode, stderr: listed.stderr }).toEqual({
      exitCode: 0,
      stderr: `depot: updating the ledger ${d.path}/ledger.sqlite3 to schema version 11: copying ${SLOW_STEP_ROWS + 3} rows, once; this may take a minute\n`,
    });
    const after = new Database(join(d.path, "ledger.sqlite3"), { readonly: true });
    expect(after.query("PRAGMA user_version").get()).toEqual({ user_version: SCHEMA_VERSION });
    // One autoindex left, the serial's key; the table's text no longer says UNIQUE.
    expect(indexes(after)).toEqual(["certificates_by_date", "certificates_revoked", "sqlite_autoindex_certificates_1"]);
    expect(after.query<{ sql: string }, []>("SELECT sql FROM sqlite_master WHERE name = 'certificates'").get()!.sql).not.toContain("UNIQUE");
    expect(rowsOf(after)).toEqual(rowsBefore);
    expect(after.query("PRAGMA integrity_check").get()).toEqual({ integrity_check: "ok" });
    after.close();
    // The ledger goes on working: a new certificate is recorded and the audit chain verifies.
    issue(d, "heidi");
    expect(depotOk(["audit", "verify", d.path])).toContain("audit chain intact");
  }, TEST_TIMEOUT_MS);

  test("ledger files are 0600 (0640 in the folder's group when it is set-group-ID), and a 0.1.0 ledger at 0644 is tightened", () => {
    const d = initDepot();
    issue(d, "erin");
    const mode = (file: string) => (statSync(join(d.path, file)).mode & 0o777).toString(8);
    for (const file of ["ledger.sqlite3", "ledger.sqlite3-wal", "ledger.sqlite3-shm"].filter((f) => existsSync(join(d.path, f)))) expect([file, mode(file)]).toEqual([file, "600"]);
    Bun.spawnSync(["chmod", "0644", join(d.path, "ledger.sqlite3")]);
    Bun.spawnSync(["chgrp", "nogroup", d.path]);
    Bun.spawnSync(["chmod", "g+s", d.path]);
    depotOk(["list", d.path]);
    expect(mode("ledger.sqlite3")).toBe("640");
    expect(statSync(join(d.path, "ledger.sqlite3")).gid).toBe(statSync(d.path).gid);
    expect(statSync(d.path).gid).not.toBe(0);
  }, TEST_TIMEOUT_MS);

  test("listing in pages: a cursor (not_before, serial) and a limit walk every record once, in order", async () => {
    const root = await createDepot(join(tempDir(), "pages"), { keyType: "ec-p256" });
    const opened = await Depot.open(root);
    try {
      for (let i = 0; i < 7; i++) await opened.issue({ profile: "client", subject: parseDn(`CN=page ${i}`) });
      const all = await opened.ledger.list({ includeCa: false });
      const seen: string[] = [];
      let after: { notBefore: Date; serial: string } | undefined;
      for (;;) {
        const page: string[] = [];
        for await (const r of opened.ledger.each({ includeCa: false, limit: 3, ...(after ? { after } : {}) })) {
          page.push(r.serial);
          after = { notBefore: r.notBefore, serial: r.serial };
        }
        if (page.length === 0) break;
        expect(page.length).toBeLessThanOrEqual(3);
        seen.push(...page);
      }
      expect(seen).toEqual(all.map((r) => r.serial));
      expect(seen.length).toBe(7);
    } finally {
      opened.close();
    }
  }, TEST_TIMEOUT_MS);

  test("a reader that held a transaction while the WAL grew no longer leaves it large once it lets go", async () => {
    const root = await createDepot(join(tempDir(), "wal"), { keyType: "ec-p256" });
    const opened = await Depot.open(root);
    const walFile = join(root, "ledger.sqlite3-wal");
    const reader = new Database(join(root, "ledger.sqlite3"), { readonly: true });
    try {
      reader.run("BEGIN");
      reader.query("SELECT count(*) FROM certificates").get(); // holds a snapshot: checkpoints cannot pass it
      const filler = "x".repeat(20_000);
      const base = (await opened.issue({ profile: "client", subject: parseDn("CN=template") })).record;
      for (let i = 0; i < 1_200; i++) await opened.ledger.record({ ...base, serial: `f${i.toString(16).padStart(6, "0")}`, fingerprint: `fill${i}`, pem: filler });
      expect(statSync(walFile).size).toBeGreaterThan(WAL_SIZE_LIMIT);
      reader.run("COMMIT");
      // Once the reader is gone, a checkpoint completes and the next commits restart and cut the WAL.
      for (let i = 0; i < 3; i++) await opened.issue({ profile: "client", subject: parseDn(`CN=after ${i}`) });
      expect(statSync(walFile).size).toBeLessThanOrEqual(WAL_SIZE_LIMIT);
    } finally {
      reader.close();
      opened.close();
    }
  }, TEST_TIMEOUT_MS);
});
