/**
 * `depot ledger migrate PATH --to postgres://…` on a real PostgreSQL: a
 * SQLite depot with revoked certificates is copied row for row, verified,
 * switched over; its CRL from PostgreSQL lists the same serials with a
 * higher number; a second run copies nothing; another CA's database is
 * refused before anything is written.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { depot, depotOk, openssl, run, tempDir } from "./helpers.ts";
import { pgDatabase } from "./pg-server.ts";

const TIMEOUT = 300_000;

function crl(path: string): { serials: string[]; number: number } {
  const text = openssl(["crl", "-in", join(path, "crl.pem"), "-noout", "-text"]).stdout;
  return {
    serials: [...text.matchAll(/Serial Number: ([0-9A-F]+)/g)].map((m) => m[1]!.replace(/^0+/, "")).sort(),
    number: Number.parseInt(/X509v3 CRL Number: \n\s*(\d+)/.exec(text)?.[1] ?? "-1", 10),
  };
}

function sqliteDepotWithRevocations(issued: number, revoked: number): { path: string; serials: string[] } {
  const path = join(tempDir("depot-migrate-"), "ca");
  depotOk(["init", path, "Migrating CA", "--key-type", "ec-p256"]);
  const serials: string[] = [];
  for (let i = 0; i < issued; i++) {
    const pem = depotOk(["generate", path, "--type", "client", "--cn", `user ${i}`]);
    serials.push(openssl(["x509", "-noout", "-serial"], pem).stdout.trim().replace("serial=", "").replace(/^0+/, ""));
  }
  for (const serial of serials.slice(0, revoked)) depotOk(["revoke", path, serial, "--reason", "keyCompromise"]);
  return { path, serials };
}

describe("depot ledger migrate", () => {
  test("copies a SQLite ledger with revocations: counts match, the CRL from PostgreSQL lists the same serials", async () => {
    const db = await pgDatabase();
    const { path, serials } = sqliteDepotWithRevocations(5, 2);
    const before = crl(path);
    expect(before.serials).toEqual(serials.slice(0, 2).sort());
    expect(depot(["token", "create", path, "--name", "enrol", "--uses", "1", "--allow", "*.example.com"]).exitCode).toBe(0);
    const chainBefore = depotOk(["audit", "verify", path]);

    const result = depot(["ledger", "migrate", path, "--to", db.url], { env: db.env });
    expect(result.stderr).toBe("");
    expect(result.stdout).toBe(
      `copied 6 of 6 certificates (2 revoked) to ${db.url}; 0 were there already\n` +
        `verified 6 of 6; CRL numbers continue after ${before.number}\n` +
        "audit chain: copied 8 of 8 records, verified; API tokens: copied 1 of 1\n" +
        "depot.cnf now names the PostgreSQL ledger; ledger.sqlite3 is kept as it was\n",
    );
    expect(result.exitCode).toBe(0);
    expect(readFileSync(join(path, "depot.cnf"), "utf8")).toContain(`ledger          = ${db.url}`);
    const rows = await db.query<{ status: string; n: string }>("SELECT status, count(*) AS n FROM certificates GROUP BY status ORDER BY status");
    expect(rows.map((r) => [r.status, Number(r.n)])).toEqual([["revoked", 2], ["valid", 4]]);

    const fresh = depot(["crl", path], { env: db.env });
    expect(fresh.stderr).toBe("");
    const after = crl(path);
    expect(after.serials).toEqual(before.serials);
    expect(after.number).toBeGreaterThan(before.number);
    expect(depot(["list", path, "--revoked"], { env: db.env }).stdout.trim().split("\n")).toHaveLength(2);
    // The same chain, head and all, now read from PostgreSQL; the token came along.
    expect(depot(["audit", "verify", path], { env: db.env }).stdout).toBe(chainBefore);
    expect(depot(["token", "list", path], { env: db.env }).stdout).toContain("enrol");
  }, TIMEOUT);

  test("SSH certificates come along: listed, revoked ones in the KRL published from PostgreSQL", async () => {
    const db = await pgDatabase();
    const path = join(tempDir("depot-migrate-ssh-"), "ca");
    depotOk(["init", path, "Migrating SSH CA", "--key-type", "ec-p256"]);
    depotOk(["ssh", "init", path]);
    const keyDir = tempDir("depot-migrate-ssh-keys-");
    const serials: string[] = [];
    for (const name of ["a", "b"]) {
      const key = join(keyDir, name);
      expect(run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key]).exitCode).toBe(0);
      depotOk(["ssh", "sign", path, "--user", "--public-key", `${key}.pub`, "--principal", name, "--out", `${key}-cert.pub`]);
      serials.push(/Serial: (\d+)/.exec(run(["ssh-keygen", "-L", "-f", `${key}-cert.pub`]).stdout)![1]!);
    }
    depotOk(["ssh", "revoke", path, serials[0]!]);
    const before = depotOk(["ssh", "list", path]);
    const result = depot(["ledger", "migrate", path, "--to", db.url], { env: db.env });
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain("SSH certificates: copied 2 of 2\n");
    expect(depot(["ssh", "list", path], { env: db.env }).stdout).toBe(before);
    const krl = depot(["ssh", "krl", path], { env: db.env });
    expect(krl.stdout).toContain("KRL version 1 with 1 revoked certificate(s)");
    expect(run(["ssh-keygen", "-Q", "-f", join(path, "ssh", "revoked.krl"), join(keyDir, "a-cert.pub")]).stdout).toContain("REVOKED");
    expect(run(["ssh-keygen", "-Q", "-f", join(path, "ssh", "revoked.krl"), join(keyDir, "b-cert.pub")]).exitCode).toBe(0);
    expect(depot(["audit", "verify", path], { env: db.env }).exitCode).toBe(0);
  }, TIMEOUT);

  test("run again on a migrated depot it refuses; onto the same database from a copy it copies nothing and verifies all", async () => {
    const db = await pgDatabase();
    const { path } = sqliteDepotWithRevocations(2, 1);
    // A copy of the folder still on SQLite, as an interrupted run would leave it.
    const copy = join(tempDir("depot-migrate-copy-"), "ca");
    Bun.spawnSync(["cp", "-a", path, copy]);
    expect(depot(["ledger", "migrate", path, "--to", db.url], { env: db.env }).exitCode).toBe(0);
    const again = depot(["ledger", "migrate", path, "--to", db.url], { env: db.env });
    expect(again.stderr).toBe(`depot: ${path} already keeps its ledger in PostgreSQL (${db.url})\n`);
    expect(again.exitCode).toBe(1);
    const rerun = depot(["ledger", "migrate", copy, "--to", db.url], { env: db.env });
    expect(rerun.stderr).toBe("");
    expect(rerun.stdout).toStartWith(`copied 0 of 3 certificates (1 revoked) to ${db.url}; 3 were there already\nverified 3 of 3;`);
    expect(rerun.stdout).toContain("audit chain: copied 0 of 3 records, verified;");
  }, TIMEOUT);

  test("refuses a database holding another CA's rows, and leaves depot.cnf on SQLite", async () => {
    const db = await pgDatabase();
    const other = join(tempDir("depot-migrate-other-"), "ca");
    expect(depot(["init", other, "--key-type", "ec-p256", "--ledger", db.url], { env: db.env }).exitCode).toBe(0);
    const { path } = sqliteDepotWithRevocations(1, 0);
    const result = depot(["ledger", "migrate", path, "--to", db.url], { env: db.env });
    expect(result.stderr).toMatch(/^depot: the ledger \S+ holds another CA's certificates/);
    expect(result.exitCode).toBe(1);
    expect(readFileSync(join(path, "depot.cnf"), "utf8")).not.toContain("ledger");
    const rows = await db.query<{ n: string }>("SELECT count(*) AS n FROM certificates");
    expect(Number(rows[0]!.n)).toBe(1);
  }, TIMEOUT);
});
