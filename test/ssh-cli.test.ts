/**
 * `depot ssh` as a user runs it, on an SQLite and on a PostgreSQL ledger:
 * every certificate is a ledger row with its audit record, revocations reach
 * the KRL (checked by the real ssh-keygen -Q), mistakes get one clear line,
 * and an encrypted depot's SSH CA keys are encrypted with its passphrase.
 */
import { describe, expect, test } from "bun:test";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { depot, depotOk, run, succeeded, tempDir } from "./helpers.ts";
import { pgDatabase } from "./pg-server.ts";
import { ensureTool } from "./tools.ts";

ensureTool("ssh-keygen", "openssh-client");

function userKey(dir: string, name = "id"): string {
  const path = join(dir, name);
  succeeded(run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", path]));
  return `${path}.pub`;
}

const serialOf = (certificateFile: string) => /Serial: (\d+)/.exec(succeeded(run(["ssh-keygen", "-L", "-f", certificateFile])))![1]!;

/** The same checks on both ledgers. */
function ledgerCases(name: string, makeDepot: () => Promise<{ path: string; env: Record<string, string> }>) {
  describe(`depot ssh on ${name}`, () => {
    test("sign, list, revoke: ledger rows, audit records and the KRL agree", async () => {
      const { path, env } = await makeDepot();
      const dir = tempDir("depot-ssh-cli-");
      const ssh = (args: string[]) => depot(["ssh", ...args], { env });
      expect(ssh(["init", path]).exitCode).toBe(0);
      const first = join(dir, "a-cert.pub");
      const second = join(dir, "b-cert.pub");
      expect(ssh(["sign", path, "--user", "--public-key", userKey(dir, "a"), "--principal", "alice", "--out", first]).exitCode).toBe(0);
      const signed = ssh(["sign", path, "--host", "--public-key", userKey(dir, "b"), "--principal", "web1.example.com,web1", "--valid", "2d"]);
      expect(signed.exitCode).toBe(0);
      writeFileSync(second, signed.stdout);
      expect(signed.stderr).toMatch(/^depot: SSH host certificate \d+ for web1\.example\.com,web1 \(key id "web1\.example\.com"\), valid until \S+\n$/);

      const listed = JSON.parse(ssh(["list", path, "--json"]).stdout) as { serial: string; kind: string; status: string; principals: string[] }[];
      expect(listed.map((r) => [r.serial, r.kind, r.status, r.principals])).toEqual(
        expect.arrayContaining([
          [serialOf(first), "user", "valid", ["alice"]],
          [serialOf(second), "host", "valid", ["web1.example.com", "web1"]],
        ]),
      );
      const shown = ssh(["show", path, serialOf(first)]);
      expect(shown.stdout).toContain(`Serial:      ${serialOf(first)}\nType:        user certificate\nKey ID:      alice\nPrincipals:  alice\n`);
      expect(shown.stdout).toMatch(/\nKey: {9}ssh-ed25519 SHA256:\S+\n/);
      expect(shown.stdout).toMatch(/\nStatus:      valid\n/);
      expect(shown.stdout.trim().split("\n").at(-1)).toBe(readFileSync(first, "utf8").trim());
      const krl = join(path, "ssh", "revoked.krl");
      expect(run(["ssh-keygen", "-Q", "-f", krl, first]).exitCode).toBe(0);

      const revoked = ssh(["revoke", path, serialOf(first), "--reason", "superseded"]);
      expect(revoked.stderr).toBe("");
      expect(revoked.stdout).toBe(`Revoked SSH user certificate ${serialOf(first)} (alice), reason superseded\nKRL version 1 with 1 revoked certificate(s) written to ${krl}\n`);
      expect(run(["ssh-keygen", "-Q", "-f", krl, first]).stdout).toContain("REVOKED");
      expect(run(["ssh-keygen", "-Q", "-f", krl, second]).exitCode).toBe(0);
      expect(JSON.parse(ssh(["list", path, "--revoked", "--json"]).stdout).map((r: { serial: string }) => r.serial)).toEqual([serialOf(first)]);

      const again = ssh(["revoke", path, serialOf(first)]);
      expect(again.stderr).toMatch(new RegExp(`^depot: SSH certificate ${serialOf(first)} is already revoked \\(since \\S+\\)\\n$`));
      expect(again.exitCode).toBe(1);

      const audit = depot(["audit", "export", path], { env }).stdout.trim().split("\n").map((line) => JSON.parse(line) as { event: string; serial?: string; profile?: string; requester: string });
      expect(audit.filter((r) => r.event.startsWith("ssh-")).map((r) => [r.event, r.serial, r.profile, r.requester])).toEqual([
        ["ssh-issue", serialOf(first), "ssh-user", "cli"],
        ["ssh-issue", serialOf(second), "ssh-host", "cli"],
        ["ssh-revoke", serialOf(first), "ssh-user", "cli"],
      ]);
      expect(depot(["audit", "verify", path], { env }).exitCode).toBe(0);
    }, 300_000);
  });
}

ledgerCases("SQLite", async () => {
  const path = join(tempDir("depot-ssh-"), "ca");
  depotOk(["init", path, "SSH CA"]);
  return { path, env: {} };
});

ledgerCases("PostgreSQL", async () => {
  const db = await pgDatabase();
  const path = join(tempDir("depot-ssh-pg-"), "ca");
  succeeded(depot(["init", path, "SSH PG CA", "--ledger", db.url], { env: db.env }));
  return { path, env: db.env };
});

describe("depot ssh: mistakes get one clear line and change nothing", () => {
  const path = join(tempDir("depot-ssh-bad-"), "ca");
  depotOk(["init", path, "SSH CA"]);
  const dir = tempDir("depot-ssh-bad-keys-");

  test.each([
    [["sign", path, "--public-key", "x.pub", "--principal", "a"], "depot: give --user (a user certificate) or --host (a host certificate)\n"],
    [["sign", path, "--user", "--host", "--public-key", "x.pub", "--principal", "a"], "depot: give --user or --host, not both\n"],
    [["revoke", path, "12ab"], "depot: '12ab' is not an SSH certificate serial (a decimal number, as ssh-keygen -L prints it)\n"],
    [["revoke", path, "18446744073709551616"], "depot: '18446744073709551616' is not an SSH certificate serial (a decimal number, as ssh-keygen -L prints it)\n"],
    [["init", path, "--key-type", "rsa"], "depot: unknown SSH CA key type 'rsa' (choose ed25519, ecdsa-p256, ecdsa-p384)\n"],
    [["sign", path, "--user", "--public-key", "x.pub", "--principal", "a"], "depot: this depot has no SSH CA: make one with depot ssh init\n"],
  ])("depot ssh %j", (args, message) => {
    const result = depot(["ssh", ...args]);
    expect(result.stderr).toBe(message);
    expect(result.exitCode).toBe(1);
  });

  test("after ssh init: bad keys, principals, validity and options are refused before anything is signed", () => {
    depotOk(["ssh", "init", path]);
    const again = depot(["ssh", "init", path]);
    expect(again.stderr).toBe(`depot: ${path} already has SSH CAs (${join(path, "private", "ssh_user_ca.key")})\n`);
    const key = userKey(dir);
    const garbage = join(dir, "garbage.pub");
    writeFileSync(garbage, "ssh-ed25519 AAAA not-a-key\n");
    const cases: [string[], string][] = [
      [["--user", "--public-key", key], "depot: an SSH certificate needs at least one principal (a user name, or the host's names)\n"],
      [["--user", "--public-key", key, "--principal", "bad name"], "depot: principal 'bad name' must be 1 to 255 characters without spaces, commas or control characters\n"],
      [["--user", "--public-key", key, "--principal", "a", "--valid", "400d"], "depot: an SSH certificate's validity must be more than 0 and at most 366 days\n"],
      [["--user", "--public-key", key, "--principal", "a", "--valid", "soon"], "depot: 'soon' is not a duration (a whole number and s, m, h or d, e.g. 30m or 7d; at most 10 years)\n"],
      [["--host", "--public-key", key, "--principal", "h", "--force-command", "ls"], "depot: force-command and source-address are for user certificates\n"],
      [["--user", "--public-key", key, "--principal", "a", "--extension", "permit-everything"], "depot: unknown extension 'permit-everything' (known: permit-X11-forwarding, permit-agent-forwarding, permit-port-forwarding, permit-pty, permit-user-rc, no-touch-required)\n"],
      [["--user", "--public-key", garbage, "--principal", "a"], "depot: the SSH public key: the ssh-ed25519 public key is malformed\n"],
      [["--user", "--public-key", join(dir, "missing.pub"), "--principal", "a"], `depot: cannot read ${join(dir, "missing.pub")}: no such file or directory\n`],
    ];
    for (const [args, message] of cases) {
      const result = depot(["ssh", "sign", path, ...args]);
      expect(result.stderr).toBe(message);
      expect(result.exitCode).toBe(1);
    }
    expect(depotOk(["ssh", "list", path])).toBe("");
    expect(depot(["ssh", "revoke", path, "123"]).stderr).toBe("depot: no SSH certificate with serial 123 in this depot\n");
  });

  test("a certificate recorded but not written out names the command that revokes it", () => {
    const out = join(dir, "no-such-folder", "id-cert.pub");
    const result = depot(["ssh", "sign", path, "--user", "--public-key", userKey(dir, "undelivered"), "--principal", "a", "--out", out]);
    expect(result.exitCode).toBe(1);
    const [serial] = JSON.parse(depotOk(["ssh", "list", path, "--json"])).map((r: { serial: string }) => r.serial);
    expect(result.stderr).toBe(
      `depot: SSH certificate ${serial} was issued and recorded in the ledger but not delivered (cannot write ${out}: no such file or directory); revoke it with: depot ssh revoke ${path} ${serial}\n`,
    );
  });
});

describe("an encrypted depot", () => {
  test("its SSH CA keys are encrypted with the CA key's passphrase, 0400, and signing needs it", () => {
    const dir = tempDir("depot-ssh-enc-");
    const path = join(dir, "ca");
    const passphrase = join(dir, "pass");
    writeFileSync(passphrase, "correct horse\n", { mode: 0o600 });
    const wrong = join(dir, "wrong");
    writeFileSync(wrong, "wrong\n", { mode: 0o600 });
    succeeded(depot(["init", path, "--encrypt", "--passphrase-file", passphrase]));
    expect(depot(["ssh", "init", path, "--passphrase-file", wrong]).exitCode).toBe(1);
    succeeded(depot(["ssh", "init", path, "--passphrase-file", passphrase]));
    for (const kind of ["user", "host"]) {
      const key = join(path, "private", `ssh_${kind}_ca.key`);
      expect(readFileSync(key, "utf8")).toStartWith("-----BEGIN ENCRYPTED PRIVATE KEY-----\n");
      expect(statSync(key).mode & 0o777).toBe(0o400);
    }
    const key = userKey(dir);
    const refused = depot(["ssh", "sign", path, "--user", "--public-key", key, "--principal", "a", "--passphrase-file", wrong]);
    expect(refused.exitCode).toBe(1);
    expect(refused.stdout).toBe("");
    const signed = depot(["ssh", "sign", path, "--user", "--public-key", key, "--principal", "a", "--passphrase-file", passphrase]);
    expect(signed.exitCode).toBe(0);
    expect(signed.stdout).toStartWith("ssh-ed25519-cert-v01@openssh.com ");
  });
});
