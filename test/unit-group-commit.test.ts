// Group commit: what a burst of records becomes (one transaction), and what
// each caller is told when one item, the whole group, or the lock fails.
import { expect, test } from "bun:test";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { busyBackoffMs } from "../src/store/sqlite/busy.ts";
import { GroupCommit } from "../src/store/sqlite/group-commit.ts";
import { PAGE_COPY_AFTER_GROWTH, PAGE_COPY_EVERY_MS, SqliteLedger } from "../src/store/sqlite/ledger.ts";
import { SerialCollisionError, type CertificateRecord } from "../src/ca/ledger.ts";

const busy = () => Object.assign(new Error("database is locked"), { code: "SQLITE_BUSY" });

test("records made in one turn of the event loop commit as one group, each told after the commit", async () => {
  const groups: number[][] = [];
  const group = new GroupCommit<number>((items) => {
    groups.push(items);
    return items.map(() => undefined);
  });
  const settled: number[] = [];
  const all = [1, 2, 3, 4].map((n) => group.add(n).then(() => settled.push(n)));
  expect(groups).toEqual([]); // nothing is written before the turn ends
  await Promise.all(all);
  expect(groups).toEqual([[1, 2, 3, 4]]);
  expect(settled).toEqual([1, 2, 3, 4]);
  await group.add(5);
  expect(groups).toEqual([[1, 2, 3, 4], [5]]);
});

test("an item refused alone fails only its caller; a thrown error fails the whole group, in the caller's words", async () => {
  const refusing = new GroupCommit<string>((items) => items.map((item) => (item === "bad" ? new Error(`refused ${item}`) : undefined)));
  const outcomes = await Promise.allSettled(["a", "bad", "c"].map((item) => refusing.add(item)));
  expect(outcomes.map((o) => o.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
  expect(String((outcomes[1] as PromiseRejectedResult).reason)).toContain("refused bad");

  const failing = new GroupCommit<string>(
    () => {
      throw new Error("disk full");
    },
    (error) => new Error(`said plainly: ${(error as Error).message}`),
  );
  const failed = await Promise.allSettled(["a", "b"].map((item) => failing.add(item)));
  expect(failed.map((o) => (o as PromiseRejectedResult).reason.message)).toEqual(["said plainly: disk full", "said plainly: disk full"]);
});

test("while the lock is held elsewhere the group waits, and what arrives meanwhile joins it", async () => {
  let attempts = 0;
  let secondAdded = false;
  const groups: string[][] = [];
  const group = new GroupCommit<string>((items) => {
    attempts++;
    if (!secondAdded) throw busy();
    groups.push([...items]);
    return items.map(() => undefined);
  });
  const first = group.add("first");
  await Bun.sleep(1); // the first attempts fail busy meanwhile
  const second = group.add("second");
  secondAdded = true;
  await Promise.all([first, second]);
  expect(attempts).toBeGreaterThan(1);
  expect(groups).toEqual([["first", "second"]]);
});

test("in a real ledger, a serial taken twice in one group refuses only the second, and the audit chain stays whole", async () => {
  const folder = mkdtempSync(join(tmpdir(), "depot-group-"));
  try {
    const ledger = SqliteLedger.open(join(folder, "ledger.sqlite3"), { create: true, groupReadable: false });
    const record = (serial: string, type = "client"): CertificateRecord => ({
      serial,
      subject: `/CN=${serial}`,
      type: type as CertificateRecord["type"],
      keyType: "ec-p256",
      notBefore: new Date(1_700_000_000_000),
      notAfter: new Date(1_800_000_000_000),
      fingerprint: `fp-${serial}`,
      pem: "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n",
      status: "valid",
    });
    const entry = (serial: string) => ({ event: "issue" as const, requester: "test", serial });
    const outcomes = await Promise.allSettled(["0a", "0b", "0a", "0c"].map((serial) => ledger.record(record(serial), entry(serial))));
    expect(outcomes.map((o) => o.status)).toEqual(["fulfilled", "fulfilled", "rejected", "fulfilled"]);
    expect((outcomes[2] as PromiseRejectedResult).reason).toBeInstanceOf(SerialCollisionError);
    expect((await ledger.list()).map((c) => c.serial).sort()).toEqual(["0a", "0b", "0c"]);
    // Any other constraint (here the type's CHECK) also refuses its own row only.
    const again = await Promise.allSettled([ledger.record(record("0d"), entry("0d")), ledger.record(record("0e", "bogus"), entry("0e"))]);
    expect(again.map((o) => o.status)).toEqual(["fulfilled", "rejected"]);
    // One audit record per row written, none for the refused one, and the chain verifies.
    expect(await ledger.audit.verify()).toMatchObject({ ok: true, count: 4 });
    ledger.close();
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
});

test("a ledger whose WAL is checkpointed elsewhere copies nothing into its file while it records; checkpoint() does, and empties a WAL past its size", async () => {
  const folder = mkdtempSync(join(tmpdir(), "depot-checkpoint-"));
  try {
    const fileSize = (name: string) => statSync(join(folder, name)).size;
    const fill = async (ledger: SqliteLedger, prefix: string) => {
      // Groups of 4, as a loaded worker makes them: each commit rewrites its pages into the WAL.
      for (let group = 0; group < 300; group++) {
        await Promise.all(
          Array.from({ length: 4 }, (_, i) => {
            const serial = `${prefix}${group.toString(16).padStart(3, "0")}${i}`;
            return ledger.record(
              { serial, subject: `/CN=${serial}`, type: "client", keyType: "ec-p256", notBefore: new Date(), notAfter: new Date(Date.now() + 1e10), fingerprint: serial, pem: "x".repeat(900), status: "valid" },
              { event: "issue", requester: "test", serial },
            );
          }),
        );
      }
    };
    const here = SqliteLedger.open(join(folder, "here.sqlite3"), { create: true, groupReadable: false });
    const elsewhere = SqliteLedger.open(join(folder, "elsewhere.sqlite3"), { create: true, groupReadable: false, walCheckpoints: "elsewhere" });
    const [hereBefore, elsewhereBefore] = [fileSize("here.sqlite3"), fileSize("elsewhere.sqlite3")];
    await fill(here, "a");
    await fill(elsewhere, "b");
    // 300 commits write more WAL frames than SQLite's 1,000-page checkpoint threshold.
    expect(fileSize("here.sqlite3")).toBeGreaterThan(hereBefore + 1_000_000);
    expect(fileSize("elsewhere.sqlite3")).toBe(elsewhereBefore);
    await elsewhere.checkpoint();
    expect(fileSize("elsewhere.sqlite3")).toBeGreaterThan(elsewhereBefore + 1_000_000);
    expect((await elsewhere.list()).length).toBe(1_200);
    // A PASSIVE checkpoint leaves the WAL file as long as it was; past the
    // truncation size (here 1 MB, WAL_TRUNCATE_SIZE in a server) it is
    // emptied, and the ledger reads the same.
    const walBefore = fileSize("elsewhere.sqlite3-wal");
    expect(walBefore).toBeGreaterThan(2_000_000);
    await elsewhere.checkpoint(walBefore + 1);
    expect(fileSize("elsewhere.sqlite3-wal")).toBe(walBefore);
    await elsewhere.checkpoint(1_000_000);
    expect(fileSize("elsewhere.sqlite3-wal")).toBe(0);
    expect((await elsewhere.list()).length).toBe(1_200);
    here.close();
    elsewhere.close();
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
});

test("a writer finding the lock taken tries again on the next turn for 2 ms, then every 1-4 whole milliseconds", () => {
  expect([0, 0.5, 1.9].map(busyBackoffMs)).toEqual([0, 0, 0]);
  const waits = Array.from({ length: 2000 }, (_, i) => busyBackoffMs(2 + i));
  expect(waits.every((ms) => Number.isInteger(ms) && ms >= 1 && ms <= 4)).toBe(true);
  expect(new Set(waits).size).toBe(4); // jitter: the two workers do not retry in step
});

test("while another holds the lock for 60 ms the group waits on timers after its first 2 ms, not on every turn", async () => {
  // Bun.sleep(ms) with ms < 1 resolves at once: retries asked for in
  // fractions of a millisecond tried BEGIN IMMEDIATE thousands of times.
  let attempts = 0;
  let attemptsLate = 0;
  let firstAt: number | undefined;
  const group = new GroupCommit<string>((items) => {
    attempts++;
    const now = performance.now();
    firstAt ??= now;
    if (now - firstAt > 5) attemptsLate++;
    if (now - firstAt < 60) throw busy();
    return items.map(() => undefined);
  });
  await group.add("after the lock");
  expect(performance.now() - firstAt!).toBeGreaterThanOrEqual(60);
  expect(attempts - attemptsLate).toBeGreaterThan(2); // the first 2 ms retried on every turn
  expect(attemptsLate).toBeGreaterThan(5);
  expect(attemptsLate).toBeLessThan(60); // 55 ms in waits of 1-4 ms; every turn made thousands
});

test("checkpoint() copies the WAL into the ledger file at most every PAGE_COPY_EVERY_MS while the WAL grows slowly, at once when it grew by PAGE_COPY_AFTER_GROWTH", async () => {
  const folder = mkdtempSync(join(tmpdir(), "depot-page-copy-"));
  try {
    const fileSize = () => statSync(join(folder, "ledger.sqlite3")).size;
    const walSize = () => statSync(join(folder, "ledger.sqlite3-wal")).size;
    const ledger = SqliteLedger.open(join(folder, "ledger.sqlite3"), { create: true, groupReadable: false, walCheckpoints: "elsewhere" });
    let n = 0;
    const record = (count: number, pem = "x".repeat(900)) =>
      Promise.all(
        Array.from({ length: count }, () => {
          const serial = `c${(n++).toString(16).padStart(6, "0")}`;
          return ledger.record({ serial, subject: `/CN=${serial}`, type: "client", keyType: "ec-p256", notBefore: new Date(), notAfter: new Date(Date.now() + 1e10), fingerprint: serial, pem, status: "valid" });
        }),
      );
    await record(50);
    const t0 = 1_000_000;
    await ledger.checkpoint(undefined, t0); // the first call copies
    const copied = fileSize();
    await record(50);
    await ledger.checkpoint(undefined, t0 + PAGE_COPY_EVERY_MS - 1);
    expect(fileSize()).toBe(copied); // only the WAL was synced
    expect((await ledger.list()).length).toBe(100);
    await ledger.checkpoint(undefined, t0 + PAGE_COPY_EVERY_MS);
    const copiedAgain = fileSize();
    expect(copiedAgain).toBeGreaterThan(copied);
    // A burst: past PAGE_COPY_AFTER_GROWTH of new WAL, the next call copies however soon it comes.
    const before = walSize();
    while (walSize() - before < PAGE_COPY_AFTER_GROWTH) await record(20, "y".repeat(20_000));
    await ledger.checkpoint(undefined, t0 + PAGE_COPY_EVERY_MS + 1);
    expect(fileSize()).toBeGreaterThan(copiedAgain + PAGE_COPY_AFTER_GROWTH / 2);
    expect((await ledger.list()).length).toBe(n);
    ledger.close();
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
});
