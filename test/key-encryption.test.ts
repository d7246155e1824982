/**
 * The CA key encrypted at rest: PKCS#8 PBES2 (PBKDF2-HMAC-SHA256, 600,000
 * iterations, AES-256-CBC) that openssl reads with the passphrase; commands
 * that sign take it from a file, a named variable or a terminal prompt,
 * never argv; `depot key encrypt|decrypt` convert a depot atomically.
 */
import { describe, expect, test } from "bun:test";
import { createPrivateKey, createPublicKey, generateKeyPairSync } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { decryptPrivateKey, encryptPrivateKey, iterationsOf } from "../src/ca/key-encryption.ts";
import { KEY_SPECS, type KeyType } from "../src/ca/key-types.ts";
import { generateKeyPair } from "../src/ca/keys.ts";
import { BUN, depot, DEPOT_BIN, openssl, ROOT, run, succeeded, tempDir } from "./helpers.ts";

const PASSPHRASE = "correct horse battery staple ünïcode";
const WRONG = "correct horse battery stapler";

const spkiOf = (pem: string) => createPublicKey(pem).export({ type: "spki", format: "der" }).toString("hex");

/** A passphrase file, as a user keeps one: mode 0600, the passphrase on its first line. */
function passphraseFile(text = PASSPHRASE): string {
  const path = join(tempDir(), "passphrase");
  writeFileSync(path, `${text}\n`, { mode: 0o600 });
  return path;
}

describe("encryptPrivateKey / decryptPrivateKey", () => {
  test.each(Object.keys(KEY_SPECS) as KeyType[])("%s: openssl pkey -passin reads it as the same key, and so do we", async (type) => {
    const { privateKeyPem } = await generateKeyPair(type);
    const encrypted = await encryptPrivateKey(privateKeyPem, PASSPHRASE);
    expect(encrypted).toStartWith("-----BEGIN ENCRYPTED PRIVATE KEY-----\n");
    const dir = tempDir();
    writeFileSync(join(dir, "key.pem"), encrypted);
    const read = run(["openssl", "pkey", "-in", "key.pem", "-passin", `file:${passphraseFile()}`, "-pubout"], { cwd: dir });
    expect({ exitCode: read.exitCode, stderr: read.stderr }).toEqual({ exitCode: 0, stderr: "" });
    expect(spkiOf(read.stdout)).toBe(spkiOf(privateKeyPem));
    expect(await decryptPrivateKey(encrypted, PASSPHRASE, "key.pem")).toBe(createPrivateKey(privateKeyPem).export({ type: "pkcs8", format: "pem" }) as string);
    expect(run(["openssl", "pkey", "-in", "key.pem", "-passin", `pass:${WRONG}`, "-noout"], { cwd: dir }).exitCode).not.toBe(0);
  }, 60_000);

  test("PBES2 with PBKDF2-HMAC-SHA256 at 600,000 iterations and AES-256-CBC, a fresh salt and IV each time (openssl asn1parse)", async () => {
    const { privateKeyPem } = await generateKeyPair("ec-p256");
    const encrypted = await encryptPrivateKey(privateKeyPem, PASSPHRASE);
    const parsed = openssl(["asn1parse"], encrypted).stdout;
    const objects = [...parsed.matchAll(/OBJECT\s+:(\S+)/g)].map((m) => m[1]);
    expect(objects).toEqual(["PBES2", "PBKDF2", "hmacWithSHA256", "aes-256-cbc"]);
    expect(parsed).toMatch(/prim: INTEGER\s+:0927C0\n/); // 600,000
    expect(iterationsOf(encrypted)).toBe(600_000);
    const octets = (text: string) => [...text.matchAll(/OCTET STRING\s+\[HEX DUMP\]:(\w+)/g)].map((m) => m[1]);
    const again = openssl(["asn1parse"], await encryptPrivateKey(privateKeyPem, PASSPHRASE)).stdout;
    const [salt1, iv1, data1] = octets(parsed);
    const [salt2, iv2, data2] = octets(again);
    expect({ salt: salt1 === salt2, iv: iv1 === iv2, data: data1 === data2, saltBytes: salt1!.length / 2, ivBytes: iv1!.length / 2 }).toEqual({ salt: false, iv: false, data: false, saltBytes: 16, ivBytes: 16 });
  });

  test("reads what openssl writes: AES-128/256-CBC with HMAC-SHA1/SHA-512", async () => {
    const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-384" });
    const plain = privateKey.export({ type: "pkcs8", format: "pem" }) as string;
    for (const [cipher, prf] of [
      ["aes-128-cbc", "hmacWithSHA1"],
      ["aes-256-cbc", "hmacWithSHA512"],
    ]) {
      const made = openssl(["pkcs8", "-topk8", "-v2", cipher!, "-v2prf", prf!, "-iter", "1000", "-passout", `pass:${PASSPHRASE}`], plain);
      expect(made.exitCode).toBe(0);
      expect(await decryptPrivateKey(made.stdout, PASSPHRASE, `${cipher}/${prf}`)).toBe(plain);
    }
  });

  test("a wrong passphrase is one clear error", async () => {
    const encrypted = await encryptPrivateKey((await generateKeyPair("ed25519")).privateKeyPem, PASSPHRASE, 1000);
    for (const wrong of [WRONG, "", "x"]) {
      expect(decryptPrivateKey(encrypted, wrong, "ca.key")).rejects.toThrow("wrong passphrase for ca.key");
    }
  });
});

describe("depot init --encrypt", () => {
  test("writes an encrypted CA key (0400) that openssl opens with the passphrase file, and that matches ca.crt", () => {
    const root = join(tempDir(), "ca");
    const file = passphraseFile();
    succeeded(depot(["init", root, "--encrypt", "--passphrase-file", file]));
    const key = join(root, "private", "ca.key");
    expect(readFileSync(key, "utf8")).toStartWith("-----BEGIN ENCRYPTED PRIVATE KEY-----\n");
    expect(statSync(key).mode & 0o777).toBe(0o400);
    const publicKey = succeeded(openssl(["pkey", "-in", key, "-passin", `file:${file}`, "-pubout"]));
    expect(spkiOf(publicKey)).toBe(spkiOf(readFileSync(join(root, "certificates", "ca.crt"), "utf8")));
  });

  test("on a terminal it asks twice, without echo; different answers make no depot", async () => {
    const root = join(tempDir(), "ca");
    const typed = await onTerminal([DEPOT_BIN, "init", root, "--encrypt"], [["CA key passphrase: ", "tty secret"], ["CA key passphrase again: ", "tty secret"]]);
    expect(typed.output).not.toContain("tty secret");
    expect(typed.exitCode).toBe(0);
    expect(succeeded(openssl(["pkey", "-in", join(root, "private", "ca.key"), "-passin", "pass:tty secret", "-noout"]))).toBe("");

    const other = join(tempDir(), "ca");
    const differ = await onTerminal([DEPOT_BIN, "init", other, "--encrypt"], [["CA key passphrase: ", "one"], ["CA key passphrase again: ", "two"]]);
    expect(differ.output).toContain("depot: the two CA key passphrases differ");
    expect(differ.exitCode).toBe(1);
    expect(existsSync(other)).toBe(false);
  }, 30_000);

  test("without a terminal, and no file or variable, it refuses and makes nothing", () => {
    const root = join(tempDir(), "ca");
    const result = depot(["init", root, "--encrypt"]);
    expect({ exitCode: result.exitCode, stderr: result.stderr }).toEqual({
      exitCode: 1,
      stderr: "depot: no terminal to ask for the CA key passphrase: give it in a file or an environment variable (see --help)\n",
    });
    expect(existsSync(root)).toBe(false);
    expect(depot(["init", root, "--passphrase-file", passphraseFile()]).stderr).toBe("depot: --passphrase-file and --passphrase-env go with --encrypt\n");
  });
});

describe("commands on an encrypted depot", () => {
  const root = join(tempDir(), "ca");
  const file = passphraseFile();
  succeeded(depot(["init", root, "--encrypt", "--passphrase-file", file, "--key-type", "ec-p256"]));
  const caCrt = join(root, "certificates", "ca.crt");
  const env = { DEPOT_TEST_PASSPHRASE: PASSPHRASE };

  test("generate, sign, revoke and crl sign with the passphrase from --passphrase-file or --passphrase-env", () => {
    const dir = tempDir();
    succeeded(depot(["generate", root, "--type", "server", "--cn", "www.example.test", "--out", join(dir, "www.pem"), "--passphrase-file", file]));
    expect(succeeded(openssl(["verify", "-CAfile", caCrt, join(dir, "www.pem")]))).toBe(`${join(dir, "www.pem")}: OK\n`);

    succeeded(openssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=bob", "-keyout", join(dir, "bob.key"), "-out", join(dir, "bob.csr")]));
    const signed = depot(["sign", root, "--type", "client", "--csr", join(dir, "bob.csr"), "--passphrase-env", "DEPOT_TEST_PASSPHRASE"], { env });
    writeFileSync(join(dir, "bob.crt"), succeeded(signed));
    expect(succeeded(openssl(["verify", "-CAfile", caCrt, join(dir, "bob.crt")]))).toBe(`${join(dir, "bob.crt")}: OK\n`);

    const serial = succeeded(openssl(["x509", "-in", join(dir, "bob.crt"), "-noout", "-serial"])).trim().replace("serial=", "");
    succeeded(depot(["revoke", root, serial, "--passphrase-env", "DEPOT_TEST_PASSPHRASE"], { env }));
    writeFileSync(join(dir, "crl.pem"), succeeded(depot(["crl", root, "--passphrase-file", file])));
    const checked = openssl(["verify", "-crl_check", "-CAfile", caCrt, "-CRLfile", join(dir, "crl.pem"), join(dir, "bob.crt")]);
    expect(checked.stdout + checked.stderr).toContain("certificate revoked");
  }, 60_000);

  test("without the passphrase (no terminal), or with a wrong one, a command that signs refuses in one line", () => {
    const plain = depot(["generate", root, "--type", "client", "--cn", "x"]);
    expect({ exitCode: plain.exitCode, stdout: plain.stdout, stderr: plain.stderr }).toEqual({
      exitCode: 1,
      stdout: "",
      stderr: "depot: no terminal to ask for the CA key passphrase: give it in a file or an environment variable (see --help)\n",
    });
    const wrong = depot(["crl", root, "--passphrase-file", passphraseFile(WRONG)]);
    expect({ exitCode: wrong.exitCode, stderr: wrong.stderr }).toEqual({ exitCode: 1, stderr: `depot: wrong passphrase for ${join(root, "private", "ca.key")}\n` });
    expect(depot(["crl", root, "--passphrase-env", "DEPOT_NO_SUCH_VARIABLE"]).stderr).toBe("depot: environment variable DEPOT_NO_SUCH_VARIABLE (the CA key passphrase) is not set\n");
  });

  test("list, show, config, token and audit, which never sign, need no passphrase", () => {
    const listed = succeeded(depot(["list", root, "--all"]));
    expect(listed).toContain(" ca ");
    const serial = listed.split(/\s+/)[0]!;
    expect(succeeded(depot(["show", root, serial]))).toContain("-----BEGIN CERTIFICATE-----");
    expect(succeeded(depot(["config", root]))).toContain(caCrt);
    succeeded(depot(["token", "list", root]));
    succeeded(depot(["audit", "verify", root]));
  }, 60_000);
});

describe("depot key encrypt / decrypt", () => {
  test("round trip: encrypt a plain depot, sign with the passphrase, decrypt it back; the key is the same throughout", () => {
    const root = join(tempDir(), "ca");
    succeeded(depot(["init", root]));
    const key = join(root, "private", "ca.key");
    const original = spkiOf(readFileSync(key, "utf8"));
    const file = passphraseFile();

    expect(succeeded(depot(["key", "encrypt", root, "--passphrase-file", file]))).toContain(`Encrypted ${key}`);
    expect(readFileSync(key, "utf8")).toStartWith("-----BEGIN ENCRYPTED PRIVATE KEY-----\n");
    expect(statSync(key).mode & 0o777).toBe(0o400);
    expect(readdirSync(join(root, "private"))).toEqual(["ca.key"]);
    expect(spkiOf(succeeded(openssl(["pkey", "-in", key, "-passin", `file:${file}`, "-pubout"])))).toBe(original);
    expect(depot(["key", "encrypt", root, "--passphrase-file", file]).stderr).toBe(`depot: ${key} is already encrypted\n`);
    expect(depot(["crl", root]).exitCode).toBe(1);
    succeeded(depot(["crl", root, "--passphrase-file", file]));

    expect(depot(["key", "decrypt", root, "--passphrase-file", passphraseFile(WRONG)]).stderr).toBe(`depot: wrong passphrase for ${key}\n`);
    expect(succeeded(depot(["key", "decrypt", root, "--passphrase-file", file]))).toContain(`Decrypted ${key}`);
    expect(readFileSync(key, "utf8")).toStartWith("-----BEGIN PRIVATE KEY-----\n");
    expect(statSync(key).mode & 0o777).toBe(0o400);
    expect(spkiOf(readFileSync(key, "utf8"))).toBe(original);
    expect(depot(["key", "decrypt", root, "--passphrase-file", file]).stderr).toBe(`depot: ${key} is not encrypted\n`);
    succeeded(depot(["crl", root]));
  }, 30_000);

  test("a crash just before the rename leaves the old key, and the depot works with it", () => {
    const root = join(tempDir(), "ca");
    succeeded(depot(["init", root]));
    const key = join(root, "private", "ca.key");
    const before = readFileSync(key, "utf8");
    // A process that writes the new key and is SIGKILLed at the worst moment.
    const crash = run([BUN, join(ROOT, "test", "fixtures", "key-replace-crash.ts"), key, PASSPHRASE]);
    expect(crash.exitCode).not.toBe(0);
    expect(readFileSync(key, "utf8")).toBe(before);
    succeeded(depot(["generate", root, "--type", "client", "--cn", "after crash"]));
    // Only the stray temporary file is left beside it; the next conversion works.
    expect(readdirSync(join(root, "private")).filter((name) => name !== "ca.key")).toHaveLength(1);
    succeeded(depot(["key", "encrypt", root, "--passphrase-file", passphraseFile()]));
  }, 30_000);
});

/**
 * Runs a command on a pseudo-terminal (util-linux `script`) and answers its
 * prompts as a person would: each answer is typed once its prompt shows.
 */
async function onTerminal(cmd: string[], answers: [prompt: string, answer: string][]): Promise<{ exitCode: number; output: string }> {
  const child = Bun.spawn(["script", "-qec", cmd.map((arg) => `'${arg}'`).join(" "), "/dev/null"], { stdin: "pipe", stdout: "pipe", stderr: "pipe" });
  let output = "";
  const reading = (async () => {
    for await (const chunk of child.stdout) output += new TextDecoder().decode(chunk);
  })();
  let seen = 0;
  for (const [prompt, answer] of answers) {
    const deadline = Date.now() + 10_000;
    while (output.indexOf(prompt, seen) < 0) {
      if (Date.now() > deadline) throw new Error(`no prompt '${prompt}' in: ${output}`);
      await Bun.sleep(20);
    }
    seen = output.indexOf(prompt, seen) + prompt.length;
    child.stdin.write(`${answer}\r`);
    child.stdin.flush();
  }
  const exitCode = await child.exited;
  await reading;
  return { exitCode, output };
}
