/**
 * The compiled `dist/depot`, run as a user would: what it prints, what it
 * writes, and the one-line errors it gives (never a stack trace).
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { accessSync, chmodSync, constants, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { DEPOT_BIN, depot, tempDir, openssl, pemBlocks, ROOT, run, type RunResult } from "./helpers.ts";


const VERSION = (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { version: string }).version;
const DAY_MS = 86_400_000;
const KEY_TYPES = "rsa-2048, rsa-3072, rsa-4096, ec-p256, ec-p384, ed25519";
const NOT_A_DEPOT = "is not a depot (it needs depot.cnf, private/ca.key and certificates/ca.crt)";

const modeOf = (path: string) => statSync(path).mode & 0o777;

/** A failure as the CLI must report it: exit 1, nothing on stdout, one `depot: ...` line on stderr. */
function expectFailure(result: RunResult, message: string): void {
  expect(result.stderr).not.toContain("    at ");
  expect({ exitCode: result.exitCode, stdout: result.stdout, stderr: result.stderr }).toEqual({
    exitCode: 1,
    stdout: "",
    stderr: `depot: ${message}\n`,
  });
}

/** Runs depot and insists it succeeds. */
function ok(args: string[], options: Parameters<typeof depot>[1] = {}): RunResult {
  const result = depot(args, options);
  if (result.exitCode !== 0 || result.stderr !== "") {
    throw new Error(`depot ${args.join(" ")} exited ${result.exitCode}: ${result.stderr}`);
  }
  return result;
}

/** `depot generate` output split into its key and certificate, which must be all it printed. */
function keyAndCert(stdout: string): { key: string; cert: string } {
  const blocks = pemBlocks(stdout);
  expect(blocks).toHaveLength(2);
  expect(blocks.join("")).toBe(stdout);
  return { key: blocks[0]!, cert: blocks[1]! };
}

function x509Field(cert: string, option: string): string {
  const result = openssl(["x509", "-noout", option], cert);
  expect(result.exitCode).toBe(0);
  return result.stdout.trim();
}

/** Files in a depot's certificates/ folder other than ca.crt. */
const leafFiles = (root: string) => readdirSync(join(root, "certificates")).filter((name) => name !== "ca.crt");

/** A depot's top-level entries, ignoring SQLite's -wal/-shm companions. */
const depotEntries = (root: string) => readdirSync(root).filter((name) => !/^ledger\.sqlite3-(wal|shm)$/.test(name)).sort();

let shared: string; // an RSA depot (the default key type), made once
let quick: string; // an EC depot for the error cases

beforeAll(() => {
  if (!existsSync(DEPOT_BIN)) throw new Error(`${DEPOT_BIN} is missing: run \`bun build.ts\` first`);
  const dir = tempDir("depot-cli-");
  shared = join(dir, "shared");
  quick = join(dir, "quick");
  ok(["init", shared, "Shared Test CA"]);
  ok(["init", quick, "Quick CA", "--key-type", "ec-p256"]);
});

describe("--version and --help", () => {
  test("--version prints package.json's version", () => {
    // And the commit it was built from (test/release.test.ts checks which).
    expect(depot(["--version"])).toEqual({ exitCode: 0, stdout: expect.stringMatching(new RegExp(`^depot ${VERSION.replaceAll(".", "\\.")} \\(commit ([0-9a-f]{12}(-dirty)?|unknown)\\)\n$`)), stderr: "" });
    expect(depot(["-v"])).toEqual(depot(["--version"]));
  });

  test("--help names the commands, exits 0, without colour codes when not on a terminal", () => {
    const result = depot(["--help"]);
    expect(result.exitCode).toBe(0);
    expect(result.stderr).toBe("");
    expect(result.stdout).not.toContain("\u001b[");
    expect(result.stdout).toStartWith("depot: A mini certificate authority");
    for (const command of ["start", "stop", "status", "init", "generate", "sign", "p12", "revoke", "crl", "list", "show", "config", "install-ca", "ledger", "token", "template", "scep", "audit", "acme"]) {
      expect(result.stdout).toMatch(new RegExp(`^  ${command} +\\S`, "m"));
    }
    // Bare `depot` runs the server, so its options are named here (the README uses `depot --process-count 4`).
    expect(result.stdout).toContain("depot [server options]");
    for (const option of ["-H, --host", "-P, --port", "-n, --process-count", "-d, --daemon", "--allow-revoke"]) expect(result.stdout).toContain(option);
    expect(result.stdout).toContain("Examples:\n  depot init ~/ca Example CA\n");
  });

  test("generate --help exits 0 and names every option", () => {
    const result = depot(["generate", "--help"]);
    expect(result.exitCode).toBe(0);
    expect(result.stderr).toBe("");
    expect(result.stdout).not.toContain("\u001b[");
    // --type is needed unless a --template gives it: an option, not in the usage line.
    expect(result.stdout).toContain("Usage: depot generate PATH [options]");
    for (const option of ["--type <client|server>", "--template <name>", "--cn <name>", "--email <address>", "--uid <id>", "--subject <dn>", "--san <name>", "--key-type <type>", "--days <days>", "--out <file>", "--p12 <file>", "--password-file <file>", "--password-env <name>", "--legacy"]) {
      expect(result.stdout).toContain(option);
    }
    expect(result.stdout).toMatch(/browsers do not\s+accept ed25519 client certificates\. One of:\s+rsa-2048,\s+rsa-3072,\s+rsa-4096,\s+ec-p256,\s+ec-p384,\s+ed25519\./);
    expect(result.stdout).toContain("Examples:\n  depot generate ~/ca --type client");
  });

  test("init --help and config --help exit 0 and name their options", () => {
    const init = depot(["init", "--help"]);
    expect(init.exitCode).toBe(0);
    // The CA-name words are in the usage line.
    expect(init.stdout).toContain("Usage: depot init PATH [CA NAME...] [options]");
    for (const option of ["--key-type <type>", "--days <value>", "--ca-days <value>"]) expect(init.stdout).toContain(option);
    const config = depot(["config", "-h"]);
    expect(config.exitCode).toBe(0);
    expect(config.stdout).toContain("Usage: depot config PATH [options]");
  });

  test("every command's help has an example, and no line is wider than 80 columns when not on a terminal", () => {
    for (const command of ["start", "stop", "status", "init", "generate", "sign", "p12", "revoke", "crl", "list", "show", "config", "install-ca", "ledger", "token", "template", "scep", "audit", "acme"]) {
      const help = depot([command, "--help"]);
      expect(help.exitCode).toBe(0);
      expect(help.stdout).toMatch(/\nExamples?:\n  \S/);
      // Examples are commands to copy whole; everything else wraps.
      const [text = ""] = help.stdout.split(/\nExamples?:\n/);
      for (const line of text.split("\n")) expect(`${command}: ${line}`).toHaveLength(command.length + 2 + Math.min(line.length, 80));
    }
  }, 60_000);

  test("help wraps at the terminal's width when it is one", () => {
    const help = spawnSync("script", ["-qc", `stty cols 60; ${DEPOT_BIN} generate --help`, "/dev/null"], { encoding: "utf8" });
    const lines = help.stdout.replace(/\r/g, "").split(/\nExamples?:\n/)[0]!.split("\n");
    expect(lines.some((line) => line.length > 50)).toBe(true);
    for (const line of lines) expect(line.length).toBeLessThanOrEqual(60);
  });
});

describe("init", () => {
  test("init --api-url keeps the HTTPS base URL in depot.cnf (no trailing slash); anything but https:// is refused", () => {
    const root = join(tempDir(), "api");
    expect(depot(["init", root, "--api-url", "https://ca.example.com:8443/"]).exitCode).toBe(0);
    expect(readFileSync(join(root, "depot.cnf"), "utf8")).toMatch(/^api_url += https:\/\/ca\.example\.com:8443$/m);
    const refused = depot(["init", join(tempDir(), "api2"), "--api-url", "http://ca.example.com"]);
    expect({ exitCode: refused.exitCode, stderr: refused.stderr }).toEqual({
      exitCode: 1,
      stderr: "depot: --api-url must be an https:// URL without query, fragment or credentials, not 'http://ca.example.com'\n",
    });
  });

  test("init PATH My Example CA makes the depot: output, depot.cnf, modes, CA certificate", () => {
    const parent = tempDir();
    const root = join(parent, "example");
    const result = depot(["init", root, "My", "Example", "CA"]);
    expect(result).toEqual({
      exitCode: 0,
      stdout: `Created a depot in ${root}\nCA certificate: ${root}/certificates/ca.crt\n`,
      stderr: "",
    });
    expect(readFileSync(join(root, "depot.cnf"), "utf8")).toBe(
      [
        "[ ca ]",
        "label           = My Example CA",
        "",
        "[ My Example CA ]",
        `path            = ${root}`,
        "key_type        = rsa-2048",
        "default_days    = 365",
        "",
      ].join("\n"),
    );
    expect(depotEntries(root)).toEqual(["certificates", "crl.pem", "depot-ledger", "depot.cnf", "ledger.sqlite3", "private"]);
    expect(readdirSync(join(root, "private"))).toEqual(["ca.key"]);
    expect(readdirSync(join(root, "certificates"))).toEqual(["ca.crt"]);
    expect(modeOf(root)).toBe(0o755);
    expect(modeOf(join(root, "private"))).toBe(0o700);
    expect(modeOf(join(root, "private", "ca.key"))).toBe(0o400);
    expect(modeOf(join(root, "certificates"))).toBe(0o755);
    expect(modeOf(join(root, "certificates", "ca.crt"))).toBe(0o644);
    // Nothing else beside it: no staging folder left over.
    expect(readdirSync(parent)).toEqual(["example"]);

    const caPem = readFileSync(join(root, "certificates", "ca.crt"), "utf8");
    expect(x509Field(caPem, "-subject")).toBe("subject=O = My Example CA, CN = My Example CA");
    expect(x509Field(caPem, "-issuer")).toBe("issuer=O = My Example CA, CN = My Example CA");
    expect(x509Field(caPem, "-ext=basicConstraints")).toBe("X509v3 Basic Constraints: critical\n    CA:TRUE");
    expect(openssl(["verify", "-CAfile", join(root, "certificates", "ca.crt"), join(root, "certificates", "ca.crt")]).stdout).toBe(
      `${join(root, "certificates", "ca.crt")}: OK\n`,
    );
    const ca = new X509Certificate(caPem);
    expect(Date.parse(ca.validTo) - Date.parse(ca.validFrom)).toBe(3650 * DAY_MS);
    // The key in private/ is the certificate's key, RSA 2048 by default, PKCS#8.
    const keyPem = readFileSync(join(root, "private", "ca.key"), "utf8");
    expect(keyPem.startsWith("-----BEGIN PRIVATE KEY-----\n")).toBe(true);
    const key = createPrivateKey(keyPem);
    expect(key.asymmetricKeyDetails?.modulusLength).toBe(2048);
    expect(ca.checkPrivateKey(key)).toBe(true);
  });

  test("the label defaults to the folder's name", () => {
    const root = join(tempDir(), "acme-widgets");
    ok(["init", root]);
    const cnf = readFileSync(join(root, "depot.cnf"), "utf8");
    expect(cnf.startsWith("[ ca ]\nlabel           = acme-widgets\n\n[ acme-widgets ]\n")).toBe(true);
    expect(x509Field(readFileSync(join(root, "certificates", "ca.crt"), "utf8"), "-subject")).toBe("subject=O = acme-widgets, CN = acme-widgets");
    expect(depot(["config", root]).stdout.split("\n")[0]).toBe("# Apache (mod_ssl): accept only clients holding an unrevoked certificate from acme-widgets");
  });

  test("a relative PATH is reported as an absolute path, and an existing empty folder is fine", () => {
    const cwd = tempDir();
    mkdirSync(join(cwd, "empty"));
    expect(ok(["init", "empty", "--key-type", "ec-p256"], { cwd }).stdout).toBe(
      `Created a depot in ${cwd}/empty\nCA certificate: ${cwd}/empty/certificates/ca.crt\n`,
    );
    expect(readFileSync(join(cwd, "empty", "depot.cnf"), "utf8")).toContain(`path            = ${cwd}/empty\n`);
  });

  test("--key-type and --days become the depot's defaults for issued certificates", () => {
    const root = join(tempDir(), "ec-depot");
    ok(["init", root, "--key-type", "ec-p256", "--days", "30", "--ca-days", "100"]);
    const cnf = readFileSync(join(root, "depot.cnf"), "utf8");
    expect(cnf).toContain("key_type        = ec-p256\ndefault_days    = 30\n");
    const ca = new X509Certificate(readFileSync(join(root, "certificates", "ca.crt")));
    expect(Date.parse(ca.validTo) - Date.parse(ca.validFrom)).toBe(100 * DAY_MS);
    const { cert } = keyAndCert(ok(["generate", root, "--type", "client", "--cn", "Default Days"]).stdout);
    const leaf = new X509Certificate(cert);
    expect(leaf.publicKey.asymmetricKeyDetails?.namedCurve).toBe("prime256v1");
    expect(Date.parse(leaf.validTo) - Date.parse(leaf.validFrom)).toBe(30 * DAY_MS);
  });

  // A folder named "ca" is the obvious name for a CA; its label is then "ca",
  // the same as depot.cnf's own [ ca ] section.
  test("a depot in a folder named 'ca' (label 'ca') is usable", () => {
    const root = join(tempDir(), "ca");
    ok(["init", root, "--key-type", "ec-p256"]);
    const result = depot(["generate", root, "--type", "client", "--cn", "Bob Owner"]);
    expect(result.stderr).toBe("");
    expect(result.exitCode).toBe(0);
    expect(pemBlocks(result.stdout)).toHaveLength(2);
    expect(depot(["config", root]).stdout.split("\n")[0]).toBe("# Apache (mod_ssl): accept only clients holding an unrevoked certificate from ca");
    const cnf = readFileSync(join(root, "depot.cnf"), "utf8");
    expect(cnf).toContain("label           = ca\n");
    expect(cnf).toContain(`path            = ${root}\n`);
    expect(cnf).toContain("key_type        = ec-p256\n");
  });

  // depot.cnf is read as OpenSSL config, where ' #' starts a comment.
  test("a label holding ' #' keeps the depot's settings (key type, default days, label)", () => {
    const root = join(tempDir(), "team");
    ok(["init", root, "Team", "#1", "CA", "--key-type", "ec-p256", "--days", "30"]);
    expect(depot(["config", root]).stdout.split("\n")[0]).toBe("# Apache (mod_ssl): accept only clients holding an unrevoked certificate from Team #1 CA");
    const { cert } = keyAndCert(ok(["generate", root, "--type", "client", "--cn", "Bob Owner"]).stdout);
    const leaf = new X509Certificate(cert);
    expect(leaf.publicKey.asymmetricKeyType).toBe("ec");
    expect(Date.parse(leaf.validTo) - Date.parse(leaf.validFrom)).toBe(30 * DAY_MS);
  });
});

describe("generate", () => {
  test("a client certificate: PKCS#8 key then certificate, verified by openssl, with the subject in order", () => {
    const result = ok(["generate", shared, "--type", "client", "--cn", "Bob Owner", "--email", "bob@example.com", "--uid", "12"]);
    const { key, cert } = keyAndCert(result.stdout);
    expect(key.startsWith("-----BEGIN PRIVATE KEY-----\n")).toBe(true);
    expect(key.endsWith("-----END PRIVATE KEY-----\n")).toBe(true);
    expect(cert.startsWith("-----BEGIN CERTIFICATE-----\n")).toBe(true);
    expect(openssl(["pkey", "-noout"], key).exitCode).toBe(0);

    const caFile = join(shared, "certificates", "ca.crt");
    expect(openssl(["verify", "-CAfile", caFile, "-purpose", "sslclient"], cert)).toEqual({ exitCode: 0, stdout: "stdin: OK\n", stderr: "" });
    expect(x509Field(cert, "-subject")).toBe("subject=UID = 12, CN = Bob Owner, emailAddress = bob@example.com");
    expect(x509Field(cert, "-issuer")).toBe("issuer=O = Shared Test CA, CN = Shared Test CA");
    expect(x509Field(cert, "-ext=extendedKeyUsage")).toBe("X509v3 Extended Key Usage: \n    TLS Web Client Authentication");
    expect(x509Field(cert, "-ext=basicConstraints")).toBe("X509v3 Basic Constraints: critical\n    CA:FALSE");

    // The key is the certificate's key, of the depot's default type; 365 days by default.
    const certificate = new X509Certificate(cert);
    const privateKey = createPrivateKey(key);
    expect(certificate.checkPrivateKey(privateKey)).toBe(true);
    expect(privateKey.asymmetricKeyDetails?.modulusLength).toBe(2048);
    expect(Date.parse(certificate.validTo) - Date.parse(certificate.validFrom)).toBe(365 * DAY_MS);

    // The depot keeps a copy named by the decimal serial.
    const fileName = `${BigInt(`0x${certificate.serialNumber}`).toString(10)}.crt`;
    expect(readFileSync(join(shared, "certificates", fileName), "utf8")).toBe(cert);
  });

  test("--subject in slash form, and in comma form in the order given", () => {
    const slash = keyAndCert(ok(["generate", quick, "--type", "client", "--subject", "/O=Example/CN=Bob Owner"]).stdout);
    expect(x509Field(slash.cert, "-subject")).toBe("subject=O = Example, CN = Bob Owner");
    const comma = keyAndCert(ok(["generate", quick, "--type", "client", "--subject", "CN=Bob Owner,O=Example", "--email", "bob@example.com"]).stdout);
    expect(x509Field(comma.cert, "-subject")).toBe("subject=CN = Bob Owner, O = Example, emailAddress = bob@example.com");
    expect(openssl(["verify", "-CAfile", join(quick, "certificates", "ca.crt")], comma.cert).stdout).toBe("stdin: OK\n");
  });

  test("a server certificate carries its CN and --san as subject alternative names", () => {
    const { cert } = keyAndCert(ok(["generate", shared, "--type", "server", "--cn", "localhost", "--san", "127.0.0.1"]).stdout);
    expect(x509Field(cert, "-subject")).toBe("subject=CN = localhost");
    expect(x509Field(cert, "-ext=subjectAltName")).toBe("X509v3 Subject Alternative Name: \n    DNS:localhost, IP Address:127.0.0.1");
    expect(x509Field(cert, "-ext=extendedKeyUsage")).toBe("X509v3 Extended Key Usage: \n    TLS Web Server Authentication, TLS Web Client Authentication");
    const caFile = join(shared, "certificates", "ca.crt");
    expect(openssl(["verify", "-CAfile", caFile, "-purpose", "sslserver", "-verify_hostname", "localhost"], cert).stdout).toBe("stdin: OK\n");
    expect(openssl(["verify", "-CAfile", caFile, "-purpose", "sslserver", "-verify_ip", "127.0.0.1"], cert).stdout).toBe("stdin: OK\n");
    expect(openssl(["verify", "-CAfile", caFile, "-verify_hostname", "example.com"], cert).exitCode).not.toBe(0);
  });

  test("--san is repeatable (as its help says): every value is kept", () => {
    const { cert } = keyAndCert(ok(["generate", quick, "--type", "server", "--cn", "www.example.com", "--san", "example.com", "--san", "IP:10.0.0.1"]).stdout);
    expect(x509Field(cert, "-ext=subjectAltName")).toBe(
      "X509v3 Subject Alternative Name: \n    DNS:www.example.com, DNS:example.com, IP Address:10.0.0.1",
    );
  });

  test("--key-type ec-p256 and --days 30 are honoured", () => {
    const { key, cert } = keyAndCert(ok(["generate", shared, "--type", "client", "--cn", "Eve", "--key-type", "ec-p256", "--days", "30"]).stdout);
    const certificate = new X509Certificate(cert);
    expect(certificate.publicKey.asymmetricKeyType).toBe("ec");
    expect(certificate.publicKey.asymmetricKeyDetails?.namedCurve).toBe("prime256v1");
    expect(createPrivateKey(key).asymmetricKeyDetails?.namedCurve).toBe("prime256v1");
    expect(certificate.checkPrivateKey(createPrivateKey(key))).toBe(true);
    expect(Date.parse(certificate.validTo) - Date.parse(certificate.validFrom)).toBe(30 * DAY_MS);
    // Backdated by five minutes for peers whose clocks run behind.
    expect(Math.abs(Date.parse(certificate.validFrom) - (Date.now() - 5 * 60_000))).toBeLessThan(60_000);
    // Signed by the RSA CA all the same.
    expect(openssl(["verify", "-CAfile", join(shared, "certificates", "ca.crt")], cert).stdout).toBe("stdin: OK\n");
    // --key-type=VALUE and --days=VALUE spell the same.
    const ed = depot(["generate", quick, "--type=client", "--cn=Eve", "--key-type=ed25519", "--days=2"]);
    // Browsers refuse Ed25519 client certificates: said, not refused.
    expect(ed.stderr).toBe("depot: warning: browsers do not accept Ed25519 client certificates or CAs (Chromium: ERR_SSL_VERSION_OR_CIPHER_MISMATCH; NSS refuses the CA); curl and OpenSSL do\n");
    const inline = keyAndCert(ed.stdout);
    const edCert = new X509Certificate(inline.cert);
    expect(edCert.publicKey.asymmetricKeyType).toBe("ed25519");
    expect(Date.parse(edCert.validTo) - Date.parse(edCert.validFrom)).toBe(2 * DAY_MS);
  });

  test("--out FILE writes key and certificate with mode 0600 and prints nothing", () => {
    const file = join(tempDir(), "bob.pem");
    expect(depot(["generate", quick, "--type", "client", "--cn", "Bob Owner", "--out", file])).toEqual({ exitCode: 0, stdout: "", stderr: "" });
    expect(modeOf(file)).toBe(0o600);
    const { key, cert } = keyAndCert(readFileSync(file, "utf8"));
    expect(new X509Certificate(cert).checkPrivateKey(createPrivateKey(key))).toBe(true);
    expect(x509Field(cert, "-subject")).toBe("subject=CN = Bob Owner");
  });

  test("--out refuses to overwrite an existing file, and leaves it as it was", () => {
    const file = join(tempDir(), "taken.pem");
    writeFileSync(file, "precious\n", { mode: 0o640 });
    expectFailure(
      depot(["generate", quick, "--type", "client", "--cn", "Bob Owner", "--out", file]),
      `${file} already exists; depot does not overwrite a key`,
    );
    expect(readFileSync(file, "utf8")).toBe("precious\n");
    expect(modeOf(file)).toBe(0o640);
  });

  // A refused --out throws the new private key away; the certificate for it
  // should not have been issued (recorded and filed) either.
  test("a refused --out issues no certificate whose key is lost", () => {
    const root = join(tempDir(), "out-depot");
    ok(["init", root, "--key-type", "ec-p256"]);
    const file = join(tempDir(), "taken.pem");
    writeFileSync(file, "precious\n");
    expect(depot(["generate", root, "--type", "client", "--cn", "Bob Owner", "--out", file]).exitCode).toBe(1);
    expect(leafFiles(root)).toEqual([]);
  });
});

describe("config", () => {
  test("config PATH prints the Apache and nginx settings pointing at the depot's CA certificate", () => {
    const result = depot(["config", shared]);
    expect(result.exitCode).toBe(0);
    expect(result.stderr).toBe("");
    const lines = result.stdout.split("\n");
    const caFile = `${shared}/certificates/ca.crt`;
    expect(lines[0]).toBe("# Apache (mod_ssl): accept only clients holding an unrevoked certificate from Shared Test CA");
    const crlFile = `${shared}/crl.pem`;
    for (const line of [
      "SSLVerifyClient require",
      `SSLCACertificateFile ${caFile}`,
      `SSLCARevocationFile ${crlFile}`,
      "SSLCARevocationCheck chain",
      `ssl_client_certificate ${caFile};`,
      "ssl_verify_client on;",
      `ssl_crl ${crlFile};`,
    ]) {
      expect(lines).toContain(line);
    }
    expect(existsSync(caFile)).toBe(true);
  });
});

describe("errors: one line on stderr, exit 1, no stack trace", () => {
  test("unknown command", () => {
    const all = "start, stop, status, init, generate, sign, p12, revoke, crl, list, show, config, install-ca, ledger, token, template, ssh, scep, audit, acme, key, root, intermediate, renew";
    expectFailure(depot(["frobnicate"]), `unknown command 'frobnicate' (commands: ${all})`);
    expectFailure(depot(["genrate", quick]), `unknown command 'genrate'; did you mean 'generate'? (commands: ${all})`);
    expectFailure(depot(["lsit", quick]), `unknown command 'lsit'; did you mean 'list'? (commands: ${all})`);
  });

  test("unknown flag", () => {
    expectFailure(depot(["generate", quick, "--type", "client", "--cn", "x", "--bogus"]), "unknown option --bogus");
    expectFailure(depot(["generate", quick, "--type", "client", "--cn", "x", "--colour=red"]), "unknown option --colour");
    expectFailure(depot(["init", join(tempDir(), "new"), "--key-typo", "ec-p256"]), "unknown option --key-typo; did you mean --key-type?");
    expectFailure(depot(["config", quick, "-q"]), "unknown option -q");
  });

  test("an option without its value, and an extra argument", () => {
    expectFailure(depot(["generate", quick, "--type", "client", "--cn", "x", "--days"]), "option --days needs a value");
    expectFailure(depot(["generate", quick, "--type", "client", "--cn", "x", "extra"]), "unexpected argument 'extra'");
    expectFailure(depot(["config", quick, "extra"]), "unexpected argument 'extra'");
  });

  test("missing PATH", () => {
    expectFailure(depot(["generate", "--type", "client", "--cn", "x"]), "missing PATH");
    expectFailure(depot(["init"]), "missing PATH");
    expectFailure(depot(["config"]), "missing PATH");
  });

  test("missing --type, unknown --type", () => {
    expectFailure(depot(["generate", quick, "--cn", "x"]), "missing --type (client or server)");
    expectFailure(depot(["generate", quick, "--type", "admin", "--cn", "x"]), "unknown --type 'admin' (client or server)");
  });

  test("unknown --key-type", () => {
    expectFailure(depot(["generate", quick, "--type", "client", "--cn", "x", "--key-type", "dsa"]), `unknown --key-type 'dsa' (${KEY_TYPES.replaceAll(", ", " or ")})`);
    const root = join(tempDir(), "never");
    expectFailure(depot(["init", root, "--key-type", "rsa-1024"]), `unknown --key-type 'rsa-1024' (${KEY_TYPES.replaceAll(", ", " or ")})`);
    expect(existsSync(root)).toBe(false);
  });

  test("bad --days", () => {
    for (const days of ["0", "abc", "1.5", "36501", "-5"]) {
      expectFailure(depot(["generate", quick, "--type", "client", "--cn", "x", `--days=${days}`]), `--days must be a whole number of days from 1 to 36500, not '${days}'`);
    }
    // A negative number is a value, refused for what it is (not "needs a value").
    expectFailure(depot(["generate", quick, "--type", "client", "--cn", "x", "--days", "-5"]), "--days must be a whole number of days from 1 to 36500, not '-5'");
    const root = join(tempDir(), "never");
    expectFailure(depot(["init", root, "--ca-days", "0"]), "--ca-days must be a whole number of days from 1 to 36500, not '0'");
    expect(existsSync(root)).toBe(false);
  });

  const badNames: [string, string[], string][] = [
    ["an attribute without '='", ["--subject", "CN"], "'CN' has no '=' (expected NAME=value)"],
    ["two separators in a row", ["--subject", "/CN=a//O=b"], "distinguished name has an empty attribute (two separators in a row, or one at an end)"],
    ["a trailing separator", ["--subject", "CN=a,"], "distinguished name has an empty attribute (two separators in a row, or one at an end)"],
    ["an unknown attribute", ["--subject", "FOO=bar"], "unknown attribute 'FOO' (known: CN, L, ST, O, OU, C, STREET, DC, UID, emailAddress)"],
    ["an empty value", ["--subject", "/O=Example/CN="], "empty value for CN"],
    ["a bad country code", ["--subject", "C=USA,CN=x"], "country code 'USA' is not two letters"],
    ["an unescaped '=' in a value", ["--subject", "CN=a=b"], "value of CN holds '=': escape it as '\\='"],
    ["a lone trailing backslash", ["--subject", "CN=a\\"], "distinguished name ends with a lone '\\'"],
    ["a blank subject", ["--subject", "   "], "distinguished name is empty"],
    ["a control character", ["--subject", "CN=a\tb"], "distinguished name holds a control character (0x09)"],
    ["a subject over 4096 bytes", ["--subject", `CN=${"a".repeat(4100)}`], "distinguished name is longer than 4096 bytes"],
    ["a CN over 64 characters", ["--cn", "a".repeat(65)], "CN is longer than 64 characters"],
    ["a non-ASCII e-mail address", ["--email", "bób@example.com"], "emailAddress must be plain ASCII"],
    ["no subject at all", [], "give a subject: --cn, --email, --uid or --subject"],
    ["--cn twice", ["--cn", "Bob", "--cn", "Alice"], "--cn is given 2 times ('Bob', 'Alice'): give it once"],
    ["--cn and a CN in --subject", ["--cn", "Bob", "--subject", "/CN=Alice"], "--cn and --subject both give CN: give it once"],
    ["an --email that is not an address", ["--email", "not-an-email"], "'not-an-email' is not an e-mail address (name@example.com)"],
    ["a right-to-left override", ["--cn", "Bob\u202Etxt.exe"], "distinguished name holds a bidirectional control character (U+202E)"],
    ["a C1 control in --cn", ["--cn", "a\u0085b"], "distinguished name holds a control character (0x85)"],
  ];
  for (const [what, args, message] of badNames) {
    test(`bad name: ${what}`, () => {
      const before = leafFiles(quick).length;
      expectFailure(depot(["generate", quick, "--type", "client", ...args]), message);
      expect(leafFiles(quick).length).toBe(before);
    });
  }

  test("a server certificate without a host name, and a bad --san", () => {
    expectFailure(
      depot(["generate", quick, "--type", "server", "--cn", "Bob's server"]),
      "a server certificate needs a DNS name or IP address: give it as --cn or --san",
    );
    expectFailure(depot(["generate", quick, "--type", "server", "--cn", "localhost", "--san", "bad name!"]), "'bad name!' is not a DNS name or an IP address");
  });

  test("a path that does not exist", () => {
    const missing = join(tempDir(), "missing");
    expectFailure(depot(["generate", missing, "--type", "client", "--cn", "x"]), `${missing} does not exist; create a depot with: depot init ${missing}`);
    expectFailure(depot(["config", missing]), `${missing} does not exist; create a depot with: depot init ${missing}`);
    expect(existsSync(missing)).toBe(false);
  });

  test("a path that is not a depot: an empty folder, a folder of unrelated files", () => {
    const empty = tempDir();
    expectFailure(depot(["generate", empty, "--type", "client", "--cn", "x"]), `${empty} ${NOT_A_DEPOT}`);
    expectFailure(depot(["config", empty]), `${empty} ${NOT_A_DEPOT}`);
    expect(readdirSync(empty)).toEqual([]);

    const junk = tempDir();
    writeFileSync(join(junk, "readme.txt"), "hello\n");
    mkdirSync(join(junk, "certificates"));
    expectFailure(depot(["generate", junk, "--type", "client", "--cn", "x"]), `${junk} ${NOT_A_DEPOT}`);
    expectFailure(depot(["config", junk]), `${junk} ${NOT_A_DEPOT}`);
    expect(readdirSync(junk).sort()).toEqual(["certificates", "readme.txt"]);
    expect(readdirSync(join(junk, "certificates"))).toEqual([]);
  });

  test("init over an existing depot leaves it untouched", () => {
    const files = ["private/ca.key", "certificates/ca.crt", "depot.cnf"].map((name) => join(shared, name));
    const before = files.map((file) => readFileSync(file));
    const parentBefore = readdirSync(dirname(shared)).sort();
    expectFailure(depot(["init", shared]), `${shared} already holds a depot; its CA key is never overwritten`);
    expectFailure(depot(["init", shared, "Another", "Label", "--key-type", "ec-p256"]), `${shared} already holds a depot; its CA key is never overwritten`);
    files.forEach((file, i) => expect(readFileSync(file).equals(before[i]!)).toBe(true));
    expect(modeOf(join(shared, "private", "ca.key"))).toBe(0o400);
    expect(readdirSync(dirname(shared)).sort()).toEqual(parentBefore);
  });

  test("init into a non-empty folder", () => {
    const parent = tempDir();
    const folder = join(parent, "busy");
    mkdirSync(folder);
    writeFileSync(join(folder, "notes.txt"), "mine\n");
    expectFailure(depot(["init", folder]), `${folder} is not empty; give an empty or new folder`);
    expect(readdirSync(folder)).toEqual(["notes.txt"]);
    expect(readdirSync(parent)).toEqual(["busy"]);
  });

  test("init where the path, or a part of it, is a regular file", () => {
    const parent = tempDir();
    const file = join(parent, "file");
    writeFileSync(file, "not a folder\n");
    expectFailure(depot(["init", file]), `${file} exists and is not a folder`);
    expectFailure(depot(["init", join(file, "ca")]), `cannot read ${file}/ca: a part of the path is not a folder`);
    expect(readFileSync(file, "utf8")).toBe("not a folder\n");
    expect(readdirSync(parent)).toEqual(["file"]);
  });

  test("init with a label too long for a certificate creates nothing", () => {
    const parent = tempDir();
    expectFailure(depot(["init", join(parent, "a", "ca"), "x".repeat(65)]), "the CA label cannot name a certificate: it is longer than 64 characters");
    expect(readdirSync(parent)).toEqual([]);
  });
});

/*
 * Permission failures. The tests run as root in CI, where permissions do not
 * stop writes, so as root depot runs as nobody (65534) through setpriv.
 */
describe("errors as an unprivileged user", () => {
  const isRoot = process.getuid?.() === 0;
  const setpriv = Bun.which("setpriv");
  let binary = DEPOT_BIN;

  /** True when another user can reach and run `path`. */
  function othersCanRun(path: string): boolean {
    for (let dir = dirname(path); ; dir = dirname(dir)) {
      if ((statSync(dir).mode & 0o001) === 0) return false;
      if (dir === dirname(dir)) break;
    }
    return (statSync(path).mode & 0o005) === 0o005;
  }

  function asNobody(args: string[]): RunResult {
    if (!isRoot) return run([binary, ...args]);
    return run([setpriv!, "--reuid=65534", "--regid=65534", "--clear-groups", binary, ...args]);
  }

  /** A temp folder other users can enter (tempDir makes 0700 ones). */
  function openTempDir(): string {
    const dir = tempDir("depot-cli-perm-");
    chmodSync(dir, 0o755);
    return dir;
  }

  beforeAll(() => {
    if (isRoot && setpriv && !othersCanRun(DEPOT_BIN)) {
      binary = join(openTempDir(), "depot");
      copyFileSync(DEPOT_BIN, binary);
      chmodSync(binary, 0o755);
    }
  });

  test.skipIf(isRoot && !setpriv)("init in a folder the user cannot write to fails and leaves nothing behind", () => {
    const parent = openTempDir();
    const locked = join(parent, "locked");
    mkdirSync(locked);
    // Root-owned 0755 is read-only to nobody; when not root, take our own write bit away.
    chmodSync(locked, isRoot ? 0o755 : 0o555);
    if (!isRoot) expect(() => accessSync(locked, constants.W_OK)).toThrow();
    expectFailure(asNobody(["init", `${locked}/ca`, "--key-type", "ec-p256"]), `cannot create a depot in ${locked}: permission denied`);
    // Only the last folder is made, as mkdir without -p: a missing parent is named.
    expectFailure(asNobody(["init", `${locked}/deeper/ca`, "--key-type", "ec-p256"]), `cannot create ${locked}/deeper/ca: the folder ${locked}/deeper does not exist (create it first)`);
    expect(readdirSync(locked)).toEqual([]);
    expect(readdirSync(parent)).toEqual(["locked"]);
  });

  test.skipIf(!isRoot || !setpriv)("init that fails after building the depot removes its staging folder", () => {
    // A sticky folder (like /tmp) holding an empty folder of root's: nobody may
    // create the staging folder beside it, but may not rename over it.
    const parent = openTempDir();
    const sticky = join(parent, "sticky");
    mkdirSync(sticky);
    chmodSync(sticky, 0o1777);
    const target = join(sticky, "ca2");
    mkdirSync(target);
    chmodSync(target, 0o777);
    expectFailure(asNobody(["init", target, "--key-type", "ec-p256"]), `cannot create a depot at ${target}: permission denied`);
    expect(readdirSync(sticky)).toEqual(["ca2"]);
    expect(readdirSync(target)).toEqual([]);
  });

  // private/ is 0700: to another user the key cannot be read. That is a
  // permission problem, not "not a depot".
  test.skipIf(isRoot && !setpriv)("generate without permission to read the CA key says so", () => {
    const dir = openTempDir();
    const root = join(dir, "root-only");
    ok(["init", root, "--key-type", "ec-p256"]);
    expect(modeOf(join(root, "private"))).toBe(0o700);
    expectFailure(asNobody(["generate", root, "--type", "client", "--cn", "x"]), `cannot read ${root}/private/ca.key: permission denied`);
    expect(leafFiles(root)).toEqual([]);
  });

  test.skipIf(isRoot && !setpriv)("--version works as the unprivileged user (the binary is reachable)", () => {
    expect(asNobody(["--version"])).toEqual({ exitCode: 0, stdout: expect.stringContaining(`depot ${VERSION} (commit `), stderr: "" });
  });
});

describe("where keys and certificates land (issue 10)", () => {
  test("generate > FILE: standard output is made 0600 before the key goes in, and depot says so", () => {
    const file = join(tempDir(), "bob.pem");
    writeFileSync(file, "", { mode: 0o644 });
    chmodSync(file, 0o644);
    const result = run(["sh", "-c", `'${DEPOT_BIN}' generate '${quick}' --type client --cn Bob > '${file}'`]);
    expect(result.exitCode).toBe(0);
    expect(result.stderr).toBe("depot: standard output is a file: made it mode 0600 (owner only), as it holds a private key\n");
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readFileSync(file, "utf8")).toStartWith("-----BEGIN PRIVATE KEY-----\n");
    // Already private: nothing to say. A pipe: nothing to tighten.
    expect(run(["sh", "-c", `'${DEPOT_BIN}' generate '${quick}' --type client --cn Bob >> '${file}'`]).stderr).toBe("");
    expect(run(["sh", "-c", `'${DEPOT_BIN}' generate '${quick}' --type client --cn Bob | cat > /dev/null`]).stderr).toBe("");
  });

  test("sign --out writes the certificate; a failed sign leaves no file behind", () => {
    const work = tempDir();
    const key = join(work, "www.key");
    const csr = join(work, "req.pem");
    expect(openssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-subj", "/CN=www.example.com", "-out", csr]).exitCode).toBe(0);
    const out = join(work, "www.crt");
    expect(depot(["sign", quick, "--csr", csr, "--type", "server", "--out", out])).toEqual({ exitCode: 0, stdout: "", stderr: "" });
    expect(statSync(out).mode & 0o777).toBe(0o644);
    expect(openssl(["verify", "-CAfile", join(quick, "certificates", "ca.crt"), out]).stdout).toBe(`${out}: OK\n`);
    const failed = join(work, "never.crt");
    writeFileSync(join(work, "bad.pem"), "not a request");
    expectFailure(depot(["sign", quick, "--csr", join(work, "bad.pem"), "--out", failed]), "not a PEM certificate request (-----BEGIN CERTIFICATE REQUEST-----)");
    expect(existsSync(failed)).toBe(false);
  });

  test("a client certificate with --email carries it as an rfc822Name in the subjectAltName", () => {
    const { cert } = keyAndCert(ok(["generate", quick, "--type", "client", "--cn", "Bob", "--email", "bob@example.com"]).stdout);
    expect(new X509Certificate(cert).subjectAltName).toBe("email:bob@example.com");
  });
});

describe("init makes only the last folder (issue 10)", () => {
  test("a missing parent is named, as mkdir without -p does, and nothing is created", () => {
    const parent = tempDir();
    expectFailure(depot(["init", join(parent, "missing", "deep", "ca")]), `cannot create ${join(parent, "missing", "deep", "ca")}: the folder ${join(parent, "missing", "deep")} does not exist (create it first)`);
    expect(readdirSync(parent)).toEqual([]);
  });

  test("an Ed25519 CA is made, with a warning that browsers refuse it", () => {
    const result = depot(["init", join(tempDir(), "ed"), "--key-type", "ed25519"]);
    expect(result.exitCode).toBe(0);
    expect(result.stderr).toBe("depot: warning: an Ed25519 CA: browsers do not accept Ed25519 client certificates or CAs (Chromium: ERR_SSL_VERSION_OR_CIPHER_MISMATCH; NSS refuses the CA); curl and OpenSSL do\n");
  });
});
