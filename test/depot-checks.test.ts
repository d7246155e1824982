/**
 * What every command refuses about a depot folder, and how failures are
 * worded: a ca.crt that is not the CA key's, symbolic links inside the
 * depot, a CA key others can read, a garbage depot.cnf, a full disk, a
 * read-only folder, a damaged ledger, an issued certificate that could not
 * be delivered, and the staging folders of killed `init` runs. Through the
 * compiled executable; full and read-only disks are real tmpfs mounts (the
 * tests run as root).
 */
import { afterAll, describe, expect, test } from "bun:test";
import { chmodSync, copyFileSync, cpSync, existsSync, mkdirSync, readdirSync, renameSync, rmSync, symlinkSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Database } from "bun:sqlite";
import { removeStaleStaging } from "../src/ca/create.ts";
import { depot, depotOk, run, tempDir } from "./helpers.ts";

const TEST_TIMEOUT_MS = 60_000;

function initDepot(parent = tempDir(), keyType = "ec-p256"): string {
  const path = join(parent, "ca");
  depotOk(["init", path, "--key-type", keyType]);
  return path;
}

const mounts: string[] = [];
afterAll(() => {
  for (const mount of mounts) run(["umount", "-l", mount]);
});

/** A tmpfs of `size` mounted on a fresh folder: a real small disk. */
function tmpfs(size: string): string {
  const mount = tempDir("depot-tmpfs-");
  const result = run(["mount", "-t", "tmpfs", "-o", `size=${size}`, "tmpfs", mount]);
  if (result.exitCode !== 0) throw new Error(`these tests mount a tmpfs and need root: ${result.stderr}`);
  mounts.push(mount);
  return mount;
}

function fill(mount: string): void {
  run(["dd", "if=/dev/zero", `of=${join(mount, "filler")}`, "bs=4k"]);
}

/** The commands that open a depot, as a user would run them. */
const COMMANDS = (path: string): string[][] => [
  ["generate", path, "--type", "client", "--cn", "x"],
  ["list", path],
  ["crl", path],
  ["revoke", path, "0x1234"],
  ["show", path, "0x1234"],
];

function expectEveryCommand(path: string, stderr: string): void {
  for (const args of COMMANDS(path)) {
    const result = depot(args);
    expect({ command: args[0], exitCode: result.exitCode, stderr: result.stderr, stdout: result.stdout }).toEqual({ command: args[0], exitCode: 1, stderr, stdout: "" });
  }
}

describe("a depot folder that cannot be trusted is refused by every command", () => {
  test("a ca.crt from another CA, or of another key type, than private/ca.key", () => {
    const path = initDepot();
    const ecOther = initDepot(tempDir());
    const rsaOther = initDepot(tempDir(), "rsa-2048");
    const stderr = `depot: ${path}/certificates/ca.crt does not match the CA key (private/ca.key): it holds another public key; put back the CA's own certificate\n`;
    for (const other of [ecOther, rsaOther]) {
      copyFileSync(join(other, "certificates", "ca.crt"), join(path, "certificates", "ca.crt"));
      expectEveryCommand(path, stderr);
    }
  }, TEST_TIMEOUT_MS);

  test("certificates/ as a symbolic link to a folder outside the depot: nothing is written there", () => {
    const path = initDepot();
    const outside = tempDir();
    cpSync(join(path, "certificates"), outside, { recursive: true });
    rmSync(join(path, "certificates"), { recursive: true });
    symlinkSync(outside, join(path, "certificates"));
    const before = readdirSync(outside).sort();
    expectEveryCommand(path, `depot: ${path}/certificates is a symbolic link; depot follows no link inside a depot (replace it with the real file or folder)\n`);
    expect(readdirSync(outside).sort()).toEqual(before);
  }, TEST_TIMEOUT_MS);

  test("the ledger or crl.pem as a symbolic link", () => {
    for (const name of ["ledger.sqlite3", "crl.pem"]) {
      const path = initDepot();
      renameSync(join(path, name), join(path, `${name}.real`));
      symlinkSync(join(path, `${name}.real`), join(path, name));
      const result = depot(["list", path]);
      expect({ exitCode: result.exitCode, stderr: result.stderr }).toEqual({
        exitCode: 1,
        stderr: `depot: ${path}/${name} is a symbolic link; depot follows no link inside a depot (replace it with the real file or folder)\n`,
      });
    }
  }, TEST_TIMEOUT_MS);

  test("a CA key readable by group or others, with the message start gives", () => {
    const path = initDepot();
    for (const mode of [0o440, 0o404, 0o644]) {
      chmodSync(join(path, "private", "ca.key"), mode);
      expectEveryCommand(path, `depot: refusing to open the depot: ${path}/private/ca.key is readable by group or others (chmod 400 it)\n`);
    }
  }, TEST_TIMEOUT_MS);

  test("a garbage depot.cnf is called unreadable, and where", () => {
    const path = initDepot();
    writeFileSync(join(path, "depot.cnf"), "\u0000\u0001 garbage\nno sections here\n");
    expectEveryCommand(path, `depot: ${path}/depot.cnf is unreadable: it has no [ ca ] section naming the CA's label (label = ...)\n`);
  }, TEST_TIMEOUT_MS);
});

describe("failures in words", () => {
  test("a full disk: the ledger cannot grow", () => {
    const path = initDepot(tmpfs("1m"));
    fill(join(path, ".."));
    const result = depot(["generate", path, "--type", "client", "--cn", "full"]);
    expect({ exitCode: result.exitCode, stderr: result.stderr, stdout: result.stdout }).toEqual({
      exitCode: 1,
      stderr: `depot: the disk holding the depot is full: cannot write the ledger ${path}/ledger.sqlite3\n`,
      stdout: "",
    });
  }, TEST_TIMEOUT_MS);

  test("a read-only folder", () => {
    const mount = tmpfs("1m");
    const path = initDepot(mount);
    expect(run(["mount", "-o", "remount,ro", mount]).exitCode).toBe(0);
    const result = depot(["generate", path, "--type", "client", "--cn", "ro"]);
    expect({ exitCode: result.exitCode, stderr: result.stderr }).toEqual({
      exitCode: 1,
      stderr: `depot: the folder holding the depot (${path}) is read-only: cannot write the ledger\n`,
    });
  }, TEST_TIMEOUT_MS);

  test("a ledger that is not a database", () => {
    const path = initDepot();
    for (const suffix of ["-wal", "-shm"]) rmSync(join(path, `ledger.sqlite3${suffix}`), { force: true });
    writeFileSync(join(path, "ledger.sqlite3"), "garbage, not SQLite ".repeat(300));
    const result = depot(["list", path]);
    expect({ exitCode: result.exitCode, stderr: result.stderr }).toEqual({
      exitCode: 1,
      stderr: `depot: the ledger ${path}/ledger.sqlite3 is not a database: file is not a database; restore it from a backup, or move it aside and run: depot ledger rebuild ${path}\n`,
    });
  }, TEST_TIMEOUT_MS);

  test("generate --out on a full disk names the serial it issued and recorded but could not deliver", () => {
    const path = initDepot();
    const full = tmpfs("64k");
    fill(full);
    const out = join(full, "bob.pem");
    const result = depot(["generate", path, "--type", "client", "--cn", "bob", "--out", out]);
    expect(result.exitCode).toBe(1);
    const match = /^depot: certificate ([0-9A-F]+) was issued and recorded in the ledger but not delivered \(cannot write (.+): no space left on device\); nobody holds its key: revoke it with: depot revoke (.+) \1\n$/.exec(result.stderr);
    expect(match?.slice(2)).toEqual([out, path]);
    expect(existsSync(out)).toBe(false);
    // The serial is the one recorded, and the operator can revoke it as told.
    const db = new Database(join(path, "ledger.sqlite3"), { readonly: true });
    const row = db.query<{ subject: string }, [string]>("SELECT subject FROM certificates WHERE serial = ?").get(match![1]!.toLowerCase());
    db.close();
    expect(row).toEqual({ subject: "CN=bob" });
    expect(depotOk(["revoke", path, match![1]!])).toStartWith(`Revoked ${match![1]} (CN=bob)`);
  }, TEST_TIMEOUT_MS);
});

describe("init cleans up after killed runs", () => {
  test("stale staging folders of dead processes are removed at the next init in the same parent; live or foreign ones stay", () => {
    const parent = tempDir();
    const staging = (name: string) => {
      const dir = join(parent, name);
      mkdirSync(join(dir, "private"), { recursive: true });
      writeFileSync(join(dir, "private", "ca.key"), "a key a killed init left\n");
      return dir;
    };
    // A pid that is surely dead: a process that ran and exited.
    const dead = Bun.spawnSync(["true"]).pid;
    const deadRun = staging(`.old.init-${dead}-abc123`);
    const liveRun = staging(`.busy.init-${process.pid}-def456`);
    const oldStyle = staging(".legacy.init-Xy12Zz");
    const oldStyleFresh = staging(".fresh.init-Ab34Cd");
    const hour = 3_600_000;
    const longAgo = (Date.now() - 2 * hour) / 1000;
    utimesSync(oldStyle, longAgo, longAgo);
    const notOurs = join(parent, ".photos.init-111111-ghi789");
    mkdirSync(join(notOurs, "holiday"), { recursive: true });

    depotOk(["init", join(parent, "new-ca"), "--key-type", "ec-p256"]);
    expect(existsSync(deadRun)).toBe(false);
    expect(existsSync(oldStyle)).toBe(false);
    expect(existsSync(liveRun)).toBe(true); // this test runner is alive
    expect(existsSync(oldStyleFresh)).toBe(true); // no pid, and too young to judge
    expect(existsSync(notOurs)).toBe(true); // holds what init never writes
    expect(readdirSync(parent).filter((n) => n.includes(".init-")).sort()).toEqual([".busy.init-" + process.pid + "-def456", ".fresh.init-Ab34Cd", ".photos.init-111111-ghi789"].sort());
    // Two hours on, even a live pid may have been reused: only age counts then.
    expect(removeStaleStaging(parent, Date.now() + 2 * hour).sort()).toEqual([liveRun, oldStyleFresh].sort());
  }, TEST_TIMEOUT_MS);
});
