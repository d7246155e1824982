/**
 * The PostgreSQL ledger through the real `depot` command line, on a real
 * PostgreSQL server (test/pg-server.ts): init keeps the URL and never the
 * password, the schema is made, checked and versioned, another CA's
 * database is refused, and certificates, revocations and CRL numbers live
 * in the shared database.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { depot, openssl, tempDir } from "./helpers.ts";
import { SCHEMA_VERSION } from "../src/store/postgres/schema.ts";
import { type PgDatabase, pgDatabase } from "./pg-server.ts";

const SETUP_TIMEOUT = 300_000;

function initPg(db: PgDatabase, extra: string[] = [], env = db.env) {
  const path = join(tempDir("depot-pg-"), "ca");
  const result = depot(["init", path, "PG CA", "--key-type", "ec-p256", "--ledger", db.url, ...extra], { env });
  return { path, result };
}

function crlSerials(path: string): string[] {
  const text = openssl(["crl", "-in", join(path, "crl.pem"), "-noout", "-text"]).stdout;
  return [...text.matchAll(/Serial Number: ([0-9A-F]+)/g)].map((m) => m[1]!.replace(/^0+/, "").toLowerCase()).sort();
}

function crlNumber(path: string): number {
  const text = openssl(["crl", "-in", join(path, "crl.pem"), "-noout", "-crlnumber"]).stdout;
  return Number.parseInt(text.trim().replace(/^crlNumber=(0x)?/, ""), 16);
}

describe("depot init --ledger postgres://", () => {
  test("keeps the URL in depot.cnf, never the password, and the CA row and CRL number live in PostgreSQL", async () => {
    const db = await pgDatabase();
    const { path, result } = initPg(db);
    expect(result.stderr).toBe("");
    expect(result.exitCode).toBe(0);
    const config = readFileSync(join(path, "depot.cnf"), "utf8");
    expect(config).toContain(`ledger          = ${db.url}`);
    expect(config).not.toContain(db.password);
    const rows = await db.query<{ type: string }>("SELECT type FROM certificates");
    expect(rows).toEqual([{ type: "ca" }]);
    expect(crlNumber(path)).toBe(1);
  }, SETUP_TIMEOUT);

  test("takes the password from --ledger-password-file and keeps only its path", async () => {
    const db = await pgDatabase();
    const file = join(tempDir(), "pw");
    writeFileSync(file, `${db.password}\n`, { mode: 0o600 });
    const { path, result } = initPg(db, ["--ledger-password-file", file], {});
    expect(result.stderr).toBe("");
    expect(result.exitCode).toBe(0);
    expect(readFileSync(join(path, "depot.cnf"), "utf8")).toContain(`ledger_password_file = ${file}`);
    const generated = depot(["generate", path, "--type", "client", "--cn", "via file"], { env: { PGPASSWORD: "" } });
    expect(generated.stderr).toBe("");
    expect(generated.exitCode).toBe(0);
  }, SETUP_TIMEOUT);

  test("refuses a URL with a password in it", async () => {
    const db = await pgDatabase();
    const { path, result } = initPg(db);
    expect(result.exitCode).toBe(0);
    const url = db.url.replace("@", `:${db.password}@`);
    const refused = depot(["init", `${path}-2`, "--ledger", url]);
    expect(refused.stderr).toBe("depot: the ledger URL must not hold a password; give it in PGPASSWORD or --ledger-password-file\n");
    expect(refused.exitCode).toBe(1);
  }, SETUP_TIMEOUT);

  test("refuses a database that already holds another CA's ledger", async () => {
    const db = await pgDatabase();
    expect(initPg(db).result.exitCode).toBe(0);
    const second = initPg(db);
    expect(second.result.stderr).toMatch(/^depot: the ledger postgres:\/\/\S+ holds another CA's certificates \(CA fingerprint [0-9a-f]{16}…, this depot's [0-9a-f]{16}…\)\n$/);
    expect(second.result.exitCode).toBe(1);
  }, SETUP_TIMEOUT);

  test("a wrong password is one clear line", async () => {
    const db = await pgDatabase();
    const { result } = initPg(db, [], { PGPASSWORD: "wrong" });
    expect(result.stderr).toMatch(/^depot: .*password.*\n$/);
    expect(result.exitCode).toBe(1);
  }, SETUP_TIMEOUT);
});

describe("a depot on PostgreSQL", () => {
  test("issues, lists, revokes and publishes CRLs from the shared database", async () => {
    const db = await pgDatabase();
    const { path } = initPg(db);
    const pem = depot(["generate", path, "--type", "client", "--cn", "alice"], { env: db.env });
    expect(pem.stderr).toBe("");
    const serial = openssl(["x509", "-noout", "-serial"], pem.stdout).stdout.trim().replace("serial=", "").replace(/^0+/, "");
    const rows = await db.query<{ serial: string; host: string }>("SELECT serial, host FROM certificates WHERE type = 'client'");
    expect(rows.map((r) => r.serial.toUpperCase().replace(/^0+/, ""))).toEqual([serial]);
    expect(rows[0]!.host).toEndWith(`:${path}`);
    expect(depot(["list", path], { env: db.env }).stdout).toContain("alice");
    const revoked = depot(["revoke", path, serial], { env: db.env });
    expect(revoked.stderr).toBe("");
    expect(revoked.exitCode).toBe(0);
    expect(crlSerials(path)).toEqual([serial.toLowerCase()]);
    expect(crlNumber(path)).toBe(2);
    const again = depot(["revoke", path, serial], { env: db.env });
    expect(again.stderr).toMatch(new RegExp(`^depot: certificate 0*${serial} is already revoked \\(since 20`));
  }, SETUP_TIMEOUT);

  test("ledger rebuild is refused: the ledger is the database, restored from its own backup", async () => {
    const db = await pgDatabase();
    const { path } = initPg(db);
    const result = depot(["ledger", "rebuild", path], { env: db.env });
    expect(result.stderr).toBe(`depot: ${path} keeps its ledger in PostgreSQL (${db.url}); restore that database from its backup: ledger rebuild is for the SQLite ledger\n`);
    expect(result.exitCode).toBe(1);
  }, SETUP_TIMEOUT);

  test("a database emptied of its depot schema is refused, not silently made a new CA", async () => {
    const db = await pgDatabase();
    const { path } = initPg(db);
    await db.query("DROP TABLE depot_schema");
    const result = depot(["list", path], { env: db.env });
    expect(result.stderr).toMatch(/^depot: the database postgres:\/\/\S+ holds no depot ledger; make one with depot init PATH --ledger URL, or depot ledger migrate PATH --to URL\n$/);
    expect(result.exitCode).toBe(1);
  }, SETUP_TIMEOUT);

  test("a schema newer than this binary knows is refused with the versions", async () => {
    const db = await pgDatabase();
    const { path } = initPg(db);
    await db.query("UPDATE depot_schema SET version = 999");
    const result = depot(["list", path], { env: db.env });
    expect(result.stderr).toMatch(new RegExp(`^depot: the ledger postgres://\\S+ has schema version 999, newer than this depot knows \\(${SCHEMA_VERSION}\\); upgrade depot on this host\n$`));
    expect(result.exitCode).toBe(1);
  }, SETUP_TIMEOUT);

  test("PostgreSQL unreachable: one line saying the ledger is unavailable", async () => {
    const db = await pgDatabase();
    const { path } = initPg(db);
    const config = readFileSync(join(path, "depot.cnf"), "utf8");
    const port = new URL(db.url).port;
    writeFileSync(join(path, "depot.cnf"), config.replace(`:${port}/`, ":1/"));
    const result = depot(["generate", path, "--type", "client", "--cn", "nobody"], { env: db.env });
    expect(result.stderr).toBe("depot: ledger unavailable\n");
    expect(result.exitCode).toBe(1);
  }, SETUP_TIMEOUT);
});

describe("a database that is not depot's", () => {
  test("init refuses a database whose tables clash with depot's, and leaves them alone", async () => {
    const db = await pgDatabase();
    await db.query("CREATE TABLE certificates (id int)");
    const { path, result } = initPg(db);
    expect(result.stderr).toMatch(/^depot: the database postgres:\/\/\S+ already holds tables of another program \(.*certificates.*\); give depot a database of its own\n$/);
    expect(result.exitCode).toBe(1);
    expect(await db.query("SELECT to_regclass('depot_schema') AS t")).toEqual([{ t: null }]);
    expect(existsSync(path)).toBe(false);
  }, SETUP_TIMEOUT);
});

describe("schema migrations", () => {
  test("eight processes opening an empty database at once: one migrates under the advisory lock, the others wait and find it done", async () => {
    const db = await pgDatabase();
    const fingerprint = "ab".repeat(32);
    const script = `
      const { PostgresLedger } = await import(${JSON.stringify(join(import.meta.dir, "..", "src", "store", "postgres", "ledger.ts"))});
      const ledger = await PostgresLedger.open({ url: process.env.URL, caFingerprint: "${fingerprint}", host: "h" + process.pid, create: true });
      console.log(await ledger.count());
      ledger.close();
      process.exit(0);
    `;
    const runs = Array.from({ length: 8 }, () =>
      Bun.spawn([process.execPath, "-e", script], { env: { ...process.env, ...db.env, URL: db.url }, stdout: "pipe", stderr: "pipe" }),
    );
    const results = await Promise.all(runs.map(async (p) => ({ code: await p.exited, out: await new Response(p.stdout).text(), err: await new Response(p.stderr).text() })));
    expect(results).toEqual(Array.from({ length: 8 }, () => ({ code: 0, out: "0\n", err: "" })));
    expect(await db.query("SELECT version FROM depot_schema")).toEqual([{ version: SCHEMA_VERSION }]);
    expect(await db.query("SELECT value FROM depot_meta WHERE name = 'ca_fingerprint'")).toEqual([{ value: fingerprint }]);
    // Migration 8: the certificates' only unique index is the serial's key.
    expect(await db.query("SELECT indexdef FROM pg_indexes WHERE tablename = 'certificates' AND indexdef LIKE 'CREATE UNIQUE%'")).toEqual([
      { indexdef: "CREATE UNIQUE INDEX certificates_pkey ON public.certificates USING btree (serial)" },
    ]);
  }, SETUP_TIMEOUT);
});

describe("tokens and the audit chain, shared by every host", () => {
  test("two hosts' ledgers at once: a 3-use token gives exactly 3 uses, a 5/min rate exactly 5 requests, and 40 appends make one intact chain", async () => {
    const db = await pgDatabase();
    const { PostgresLedger } = await import("../src/store/postgres/ledger.ts");
    const { hashToken, newToken } = await import("../src/ca/tokens.ts");
    process.env.PGPASSWORD = db.password;
    const open = (host: string) => PostgresLedger.open({ url: db.url, caFingerprint: "cd".repeat(32), host, create: true });
    const [a, b] = [await open("host-a"), await open("host-b")];
    try {
      const token = { name: "enrol", hash: hashToken(newToken()), policy: { admin: false, allow: ["*.example.com"] }, createdAt: new Date(), uses: 3, rate: { limit: 5, windowSeconds: 60 } };
      await a.tokens.create(token as never, { event: "token-create", requester: "cli", token: "enrol" });
      expect((await b.tokens.findByHash(token.hash))?.usesLeft).toBe(3);

      const uses = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).tokens.takeUse("enrol")));
      expect(uses.filter(Boolean)).toHaveLength(3);
      expect((await a.tokens.findByHash(token.hash))?.usesLeft).toBe(0);

      const now = new Date(Math.floor(Date.now() / 60_000) * 60_000 + 1000);
      const verdicts = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).tokens.takeRate("enrol", token.rate, now)));
      expect(verdicts.filter((v) => v.ok)).toHaveLength(5);

      await Promise.all(Array.from({ length: 40 }, (_, i) => (i % 2 ? a : b).audit.append({ event: "issue", requester: "line", serial: i.toString(16) })));
      const verdict = await b.audit.verify();
      expect(verdict).toEqual({ ok: true, count: 41, head: expect.stringMatching(/^[0-9a-f]{64}$/) });
      expect(await a.audit.lastSeq()).toBe(41);
    } finally {
      a.close();
      b.close();
      delete process.env.PGPASSWORD;
    }
  }, SETUP_TIMEOUT);
});
