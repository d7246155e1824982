/**
 * PKCS#12 bundles from `depot generate --p12` and `depot p12` are read by
 * the importers people use: OpenSSL (with the password, refusing a wrong
 * one, showing the algorithms), NSS's pk12util (Chromium's and Firefox's
 * store on Linux) and Java's keytool. The password never comes from argv.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { makePkcs12, pkcs12Kdf } from "../src/ca/pkcs12.ts";
import { DEPOT_BIN, depot, pemBlocks, run, tempDir } from "./helpers.ts";
import { ensureTool } from "./tools.ts";

const PASSWORD = "corrëct horse";
let dir: string;
let ca: string;
let passwordFile: string;

beforeAll(() => {
  ensureTool("pk12util", "libnss3-tools");
  ensureTool("keytool", "default-jre-headless");
  dir = tempDir("depot-p12-");
  ca = join(dir, "ca");
  expect(depot(["init", ca, "P12 Test CA", "--key-type", "ec-p256"]).exitCode).toBe(0);
  passwordFile = join(dir, "password.txt");
  writeFileSync(passwordFile, `${PASSWORD}\n`, { mode: 0o600 });
}, 600_000);

const modeOf = (path: string) => statSync(path).mode & 0o777;

/** `openssl pkcs12 -info` of a file, with the password given on a pipe (never argv, here too). */
function info(file: string, password: string): { exitCode: number; text: string } {
  const result = run(["openssl", "pkcs12", "-info", "-in", file, "-passin", "stdin", "-nokeys"], { stdin: `${password}\n` });
  return { exitCode: result.exitCode, text: result.stdout + result.stderr };
}

describe("depot generate --p12", () => {
  test("modern default: PBES2/PBKDF2-HMAC-SHA256/AES-256-CBC, SHA-256 MAC, CA included, friendly name = CN, mode 0600", () => {
    const p12 = join(dir, "bob.p12");
    const pem = join(dir, "bob.pem");
    const result = depot(["generate", ca, "--type", "client", "--cn", "Bob Owner", "--email", "bob@example.com", "--out", pem, "--p12", p12, "--password-file", passwordFile]);
    // Java derives PBES2 keys from ASCII passwords only: said, not refused.
    expect(result).toEqual({ exitCode: 0, stdout: "", stderr: "depot: warning: Java's keytool cannot open a PKCS#12 file whose password is not plain ASCII\n" });
    expect(modeOf(p12)).toBe(0o600);
    const { exitCode, text } = info(p12, PASSWORD);
    expect(exitCode).toBe(0);
    expect(text).toContain("MAC: sha256, Iteration 2048");
    expect(text).toContain("PKCS7 Encrypted data: PBES2, PBKDF2, AES-256-CBC, Iteration 2048, PRF hmacWithSHA256");
    expect(text).toContain("Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC, Iteration 2048, PRF hmacWithSHA256");
    expect(text).toContain("friendlyName: Bob Owner");
    expect(text).toContain("subject=CN = Bob Owner, emailAddress = bob@example.com");
    expect(text).toContain("subject=O = P12 Test CA, CN = P12 Test CA");
    // The key inside is the key in bob.pem.
    const keys = run(["openssl", "pkcs12", "-in", p12, "-passin", "stdin", "-nocerts", "-nodes"], { stdin: `${PASSWORD}\n` });
    const inside = createPrivateKey(pemBlocks(keys.stdout).find((b) => b.includes("PRIVATE KEY"))!);
    const given = createPrivateKey(pemBlocks(readFileSync(pem, "utf8"))[0]!);
    expect(inside.export({ type: "pkcs8", format: "der" }).equals(given.export({ type: "pkcs8", format: "der" }))).toBe(true);
  }, 60_000);

  test("a wrong password is refused by openssl", () => {
    const p12 = join(dir, "bob.p12");
    const { exitCode, text } = info(p12, "wrong");
    expect(exitCode).not.toBe(0);
    expect(text).toContain("Mac verify error: invalid password?");
  });

  test("--legacy: 3DES with a SHA-1 MAC, read by openssl without its legacy provider", () => {
    const p12 = join(dir, "legacy.p12");
    const result = depot(["generate", ca, "--type", "client", "--cn", "Old Mac", "--p12", p12, "--password-env", "P12_PASSWORD", "--legacy"], { env: { P12_PASSWORD: PASSWORD } });
    expect(result.exitCode).toBe(0);
    // Without --out, only the certificate is printed: the key is in the bundle alone.
    expect(pemBlocks(result.stdout).map((b) => b.split("\n")[0])).toEqual(["-----BEGIN CERTIFICATE-----"]);
    const { exitCode, text } = info(p12, PASSWORD);
    expect(exitCode).toBe(0);
    expect(text).toContain("MAC: sha1, Iteration 2048");
    expect(text).toContain("PKCS7 Encrypted data: pbeWithSHA1And3-KeyTripleDES-CBC, Iteration 2048");
    expect(text).toContain("Shrouded Keybag: pbeWithSHA1And3-KeyTripleDES-CBC, Iteration 2048");
    expect(info(p12, "wrong").exitCode).not.toBe(0);
  }, 60_000);

  test("no password source and no terminal: refused before anything is issued; an unset variable is named", () => {
    const p12 = join(dir, "never.p12");
    const list = () => depot(["list", ca]).stdout;
    const before = list();
    expect(depot(["generate", ca, "--type", "client", "--cn", "X", "--p12", p12])).toEqual({
      exitCode: 1,
      stdout: "",
      stderr: "depot: no terminal to ask for the PKCS#12 password: give it in a file or an environment variable (see --help)\n",
    });
    expect(depot(["generate", ca, "--type", "client", "--cn", "X", "--p12", p12, "--password-env", "NOT_SET_ANYWHERE"]).stderr).toBe(
      "depot: environment variable NOT_SET_ANYWHERE (the PKCS#12 password) is not set\n",
    );
    expect(existsSync(p12)).toBe(false);
    expect(list()).toBe(before);
    // The password options belong to --p12.
    expect(depot(["generate", ca, "--type", "client", "--cn", "X", "--legacy"]).stderr).toBe("depot: --password-file, --password-env and --legacy go with --p12 FILE\n");
  });

  test("the password is asked on a terminal, twice, without echo, saying what it asks for", async () => {
    const p12 = join(dir, "prompted.p12");
    const out = join(dir, "prompted.pem");
    // script(1) gives depot a terminal; each answer is typed once its prompt is shown.
    const child = Bun.spawn(["script", "-qec", [DEPOT_BIN, "generate", ca, "--type", "client", "--cn", "Prompted", "--out", out, "--p12", p12].join(" "), "/dev/null"], {
      stdin: "pipe",
      stdout: "pipe",
    });
    let screen = "";
    const decoder = new TextDecoder();
    const reader = child.stdout.getReader();
    const waitFor = async (text: string) => {
      while (!screen.includes(text)) {
        const { value, done } = await reader.read();
        if (done) throw new Error(`depot ended before showing '${text}': ${screen}`);
        screen += decoder.decode(value);
      }
    };
    await waitFor("PKCS#12 password: ");
    child.stdin.write("hunter2\r");
    child.stdin.flush();
    await waitFor("PKCS#12 password again: ");
    child.stdin.write("hunter2\r");
    child.stdin.flush();
    expect(await child.exited).toBe(0);
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      screen += decoder.decode(value);
    }
    expect(screen).not.toContain("hunter2");
    expect(info(p12, "hunter2").exitCode).toBe(0);
  }, 60_000);
});

describe("depot p12", () => {
  test("bundles a key and certificate the user has (one PEM file from generate), with the CA", () => {
    const pem = join(dir, "carol.pem");
    expect(depot(["generate", ca, "--type", "client", "--cn", "Carol", "--out", pem]).exitCode).toBe(0);
    const p12 = join(dir, "carol.p12");
    const result = depot(["p12", "--key", pem, "--cert", pem, "--ca", join(ca, "certificates", "ca.crt"), "--out", p12, "--password-env", "P12_PASSWORD"], { env: { P12_PASSWORD: "plain ascii" } });
    expect(result).toEqual({ exitCode: 0, stdout: "", stderr: "" });
    expect(modeOf(p12)).toBe(0o600);
    const { exitCode, text } = info(p12, "plain ascii");
    expect(exitCode).toBe(0);
    expect(text).toContain("friendlyName: Carol");
    expect(text).toContain("subject=O = P12 Test CA, CN = P12 Test CA");
  }, 60_000);

  test("refuses a key that is not the certificate's, an existing --out, and a password on the command line", () => {
    const a = join(dir, "a.pem");
    const b = join(dir, "b.pem");
    for (const [file, cn] of [[a, "A"], [b, "B"]] as const) expect(depot(["generate", ca, "--type", "client", "--cn", cn, "--out", file]).exitCode).toBe(0);
    const out = join(dir, "ab.p12");
    expect(depot(["p12", "--key", a, "--cert", b, "--out", out, "--password-file", passwordFile]).stderr).toBe(`depot: the key in ${a} does not belong to the certificate in ${b}\n`);
    expect(existsSync(out)).toBe(false);
    expect(depot(["p12", "--key", a, "--cert", a, "--out", a, "--password-file", passwordFile]).stderr).toBe(`depot: ${a} already exists; depot does not overwrite a key\n`);
    expect(depot(["p12", "--key", a, "--cert", a, "--out", out, "--password", "secret"]).stderr).toBe("depot: unknown option --password\n");
    expect(depot(["p12", "--cert", a, "--out", out]).stderr).toBe("depot: missing --key\n");
  });
});

describe("importers", () => {
  // Java derives PBES2 keys only from ASCII passwords ("Password is not ASCII"), so the importers get one.
  const ASCII_PASSWORD = "correct horse";
  let bundle: string;
  let legacyBundle: string;
  beforeAll(() => {
    bundle = join(dir, "import.p12");
    legacyBundle = join(dir, "import-legacy.p12");
    const passwordFile = join(dir, "ascii-password.txt");
    writeFileSync(passwordFile, ASCII_PASSWORD);
    expect(depot(["generate", ca, "--type", "client", "--cn", "Importer Test", "--p12", bundle, "--password-file", passwordFile]).exitCode).toBe(0);
    expect(depot(["generate", ca, "--type", "client", "--cn", "Importer Legacy", "--p12", legacyBundle, "--password-file", passwordFile, "--legacy"]).exitCode).toBe(0);
  }, 60_000);

  for (const [label, file] of [["modern", () => bundle], ["legacy", () => legacyBundle]] as const) {
    test(`pk12util (NSS) imports the ${label} bundle: key and certificate under the CN`, () => {
      const db = join(tempDir("depot-nss-"), "nssdb");
      mkdirSync(db);
      expect(run(["certutil", "-N", "-d", `sql:${db}`, "--empty-password"]).exitCode).toBe(0);
      const pw = join(db, "..", "pw");
      writeFileSync(pw, ASCII_PASSWORD);
      const imported = run(["pk12util", "-i", file(), "-d", `sql:${db}`, "-w", pw]);
      expect(imported.stdout + imported.stderr).toContain("pk12util: PKCS12 IMPORT SUCCESSFUL");
      expect(imported.exitCode).toBe(0);
      const certs = run(["certutil", "-L", "-d", `sql:${db}`]).stdout;
      expect(certs).toContain(label === "modern" ? "Importer Test" : "Importer Legacy");
      const keys = run(["certutil", "-K", "-d", `sql:${db}`, "-f", "/dev/null"]);
      expect(keys.stdout).toContain(label === "modern" ? "Importer Test" : "Importer Legacy");
      // A wrong password is refused.
      writeFileSync(pw, "wrong");
      expect(run(["pk12util", "-i", file(), "-d", `sql:${db}`, "-w", pw]).exitCode).not.toBe(0);
    }, 60_000);

    test(`keytool (Java) lists the ${label} bundle as a PrivateKeyEntry with its chain`, () => {
      const listed = run(["keytool", "-list", "-v", "-storetype", "PKCS12", "-keystore", file(), "-storepass:env", "P12_PASSWORD"], { env: { P12_PASSWORD: ASCII_PASSWORD } });
      expect(listed.stderr).toBe("");
      expect(listed.exitCode).toBe(0);
      expect(listed.stdout).toContain("Entry type: PrivateKeyEntry");
      expect(listed.stdout).toContain("Certificate chain length: 2");
      expect(listed.stdout).toContain(`Alias name: ${label === "modern" ? "importer test" : "importer legacy"}`);
      const wrong = run(["keytool", "-list", "-storetype", "PKCS12", "-keystore", file(), "-storepass:env", "P12_PASSWORD"], { env: { P12_PASSWORD: "wrong" } });
      expect(wrong.exitCode).not.toBe(0);
    }, 60_000);
  }
});

describe("makePkcs12 and the PKCS#12 key derivation", () => {
  test("pkcs12Kdf matches RFC 7292's algorithm as OpenSSL computes it (a bundle whose MAC openssl verifies)", () => {
    // Known answer from OpenSSL's PKCS12_key_gen (test vector from its test/pkcs12_format_test history):
    // password "smeg", salt 0A58CF64530D823F, id 1, iterations 1, 24 bytes.
    const key = pkcs12Kdf("sha1", "smeg", Buffer.from("0A58CF64530D823F", "hex"), 1, 1, 24);
    expect(key.toString("hex").toUpperCase()).toBe("8AAAE6297B6CB04642AB5B077851284EB7128F1A2A7FBCA3");
  });

  test("refuses an empty password and a certificate that is not PEM", () => {
    expect(() => makePkcs12({ privateKeyPem: "x", certificatePem: "y", password: "" })).toThrow("a PKCS#12 file needs a password");
    const pem = readFileSync(join(dir, "carol.pem"), "utf8");
    expect(() => makePkcs12({ privateKeyPem: pem, certificatePem: "nope", password: "p" })).toThrow("the certificate is not a PEM certificate");
    expect(new X509Certificate(pemBlocks(pem)[1]!).subject).toBe("CN=Carol");
  });
});
