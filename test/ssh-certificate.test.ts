/**
 * OpenSSH certificates and KRLs as depot encodes them, read back by the real
 * ssh-keygen: `-L` parses a certificate and checks its CA signature, `-Q`
 * checks a certificate against a KRL.
 */
import { describe, expect, test } from "bun:test";
import { generateKeyPairSync, type KeyObject } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { readSshCertificate, signSshCertificate, type SshCertificateRequest } from "../src/ca/ssh/certificate.ts";
import { formatSshPublicKey, parseSshPublicKey, sshFingerprint, sshPublicKeyBlob } from "../src/ca/ssh/keys.ts";
import { encodeKrl } from "../src/ca/ssh/krl.ts";
import { tempDir } from "./helpers.ts";
import { ensureTool } from "./tools.ts";

ensureTool("ssh-keygen", "openssh-client");
const dir = tempDir("depot-ssh-");

function sshKeygen(...args: string[]) {
  const r = Bun.spawnSync(["ssh-keygen", ...args], { stderr: "pipe", stdout: "pipe" });
  return { code: r.exitCode, out: r.stdout.toString() + r.stderr.toString() };
}

const userKeys = new Map<string, string>();
/** A user's key pair as ssh-keygen makes it (once per type); returns the .pub line. */
function userKey(type: "ed25519" | "ecdsa" | "rsa"): string {
  const path = join(dir, `user-${type}`);
  if (!userKeys.has(type)) {
    const made = sshKeygen("-q", "-t", type, ...(type === "rsa" ? ["-b", "2048"] : []), "-N", "", "-f", path, "-C", `me@${type}`);
    if (made.code !== 0) throw new Error(`ssh-keygen could not make a ${type} key: ${made.out}`);
    userKeys.set(type, readFileSync(`${path}.pub`, "utf8"));
  }
  return userKeys.get(type)!;
}

function caKey(type: "ed25519" | "p256" | "p384"): { privateKey: KeyObject; publicKey: KeyObject } {
  if (type === "ed25519") return generateKeyPairSync("ed25519");
  return generateKeyPairSync("ec", { namedCurve: type === "p256" ? "prime256v1" : "secp384r1" });
}

// Made up front: an RSA key takes seconds on a busy machine.
for (const type of ["ed25519", "ecdsa", "rsa"] as const) userKey(type);
const now = Date.now();
const request = (publicKeyLine: string, extra: Partial<SshCertificateRequest> = {}): SshCertificateRequest => ({
  publicKey: parseSshPublicKey(publicKeyLine),
  kind: "user",
  serial: 0x1234_5678_9abc_def0n,
  keyId: "bob@example.com",
  principals: ["bob", "deploy"],
  validAfter: new Date(now - 60_000),
  validBefore: new Date(now + 3_600_000),
  ...extra,
});

function writeCert(name: string, line: string): string {
  const path = join(dir, `${name}-cert.pub`);
  writeFileSync(path, `${line}\n`);
  return path;
}

describe("ssh-keygen -L reads depot's certificates and checks their signature", () => {
  for (const ca of ["ed25519", "p256", "p384"] as const) {
    for (const subject of ["ed25519", "ecdsa", "rsa"] as const) {
      test(`${subject} user key, ${ca} CA`, () => {
        const { privateKey, publicKey } = caKey(ca);
        const cert = signSshCertificate(
          request(userKey(subject), { criticalOptions: { forceCommand: "/usr/bin/uptime", sourceAddress: ["127.0.0.1/32", "::1/128"] } }),
          privateKey,
          publicKey,
        );
        const { code, out } = sshKeygen("-L", "-f", writeCert(`${ca}-${subject}`, cert.line));
        expect(code).toBe(0);
        expect(out).toContain("user certificate");
        expect(out).toContain(`Signing CA: ${ca === "ed25519" ? "ED25519" : "ECDSA"} ${sshFingerprint(sshPublicKeyBlob(publicKey))}`);
        expect(out).toContain(`Serial: ${0x1234_5678_9abc_def0n}`);
        expect(out).toContain('Key ID: "bob@example.com"');
        expect(out).toMatch(/Principals: \n\s+bob\n\s+deploy\n/);
        expect(out).toContain("force-command /usr/bin/uptime");
        expect(out).toContain("source-address 127.0.0.1/32,::1/128");
        expect(out).toContain("permit-pty");
      });
    }
  }

  test("a host certificate has no extensions and says host", () => {
    const { privateKey, publicKey } = caKey("ed25519");
    const cert = signSshCertificate(request(userKey("ed25519"), { kind: "host", principals: ["web1.example.com"], keyId: "web1" }), privateKey, publicKey);
    const { code, out } = sshKeygen("-L", "-f", writeCert("host", cert.line));
    expect(code).toBe(0);
    expect(out).toContain("host certificate");
    expect(out).toMatch(/Extensions: \(none\)/);
  });

  test("a certificate altered after signing is refused by ssh-keygen", () => {
    const { privateKey, publicKey } = caKey("p256");
    const cert = signSshCertificate(request(userKey("ed25519")), privateKey, publicKey);
    const parsed = readSshCertificate(cert.blob);
    expect(parsed.keyId).toBe("bob@example.com");
    const tampered = new Uint8Array(cert.blob);
    // The key id's last byte: "bob@example.con".
    const at = Buffer.from(tampered).indexOf("bob@example.com") + "bob@example.com".length - 1;
    tampered[at] = "n".charCodeAt(0);
    const line = `${cert.line.split(" ")[0]} ${Buffer.from(tampered).toString("base64")}`;
    expect(readSshCertificate(line).keyId).toBe("bob@example.con");
    const { code } = sshKeygen("-L", "-f", writeCert("tampered", line));
    expect(code).not.toBe(0);
  });
});

describe("KRL", () => {
  test("ssh-keygen -Q finds a revoked serial of this CA, and not the same serial of another CA or another serial", () => {
    const ca = caKey("ed25519");
    const other = caKey("ed25519");
    const key = userKey("ed25519");
    const revoked = writeCert("krl-revoked", signSshCertificate(request(key, { serial: 77n }), ca.privateKey, ca.publicKey).line);
    const kept = writeCert("krl-kept", signSshCertificate(request(key, { serial: 78n }), ca.privateKey, ca.publicKey).line);
    const otherCa = writeCert("krl-other", signSshCertificate(request(key, { serial: 77n }), other.privateKey, other.publicKey).line);
    const krl = join(dir, "krl");
    writeFileSync(krl, encodeKrl({ version: 3n, generatedAt: new Date(), revoked: [{ caKey: sshPublicKeyBlob(ca.publicKey), serials: [900n, 77n, 5n, 77n] }] }));
    expect(sshKeygen("-Q", "-f", krl, revoked)).toMatchObject({ code: 1 });
    expect(sshKeygen("-Q", "-f", krl, revoked).out).toContain("REVOKED");
    expect(sshKeygen("-Q", "-f", krl, kept)).toMatchObject({ code: 0 });
    expect(sshKeygen("-Q", "-f", krl, otherCa)).toMatchObject({ code: 0 });
  });

  test("an empty KRL revokes nothing and ssh-keygen reads it", () => {
    const ca = caKey("p256");
    const cert = writeCert("krl-empty", signSshCertificate(request(userKey("ecdsa")), ca.privateKey, ca.publicKey).line);
    const krl = join(dir, "krl-empty");
    writeFileSync(krl, encodeKrl({ version: 1n, generatedAt: new Date(), revoked: [{ caKey: sshPublicKeyBlob(ca.publicKey), serials: [] }] }));
    expect(sshKeygen("-Q", "-f", krl, cert)).toMatchObject({ code: 0 });
  });
});

describe("public keys clients send", () => {
  test("a .pub line round-trips; its fingerprint is ssh-keygen's", () => {
    const line = userKey("ed25519");
    const key = parseSshPublicKey(line);
    expect(formatSshPublicKey(key.blob, key.comment)).toBe(line.trim());
    const printed = sshKeygen("-l", "-f", join(dir, "user-ed25519.pub")).out;
    expect(printed).toContain(sshFingerprint(key.blob));
  });

  test.each([
    ["", "expected a public key line"],
    ["ssh-dss AAAAB3NzaC1kc3M= x", "unsupported SSH key type"],
    ["ssh-ed25519 !!!", "not base64"],
    ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA==", "malformed"],
    ["ssh-ed25519-cert-v01@openssh.com AAAA", "unsupported SSH key type"],
  ])("refuses %j", (line, message) => {
    expect(() => parseSshPublicKey(line)).toThrow(message);
  });

  test("refuses a line whose blob holds another key type", () => {
    const ecdsa = parseSshPublicKey(userKey("ecdsa"));
    expect(() => parseSshPublicKey(`ssh-ed25519 ${Buffer.from(ecdsa.blob).toString("base64")}`)).toThrow();
  });
});
