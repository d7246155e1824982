// The audit trail is one hash chain in the ledger: concurrent writers extend it, and any edit, deletion or insertion breaks it where it happened.
import { Database } from "bun:sqlite";
import { expect, test } from "bun:test";
import { join } from "node:path";
import { canonicalBody, chainHash, GENESIS } from "../src/ca/audit.ts";
import { SqliteLedger } from "../src/store/sqlite/ledger.ts";
import { depot, depotOk, tempDir } from "./helpers.ts";

/** A ledger's audit log, and a second connection to poke at its rows. */
function openLog(path: string) {
  const ledger = SqliteLedger.open(path, { create: true, groupReadable: false });
  const db = new Database(path, { strict: true });
  return { db, log: ledger.audit };
}

test("records chain: each holds the hash of the one before; concurrent connections make one chain", async () => {
  const path = join(tempDir(), "ledger.sqlite3");
  const logs = Array.from({ length: 4 }, () => openLog(path).log);
  await Promise.all(
    Array.from({ length: 200 }, (_, i) => logs[i % 4]!.append({ event: "issue", requester: "line", client: "127.0.0.1", serial: i.toString(16).padStart(2, "0"), subject: `CN=n${i}` })),
  );
  const verdict = await logs[0]!.verify();
  expect(verdict).toMatchObject({ ok: true, count: 200 });
  const records = await logs[1]!.after(0, 1000);
  expect(records.map((r) => r.seq)).toEqual(Array.from({ length: 200 }, (_, i) => i + 1));
  expect(records[0]!.previous).toBe(GENESIS);
  for (let i = 1; i < records.length; i++) expect(records[i]!.previous).toBe(records[i - 1]!.hash);
  const { seq, time, previous, hash, ...entry } = records[5]!;
  expect(hash).toBe(chainHash(previous, canonicalBody(seq, time, entry)));
  expect(Object.keys(entry)).toEqual(["event", "requester", "client", "serial", "subject"]);
});

test.each([
  ["an edited record", "UPDATE audit SET body = replace(body, 'CN=n3', 'CN=mallory') WHERE seq = 4", 4, "record 4 was altered (its hash does not match its content)"],
  ["an edited record with its hash recomputed", "RECOMPUTE 4", 5, "record 5 does not follow record 4 (its previous hash differs)"],
  ["a deleted record", "DELETE FROM audit WHERE seq = 3", 3, "record 3 missing (next is 4)"],
  ["two deleted records", "DELETE FROM audit WHERE seq IN (3, 4)", 3, "record 3 to 4 missing (next is 5)"],
])("verify finds %s", async (_what, sql, seq, problem) => {
  const path = join(tempDir(), "ledger.sqlite3");
  const { db, log } = openLog(path);
  for (let i = 0; i < 6; i++) await log.append({ event: "issue", requester: "cli", subject: `CN=n${i}` });
  if (sql.startsWith("RECOMPUTE")) {
    const row = db.query<{ body: string; previous: string }, []>("SELECT body, previous FROM audit WHERE seq = 4").get()!;
    const body = row.body.replace("CN=n3", "CN=mallory");
    db.query("UPDATE audit SET body = ?, hash = ? WHERE seq = 4").run(body, chainHash(row.previous, body));
  } else db.run(sql);
  expect(await log.verify()).toEqual({ ok: false, count: seq - 1, seq, problem });
});

test("depot audit verify passes, then names the tampered record; export prints JSON lines", () => {
  const path = join(tempDir(), "ca");
  depotOk(["init", path, "--key-type", "ec-p256"]);
  depotOk(["token", "create", path, "--name", "one"]);
  depotOk(["token", "create", path, "--name", "two", "--admin"]);
  depotOk(["token", "revoke", path, "one"]);
  expect(depotOk(["audit", "verify", path])).toStartWith("audit chain intact: 3 record(s), head ");
  const lines = depotOk(["audit", "export", path]).trim().split("\n").map((line) => JSON.parse(line));
  expect(lines.map((l) => [l.seq, l.event, l.token, l.requester])).toEqual([
    [1, "token-create", "one", "cli"],
    [2, "token-create", "two", "cli"],
    [3, "token-revoke", "one", "cli"],
  ]);
  expect(depotOk(["audit", "export", path, "--after", "2"]).trim().split("\n").length).toBe(1);

  const db = new Database(join(path, "ledger.sqlite3"));
  db.run("UPDATE audit SET body = replace(body, '\"two\"', '\"eve\"') WHERE seq = 2");
  db.close();
  const broken = depot(["audit", "verify", path]);
  expect(broken.exitCode).toBe(1);
  expect(broken.stderr).toBe("depot: audit chain broken at record 2: record 2 was altered (its hash does not match its content) (1 record(s) before it verify)\n");
});
