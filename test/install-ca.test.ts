/**
 * `depot install-ca` puts the depot's CA into the system trust store
 * (Debian's update-ca-certificates) and the user's NSS database, and
 * `--uninstall` takes it out again. The store's root is a temporary folder
 * (`--root`, `$DEPOT_TRUST_ROOT`): the machine's trust store is never touched.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { depot, run, tempDir } from "./helpers.ts";
import { ensureTool } from "./tools.ts";

let dir: string;
let ca: string;
let caPem: string;

beforeAll(() => {
  ensureTool("update-ca-certificates", "ca-certificates");
  ensureTool("certutil", "libnss3-tools");
  dir = tempDir("depot-install-ca-");
  ca = join(dir, "ca");
  expect(depot(["init", ca, "Trust Me CA", "--key-type", "ec-p256"]).exitCode).toBe(0);
  caPem = readFileSync(join(ca, "certificates", "ca.crt"), "utf8");
}, 600_000);

const systemBundle = "/etc/ssl/certs/ca-certificates.crt";

describe("depot install-ca", () => {
  test("into a system store under --root and the user's NSS database; --uninstall removes it from both", () => {
    const realBefore = existsSync(systemBundle) ? statSync(systemBundle).mtimeMs : 0;
    const root = join(dir, "root");
    const home = join(dir, "home");
    const db = join(home, ".pki", "nssdb");
    mkdirSync(db, { recursive: true });
    expect(run(["certutil", "-N", "-d", `sql:${db}`, "--empty-password"]).exitCode).toBe(0);
    // A store is never empty on a real system (update-ca-certificates keeps a stale bundle when it becomes empty).
    const other = join(dir, "other");
    expect(depot(["init", other, "Other CA"]).exitCode).toBe(0);
    mkdirSync(join(root, "usr/local/share/ca-certificates"), { recursive: true });
    copyFileSync(join(other, "certificates", "ca.crt"), join(root, "usr/local/share/ca-certificates", "other.crt"));

    const installed = depot(["install-ca", ca, "--root", root], { env: { HOME: home } });
    expect(installed.stderr).toBe("");
    expect(installed.exitCode).toBe(0);
    const file = readdirSync(join(root, "usr/local/share/ca-certificates")).find((name) => name !== "other.crt");
    expect(file).toMatch(/^depot-Trust_Me_CA-[0-9a-f]{12}\.crt$/);
    expect(installed.stdout).toBe(
      `Added 'Trust Me CA' to the system trust store (${join(root, "usr/local/share/ca-certificates", file!)})\nAdded it to the NSS database ${db} (Chromium)\n`,
    );
    // update-ca-certificates ran on that root: the bundle and the hashed link hold the CA.
    expect(readFileSync(join(root, "etc/ssl/certs/ca-certificates.crt"), "utf8")).toContain(caPem.trim());
    expect(readdirSync(join(root, "etc/ssl/certs"))).toContain(file!.replace(/\.crt$/, ".pem"));
    // openssl trusts a certificate from the depot through that store.
    const leaf = join(dir, "leaf.pem");
    expect(depot(["generate", ca, "--type", "server", "--cn", "localhost", "--out", leaf]).exitCode).toBe(0);
    expect(run(["openssl", "verify", "-CAfile", join(root, "etc/ssl/certs/ca-certificates.crt"), leaf]).stdout).toBe(`${leaf}: OK\n`);
    // NSS: trusted as a CA for TLS.
    const listed = run(["certutil", "-L", "-d", `sql:${db}`]).stdout;
    expect(listed).toMatch(/depot Trust Me CA [0-9a-f]{12} +C,,/);
    // Twice is harmless.
    expect(depot(["install-ca", ca, "--root", root], { env: { HOME: home } }).exitCode).toBe(0);

    const removed = depot(["install-ca", ca, "--uninstall"], { env: { HOME: home, DEPOT_TRUST_ROOT: root } });
    expect(removed.stderr).toBe("");
    expect(removed.stdout).toBe(
      `Removed 'Trust Me CA' from the system trust store (${join(root, "usr/local/share/ca-certificates", file!)})\nRemoved it from the NSS database ${db}\n`,
    );
    expect(readdirSync(join(root, "usr/local/share/ca-certificates"))).toEqual(["other.crt"]);
    expect(readFileSync(join(root, "etc/ssl/certs/ca-certificates.crt"), "utf8")).not.toContain(caPem.trim());
    expect(run(["certutil", "-L", "-d", `sql:${db}`]).stdout).not.toContain("Trust Me CA");
    // The machine's own store was never touched.
    expect(existsSync(systemBundle) ? statSync(systemBundle).mtimeMs : 0).toBe(realBefore);
  }, 120_000);

  test("without an NSS database, only the system store; an unknown depot is named", () => {
    const root = join(dir, "root2");
    const home = join(dir, "home2");
    mkdirSync(home);
    const result = depot(["install-ca", ca, "--root", root], { env: { HOME: home } });
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toStartWith("Added 'Trust Me CA' to the system trust store");
    expect(result.stdout).not.toContain("NSS");
    expect(existsSync(join(home, ".pki"))).toBe(false);
    const missing = depot(["install-ca", join(dir, "nope"), "--root", root], { env: { HOME: home } });
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toStartWith(`depot: ${join(dir, "nope")} `);
  }, 60_000);
});
