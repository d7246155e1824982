/**
 * SSH certificates from `depot ssh` against the real OpenSSH: a real sshd
 * (Debian's openssh-server, on a free loopback port, trusting the depot's
 * user CA and reading its KRL) lets a certified user in, and refuses the same
 * certificate once `depot ssh revoke` rewrote the KRL, without a restart; a
 * client whose known_hosts holds only `@cert-authority` with the depot's host
 * CA accepts the server's host certificate.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { Subprocess } from "bun";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { depot, depotOk, run, succeeded, tempDir } from "./helpers.ts";
import { freePort } from "./server-helpers.ts";
import { ensureTool } from "./tools.ts";

ensureTool("ssh", "openssh-client");
ensureTool("sshd", "openssh-server", { startsNoService: true });

const dir = tempDir("depot-sshd-");
const ca = join(dir, "ca");
const port = freePort();
// The login name sshd checks principals against (os.userInfo() can say "unknown" here).
const user = succeeded(run(["id", "-un"])).trim();
let sshd: Subprocess | undefined;
const sshdLog = { text: "" };

function keygen(path: string, comment: string) {
  succeeded(run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", path]));
}

/** Runs `echo logged-in` on the test's sshd as `user` with the depot-certified key. */
function sshLogin(knownHosts: string) {
  return run([
    "ssh", "-F", "/dev/null", "-p", String(port),
    "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "StrictHostKeyChecking=yes",
    "-o", `UserKnownHostsFile=${knownHosts}`, "-o", "GlobalKnownHostsFile=/dev/null",
    "-o", "ConnectTimeout=10",
    "-i", join(dir, "user"), "-o", `CertificateFile=${join(dir, "user-cert.pub")}`,
    `${user}@127.0.0.1`, "echo", "logged-in",
  ]);
}

beforeAll(async () => {
  depotOk(["init", ca, "SSH Test CA"]);
  depotOk(["ssh", "init", ca]);
  keygen(join(dir, "host"), "test-host");
  keygen(join(dir, "user"), "test-user");
  depotOk(["ssh", "sign", ca, "--host", "--public-key", join(dir, "host.pub"), "--principal", "127.0.0.1", "--principal", "localhost", "--out", join(dir, "host-cert.pub")]);
  depotOk(["ssh", "sign", ca, "--user", "--public-key", join(dir, "user.pub"), "--principal", user, "--key-id", "sshd-test", "--out", join(dir, "user-cert.pub")]);
  // sshd's privilege separation folder, which the package's service would have made.
  mkdirSync("/run/sshd", { recursive: true, mode: 0o755 });
  const config = join(dir, "sshd_config");
  writeFileSync(
    config,
    [
      `Port ${port}`,
      "ListenAddress 127.0.0.1",
      `HostKey ${join(dir, "host")}`,
      `HostCertificate ${join(dir, "host-cert.pub")}`,
      `TrustedUserCAKeys ${join(ca, "ssh", "user_ca.pub")}`,
      `RevokedKeys ${join(ca, "ssh", "revoked.krl")}`,
      "AuthorizedKeysFile none",
      "PubkeyAuthentication yes",
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "PermitRootLogin prohibit-password",
      "UsePAM no",
      "StrictModes no",
      `PidFile ${join(dir, "sshd.pid")}`,
      "LogLevel VERBOSE",
      "",
    ].join("\n"),
  );
  const sshdPath = succeeded(run(["sh", "-c", "command -v sshd"])).trim();
  sshd = Bun.spawn([sshdPath, "-D", "-e", "-f", config], { stdout: "ignore", stderr: "pipe" });
  void (async () => {
    for await (const chunk of sshd!.stderr as ReadableStream<Uint8Array>) sshdLog.text += Buffer.from(chunk).toString();
  })();
  for (let i = 0; ; i++) {
    if (sshdLog.text.includes("Server listening")) break;
    if (sshd.exitCode !== null || i > 100) throw new Error(`sshd did not start: ${sshdLog.text}`);
    await Bun.sleep(100);
  }
});

afterAll(() => sshd?.kill());

/** sshd's log as it is once `pattern` shows (its lines come on a stream, after the synchronous ssh run returns). */
async function sshdLogMatching(pattern: RegExp): Promise<string> {
  for (let i = 0; i < 50 && !pattern.test(sshdLog.text); i++) await Bun.sleep(100);
  return sshdLog.text;
}

const trustingKnownHosts = () => {
  const path = join(dir, "known_hosts");
  const hostCa = readFileSync(join(ca, "ssh", "host_ca.pub"), "utf8").trim();
  writeFileSync(path, `@cert-authority * ${hostCa}\n`);
  return path;
};

test("a user certificate logs in; the client trusts the host certificate through @cert-authority alone", async () => {
  const login = sshLogin(trustingKnownHosts());
  if (login.exitCode !== 0) throw new Error(`ssh failed (${login.exitCode}): ${login.stderr}\nsshd: ${sshdLog.text}`);
  expect(login.exitCode).toBe(0);
  expect(login.stdout.trim()).toBe("logged-in");
  expect(await sshdLogMatching(/Accepted certificate ID/)).toMatch(/Accepted certificate ID "sshd-test" \(serial \d+\) signed by ED25519 CA/);
});

test("a known_hosts trusting another CA refuses the host certificate", () => {
  const other = join(dir, "other-ca");
  keygen(other, "other");
  const knownHosts = join(dir, "known_hosts_other");
  writeFileSync(knownHosts, `@cert-authority * ${readFileSync(`${other}.pub`, "utf8").trim()}\n`);
  const login = sshLogin(knownHosts);
  expect(login.exitCode).not.toBe(0);
  expect(login.stderr).toContain("Host key verification failed");
});

test("after depot ssh revoke, sshd refuses the same certificate with no restart", async () => {
  const serial = /Serial: (\d+)/.exec(succeeded(run(["ssh-keygen", "-L", "-f", join(dir, "user-cert.pub")])))![1]!;
  const revoked = depot(["ssh", "revoke", ca, serial, "--reason", "keyCompromise"]);
  expect(revoked.exitCode).toBe(0);
  expect(revoked.stdout).toContain(`Revoked SSH user certificate ${serial} (sshd-test), reason keyCompromise`);
  const login = sshLogin(trustingKnownHosts());
  expect(login.exitCode).not.toBe(0);
  expect(login.stderr).toContain("Permission denied");
  expect(await sshdLogMatching(/revoked/i)).toMatch(/Authentication key ED25519-CERT SHA256:\S+ revoked by file/);
  expect(sshd!.exitCode).toBeNull();
});
