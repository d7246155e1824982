/**
 * Signing certificate requests made by the real `openssl req`: from the
 * command line (`depot sign PATH --csr FILE`) and over the server protocol
 * (`sign` and the PEM lines), and the server's `crl` and `revoke` commands.
 * Every certificate is checked with openssl.
 */
import { Database } from "bun:sqlite";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { depot, depotOk, openssl, pemBlocks, tempDir } from "./helpers.ts";
import { request, startServer, waitFor, type RunningServer } from "./server-helpers.ts";

const DAY_MS = 86_400_000;
/** Real processes on a busy machine: generous, explicit per test. */
const TEST_TIMEOUT_MS = 45_000;
const MAX_CSR_BYTES = 16 * 1024;

let dir: string;
let depotPath: string;
let caFile: string;

function mustOpenssl(args: string[]): string {
  const result = openssl(args);
  if (result.exitCode !== 0) throw new Error(`openssl ${args.join(" ")} failed: ${result.stderr}`);
  return result.stdout;
}

const KEY_ARGS = {
  "rsa-2048": ["-newkey", "rsa:2048"],
  "rsa-1024": ["-newkey", "rsa:1024"],
  "ec-p256": ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
  ed25519: ["-newkey", "ed25519"],
  ed448: ["-newkey", "ed448"],
  "ec-p521": ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-521"],
  "ec-secp256k1": ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:secp256k1"],
} as const;

/** `openssl req -new` with a fresh key; returns the CSR's file. */
function makeCsr(name: string, key: keyof typeof KEY_ARGS, subject: string, addext: string[] = [], extra: string[] = []): string {
  const csr = join(dir, `${name}.csr`);
  mustOpenssl([
    "req", "-new", ...KEY_ARGS[key], "-nodes", "-keyout", join(dir, `${name}.key`), "-subj", subject,
    ...addext.flatMap((ext) => ["-addext", ext]), ...extra, "-out", csr,
  ]);
  return csr;
}

interface Extension {
  critical: boolean;
  value: string;
}

/** The X509v3 extensions openssl prints for a certificate, by name. */
function extensionsOf(certFile: string): Map<string, Extension> {
  const text = mustOpenssl(["x509", "-in", certFile, "-noout", "-text"]);
  const section = /^ {8}X509v3 extensions:\n((?: {12,}.*\n)+)/m.exec(text)?.[1] ?? "";
  const extensions = new Map<string, Extension>();
  for (const match of section.matchAll(/^ {12}(\S[^:\n]*):( critical)? *\n((?: {16}.*\n)+)/gm)) {
    extensions.set(match[1]!, { critical: match[2] !== undefined, value: match[3]!.trim() });
  }
  return extensions;
}

function caSubjectKeyId(): string {
  return /X509v3 Subject Key Identifier: *\n\s+([0-9A-F:]+)\n/.exec(mustOpenssl(["x509", "-in", caFile, "-noout", "-ext", "subjectKeyIdentifier"]))![1]!;
}

/** The certificate `depot sign` printed, written to a file; checks stdout holds exactly one PEM certificate. */
function signed(stdout: string, name: string): string {
  const blocks = pemBlocks(stdout);
  expect(blocks.length).toBe(1);
  expect(blocks[0]).toBe(stdout);
  expect(stdout.startsWith("-----BEGIN CERTIFICATE-----\n")).toBe(true);
  const file = join(dir, `${name}.crt`);
  writeFileSync(file, stdout);
  return file;
}

function serialOf(certFile: string): string {
  return /^serial=([0-9A-F]+)$/m.exec(mustOpenssl(["x509", "-in", certFile, "-noout", "-serial"]))![1]!;
}

function validityDays(certFile: string): number {
  const text = mustOpenssl(["x509", "-in", certFile, "-noout", "-startdate", "-enddate"]);
  const start = new Date(/notBefore=(.+)/.exec(text)![1]!).getTime();
  const end = new Date(/notAfter=(.+)/.exec(text)![1]!).getTime();
  return (end - start) / DAY_MS;
}

function ledgerRow(path: string, serialHex: string): { type: string; key_type: string; subject: string; status: string } | null {
  const db = new Database(join(path, "ledger.sqlite3"), { readonly: true });
  try {
    return db.query<{ type: string; key_type: string; subject: string; status: string }, [string]>(
      "SELECT type, key_type, subject, status FROM certificates WHERE serial = ?",
    ).get(serialHex.toLowerCase());
  } finally {
    db.close();
  }
}

function ledgerCount(path: string): number {
  const db = new Database(join(path, "ledger.sqlite3"), { readonly: true });
  try {
    return db.query<{ n: number }, []>("SELECT count(*) AS n FROM certificates").get()!.n;
  } finally {
    db.close();
  }
}

/** A valid CSR's DER with one byte of its signature flipped (the last byte of the DER is inside the signature BIT STRING), as PEM again. */
function forge(csrFile: string, name: string): string {
  const der = Buffer.from(Bun.spawnSync(["openssl", "req", "-in", csrFile, "-outform", "DER"]).stdout);
  expect(der.length).toBeGreaterThan(100);
  der[der.length - 1]! ^= 0x01;
  const base64 = der.toString("base64").replace(/.{64}/g, "$&\n").replace(/\n?$/, "\n");
  const file = join(dir, `${name}.csr`);
  writeFileSync(file, `-----BEGIN CERTIFICATE REQUEST-----\n${base64}-----END CERTIFICATE REQUEST-----\n`);
  return file;
}

function refused(args: string[]): { stderr: string; stdout: string; exitCode: number } {
  const { stderr, stdout, exitCode } = depot(args);
  return { stderr, stdout, exitCode };
}

beforeAll(() => {
  dir = tempDir("depot-csr-");
  depotPath = join(dir, "ca");
  depotOk(["init", depotPath, "CSR CA", "--key-type", "ec-p256"]);
  caFile = join(depotPath, "certificates", "ca.crt");
});

describe("depot sign --csr", () => {
  const cases: [keyof typeof KEY_ARGS, string, string, string][] = [
    ["rsa-2048", "/CN=RSA User/O=Example", "subject=CN = RSA User, O = Example", "Digital Signature, Non Repudiation, Key Encipherment"],
    ["ec-p256", "/O=Example/OU=Ops/CN=EC User/emailAddress=ec@example.com", "subject=O = Example, OU = Ops, CN = EC User, emailAddress = ec@example.com", "Digital Signature"],
    ["ed25519", "/UID=42/CN=Ed User", "subject=UID = 42, CN = Ed User", "Digital Signature"],
  ];
  for (const [keyType, subject, printedSubject, keyUsage] of cases) {
    test(`a ${keyType} request: verifies, has the request's key and subject and the client profile`, () => {
      const csr = makeCsr(`client-${keyType}`, keyType, subject);
      const result = depot(["sign", depotPath, "--csr", csr]);
      expect(result.stderr).toBe("");
      expect(result.exitCode).toBe(0);
      const cert = signed(result.stdout, `client-${keyType}`);

      expect(openssl(["verify", "-CAfile", caFile, cert])).toEqual({ exitCode: 0, stdout: `${cert}: OK\n`, stderr: "" });
      expect(openssl(["verify", "-CAfile", caFile, "-purpose", "sslclient", cert]).stdout).toBe(`${cert}: OK\n`);
      // The request's public key, and its subject in its order.
      const certKey = mustOpenssl(["x509", "-in", cert, "-noout", "-pubkey"]);
      expect(certKey).toStartWith("-----BEGIN PUBLIC KEY-----\n");
      expect(certKey).toBe(mustOpenssl(["req", "-in", csr, "-noout", "-pubkey"]));
      expect(mustOpenssl(["x509", "-in", cert, "-noout", "-subject"])).toBe(`${printedSubject}\n`);
      expect(mustOpenssl(["req", "-in", csr, "-noout", "-subject"])).toBe(`${printedSubject}\n`);
      expect(mustOpenssl(["x509", "-in", cert, "-noout", "-issuer"])).toBe("issuer=O = CSR CA, CN = CSR CA\n");

      const ext = extensionsOf(cert);
      // A subject's emailAddress is also an rfc822Name (RFC 5280 4.2.1.6); nothing else from the request.
      const email = /emailAddress=([^/]+)/.exec(subject)?.[1];
      expect([...ext.keys()]).toEqual([
        "X509v3 Basic Constraints", "X509v3 Key Usage", "X509v3 Extended Key Usage",
        ...(email ? ["X509v3 Subject Alternative Name"] : []),
        "X509v3 Subject Key Identifier", "X509v3 Authority Key Identifier",
      ]);
      if (email) expect(ext.get("X509v3 Subject Alternative Name")).toEqual({ critical: false, value: `email:${email}` });
      expect(ext.get("X509v3 Basic Constraints")).toEqual({ critical: true, value: "CA:FALSE" });
      expect(ext.get("X509v3 Key Usage")).toEqual({ critical: true, value: keyUsage });
      expect(ext.get("X509v3 Extended Key Usage")).toEqual({ critical: false, value: "TLS Web Client Authentication" });
      expect(ext.get("X509v3 Authority Key Identifier")?.value).toBe(caSubjectKeyId());
      expect(validityDays(cert)).toBe(365);

      // Recorded in the ledger, and written to certificates/<decimal>.crt.
      const serial = serialOf(cert);
      expect(ledgerRow(depotPath, serial)).toEqual({ type: "client", key_type: keyType, subject: subject.slice(1).replaceAll("/", ","), status: "valid" });
      expect(readFileSync(join(depotPath, "certificates", `${BigInt(`0x${serial}`)}.crt`), "utf8")).toBe(result.stdout);
    }, TEST_TIMEOUT_MS);
  }

  test("--type server takes the request's DNS and IP names; as a client certificate the same request gets none", () => {
    const csr = makeCsr("server", "ec-p256", "/CN=www.example.com", ["subjectAltName=DNS:www.example.com,DNS:api.example.com,IP:10.0.0.5,email:ops@example.com"]);
    const server = signed(depotOk(["sign", depotPath, "--csr", csr, "--type", "server"]), "server");
    const ext = extensionsOf(server);
    expect(ext.get("X509v3 Subject Alternative Name")).toEqual({ critical: false, value: "DNS:www.example.com, DNS:api.example.com, IP Address:10.0.0.5" });
    expect(ext.get("X509v3 Extended Key Usage")).toEqual({ critical: false, value: "TLS Web Server Authentication, TLS Web Client Authentication" });
    expect(ext.get("X509v3 Basic Constraints")).toEqual({ critical: true, value: "CA:FALSE" });
    expect(openssl(["verify", "-CAfile", caFile, "-purpose", "sslserver", "-verify_hostname", "api.example.com", server]).stdout).toBe(`${server}: OK\n`);
    expect(ledgerRow(depotPath, serialOf(server))?.type).toBe("server");

    const client = signed(depotOk(["sign", depotPath, "--csr", csr, "--type", "client"]), "server-as-client");
    expect(extensionsOf(client).has("X509v3 Subject Alternative Name")).toBe(false);
  }, TEST_TIMEOUT_MS);

  test("a request asking for CA:TRUE and keyCertSign gets depot's profile (CA:FALSE), which cannot sign certificates", () => {
    const csr = makeCsr("wants-ca", "ec-p256", "/CN=Sneaky", [
      "basicConstraints=critical,CA:TRUE",
      "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
      "extendedKeyUsage=codeSigning",
    ]);
    // The request does ask for it.
    expect(mustOpenssl(["req", "-in", csr, "-noout", "-text"])).toContain("CA:TRUE");
    const cert = signed(depotOk(["sign", depotPath, "--csr", csr]), "wants-ca");
    const ext = extensionsOf(cert);
    expect(ext.get("X509v3 Basic Constraints")).toEqual({ critical: true, value: "CA:FALSE" });
    expect(ext.get("X509v3 Key Usage")).toEqual({ critical: true, value: "Digital Signature" });
    expect(ext.get("X509v3 Extended Key Usage")).toEqual({ critical: false, value: "TLS Web Client Authentication" });
    // openssl agrees it is no CA.
    expect(mustOpenssl(["x509", "-in", cert, "-noout", "-purpose"])).toContain("SSL client CA : No\n");
  }, TEST_TIMEOUT_MS);

  test("--days 10 is honoured; --csr - reads stdin", () => {
    const csr = makeCsr("ten-days", "ec-p256", "/CN=Ten Days");
    const cert = signed(depotOk(["sign", depotPath, "--csr", csr, "--days", "10"]), "ten-days");
    expect(validityDays(cert)).toBe(10);
    const fromStdin = depot(["sign", depotPath, "--csr", "-"], { stdin: readFileSync(csr, "utf8") });
    expect(fromStdin.stderr).toBe("");
    expect(mustOpenssl(["x509", "-noout", "-subject"].concat(["-in", signed(fromStdin.stdout, "stdin")]))).toBe("subject=CN = Ten Days\n");
  }, TEST_TIMEOUT_MS);

  test("refused with exact messages, and nothing recorded: forged, too large, weak key, not a request, no --csr, empty subject, unknown attributes", () => {
    const valid = makeCsr("valid-rsa", "rsa-2048", "/CN=Forged");
    const forged = forge(valid, "forged");
    // Still a well-formed request that openssl reads, but its signature is wrong.
    const check = openssl(["req", "-in", forged, "-noout", "-verify"]);
    // (openssl 3.0's req -verify reports the failure but exits 0.)
    expect(check.stdout + check.stderr).toContain("Certificate request self-signature verify failure");

    // A real request with many names, over 16 KiB.
    const names = Array.from({ length: 700 }, (_, i) => `DNS:host-${String(i).padStart(4, "0")}.example.com`).join(",");
    const large = makeCsr("large", "ec-p256", "/CN=Large", [`subjectAltName=${names}`]);
    expect(readFileSync(large).length).toBeGreaterThan(MAX_CSR_BYTES);

    const weak = makeCsr("weak", "rsa-1024", "/CN=Weak");
    const empty = makeCsr("empty", "ec-p256", "/");
    expect(mustOpenssl(["req", "-in", empty, "-noout", "-subject"])).toBe("subject=\n");
    const serialNumber = makeCsr("serial-number", "ec-p256", "/CN=Device/serialNumber=1234");
    const title = makeCsr("title", "ec-p256", "/CN=Boss/title=Chief");
    const notCsr = join(dir, "not-a-csr.txt");
    writeFileSync(notCsr, "hello, I am not a certificate request\n");

    const before = ledgerCount(depotPath);
    const known = "(known: CN, L, ST, O, OU, C, STREET, DC, UID, emailAddress)";
    const cases: [string[], string][] = [
      [["sign", depotPath, "--csr", forged], "depot: the certificate request's signature does not verify (forged or damaged)\n"],
      [["sign", depotPath, "--csr", large], "depot: certificate request is larger than 16 KiB\n"],
      [["sign", depotPath, "--csr", weak], "depot: the request's RSA key has 1024 bits; depot signs RSA keys of 2048 bits or more\n"],
      [["sign", depotPath, "--csr", notCsr], "depot: not a PEM certificate request (-----BEGIN CERTIFICATE REQUEST-----)\n"],
      [["sign", depotPath, "--csr", caFile], "depot: not a PEM certificate request (-----BEGIN CERTIFICATE REQUEST-----)\n"],
      [["sign", depotPath], "depot: missing --csr\n"],
      [["sign", depotPath, "--csr", join(dir, "nowhere.csr")], `depot: cannot read ${join(dir, "nowhere.csr")}: no such file or directory\n`],
      [["sign", depotPath, "--csr", empty], "depot: the certificate request has an empty subject\n"],
      [["sign", depotPath, "--csr", serialNumber], `depot: the request's subject is not acceptable: unknown attribute 'serialNumber' ${known}\n`],
      // @peculiar/x509 spells title (2.5.4.12) 'T'.
      [["sign", depotPath, "--csr", title], `depot: the request's subject is not acceptable: unknown attribute 'title' ${known}\n`],
      [["sign", depotPath, "--csr", valid, "--type", "ca"], "depot: unknown --type 'ca' (client or server)\n"],
      [["sign", depotPath, "--csr", valid, "--days", "0"], "depot: --days must be a whole number of days from 1 to 36500, not '0'\n"],
    ];
    for (const [args, message] of cases) {
      expect({ args, ...refused(args) }).toEqual({ args, stderr: message, stdout: "", exitCode: 1 });
    }
    const after = ledgerCount(depotPath);
    expect(after).toBe(before);
    // The valid request it was forged from is fine.
    expect(openssl(["verify", "-CAfile", caFile, signed(depotOk(["sign", depotPath, "--csr", valid]), "valid-rsa")]).exitCode).toBe(0);
  }, TEST_TIMEOUT_MS);

  test("a genuine request whose key depot does not sign is refused for its key, not called forged", () => {
    // Each request is well signed: openssl verifies its self-signature.
    const requests = {
      p521: makeCsr("p521", "ec-p521", "/CN=P521"),
      secp256k1: makeCsr("secp256k1", "ec-secp256k1", "/CN=K1"),
      ed448: makeCsr("ed448", "ed448", "/CN=Ed448"),
    };
    for (const csr of Object.values(requests)) {
      const check = openssl(["req", "-in", csr, "-noout", "-verify"]);
      expect(check.stdout + check.stderr).toContain("Certificate request self-signature verify OK");
    }
    const cases: [string, string][] = [
      [requests.p521, "depot: the request's EC key is on curve secp521r1; depot signs P-256 and P-384 keys\n"],
      // BUG (src/ca/csr.ts, readCertificateRequest): the signature is checked
      // before the key, and a request WebCrypto cannot verify (secp256k1,
      // Ed448) is reported as forged. keyOf's own messages for these keys are
      // never reached (and Bun's createPublicKey cannot read such keys either:
      // the key type has to come from the SPKI's algorithm identifier).
      [requests.secp256k1, "depot: the request's EC key is on curve secp256k1; depot signs P-256 and P-384 keys\n"],
      [requests.ed448, "depot: the request's key type (ed448) is not one depot signs\n"],
    ];
    // All at once, so one failure does not hide the others.
    expect(cases.map(([csr]) => ({ csr, ...refused(["sign", depotPath, "--csr", csr]) }))).toEqual(
      cases.map(([csr, message]) => ({ csr, stderr: message, stdout: "", exitCode: 1 })),
    );
  }, TEST_TIMEOUT_MS);
});

describe("the server protocol: sign, crl, revoke, help", () => {
  let server: RunningServer;
  let revokingServer: RunningServer;

  beforeAll(async () => {
    [server, revokingServer] = await Promise.all([startServer(["--process-count", "1"]), startServer(["--process-count", "1", "--allow-revoke"])]);
    await Promise.all([server.ready, revokingServer.ready]);
  }, TEST_TIMEOUT_MS);

  afterAll(async () => {
    await Promise.all([server?.kill(), revokingServer?.kill()]);
  });

  const serverCa = (s: RunningServer) => join(s.depotPath, "certificates", "ca.crt");

  test("sign and the PEM lines: a client certificate for the request's key that verifies", async () => {
    const csr = makeCsr("proto", "ec-p256", "/CN=Protocol User/O=Example");
    const answer = await request(server.port, `sign\n${readFileSync(csr, "utf8")}`, { raw: true });
    const cert = signed(answer, "proto");
    expect(openssl(["verify", "-CAfile", serverCa(server), cert])).toEqual({ exitCode: 0, stdout: `${cert}: OK\n`, stderr: "" });
    expect(mustOpenssl(["x509", "-in", cert, "-noout", "-pubkey"])).toBe(mustOpenssl(["req", "-in", csr, "-noout", "-pubkey"]));
    expect(mustOpenssl(["x509", "-in", cert, "-noout", "-subject"])).toBe("subject=CN = Protocol User, O = Example\n");
    expect(extensionsOf(cert).get("X509v3 Extended Key Usage")?.value).toBe("TLS Web Client Authentication");
    expect(ledgerRow(server.depotPath, serialOf(cert))).toMatchObject({ type: "client", key_type: "ec-p256", status: "valid" });

    // CRLF line endings are accepted as well.
    const crlf = await request(server.port, `sign\r\n${readFileSync(csr, "utf8").replaceAll("\n", "\r\n")}`, { raw: true });
    expect(openssl(["verify", "-CAfile", serverCa(server), signed(crlf, "proto-crlf")]).exitCode).toBe(0);
  }, TEST_TIMEOUT_MS);

  test("a bad request gets one ERROR line", async () => {
    const forged = forge(makeCsr("proto-valid", "ec-p256", "/CN=Forged Over The Wire"), "proto-forged");
    expect(await request(server.port, `sign\n${readFileSync(forged, "utf8")}`, { raw: true })).toBe(
      "ERROR the certificate request's signature does not verify (forged or damaged)\n",
    );
    const weak = makeCsr("proto-weak", "rsa-1024", "/CN=Weak");
    expect(await request(server.port, `sign\n${readFileSync(weak, "utf8")}`, { raw: true })).toBe(
      "ERROR the request's RSA key has 1024 bits; depot signs RSA keys of 2048 bits or more\n",
    );
    expect(await request(server.port, "sign\nnot a request\n-----END CERTIFICATE REQUEST-----\n", { raw: true })).toBe(
      "ERROR not a PEM certificate request (-----BEGIN CERTIFICATE REQUEST-----)\n",
    );
    expect(await request(server.port, `sign now\n${readFileSync(weak, "utf8")}`, { raw: true })).toBe(
      "ERROR no template named 'now' in depot.cnf; depot template list shows them\n",
    );
    // A real request over 16 KiB (many names).
    const names = Array.from({ length: 700 }, (_, i) => `DNS:host-${String(i).padStart(4, "0")}.example.com`).join(",");
    const large = readFileSync(makeCsr("proto-large", "ec-p256", "/CN=Large", [`subjectAltName=${names}`]), "utf8");
    expect(large.length).toBeGreaterThan(MAX_CSR_BYTES);
    expect(await request(server.port, `sign\n${large}`, { raw: true })).toBe("ERROR certificate request is larger than 16 KiB\n");
  }, TEST_TIMEOUT_MS);

  test("help lists exactly crl generate help revoke shutdown sign; help sign/crl/revoke are in GENERATE's sections", async () => {
    expect(await request(server.port, "help")).toBe("crl generate help revoke shutdown sign\n");
    const generate = await request(server.port, "help generate");
    const expectations: [string, string, string, string][] = [
      // topic, heading, usage line, RETURNS body
      ["generate", "GENERATE", "  generate <distinguished name>", "  The private key (PKCS#8) and then the certificate, both PEM."],
      ["sign", "SIGN", "  sign [template]", "  The certificate, PEM."],
      ["crl", "CRL", "  crl", "  The CRL, PEM (-----BEGIN X509 CRL-----)."],
      ["revoke", "REVOKE", "  revoke <serial> [reason]", "  OK revoked <serial>"],
    ];
    for (const [topic, heading, usage, returns] of expectations) {
      const text = topic === "generate" ? generate : await request(server.port, `help ${topic}`);
      const lines = text.split("\n");
      expect(lines.at(-1)).toBe(""); // ends with a newline
      expect(lines[0]).toBe(heading);
      expect(lines[1]).toBe(usage);
      // Three sections, in GENERATE's order; everything else indented by two spaces.
      expect(lines.filter((line) => /^\S/.test(line))).toEqual([heading, "RETURNS", "EXAMPLE"]);
      for (const line of lines.slice(0, -1)) expect(line).toMatch(/^(?:[A-Z]+|  \S.*)$/);
      expect(lines[lines.indexOf("RETURNS") + 1]).toBe(returns);
      expect(lines[lines.indexOf("EXAMPLE") + 1]).toMatch(new RegExp(`^  ${topic}\\b`));
      expect(lines.indexOf("RETURNS")).toBeGreaterThan(2);
      expect(lines.indexOf("EXAMPLE")).toBeGreaterThan(lines.indexOf("RETURNS"));
    }
    // The sign example is a request: its PEM lines follow.
    const sign = await request(server.port, "help sign");
    expect(sign).toContain("EXAMPLE\n  sign\n  -----BEGIN CERTIFICATE REQUEST-----\n");
    expect(sign.endsWith("  -----END CERTIFICATE REQUEST-----\n")).toBe(true);
  }, TEST_TIMEOUT_MS);

  test("crl answers crl.pem byte for byte; revoke is refused by default", async () => {
    const crl = await request(server.port, "crl");
    expect(crl).toBe(readFileSync(join(server.depotPath, "crl.pem"), "utf8"));
    expect(crl.startsWith("-----BEGIN X509 CRL-----\n")).toBe(true);
    expect(pemBlocks(crl)).toEqual([crl]);

    const issued = await request(server.port, "generate /CN=Not Revocable");
    const cert = join(dir, "not-revocable.crt");
    writeFileSync(cert, pemBlocks(issued)[1]!);
    const serial = serialOf(cert);
    expect(await request(server.port, `revoke ${serial}`)).toBe("ERROR revoke is disabled on this server (start it with --allow-revoke)\n");
    expect(await request(server.port, `revoke ${serial} keyCompromise`)).toBe("ERROR revoke is disabled on this server (start it with --allow-revoke)\n");
    expect(ledgerRow(server.depotPath, serial)?.status).toBe("valid");
    expect(await request(server.port, "crl")).toBe(crl);
  }, TEST_TIMEOUT_MS);

  test("with --allow-revoke: OK revoked <SERIAL>, and the CRL served afterwards lists it", async () => {
    const s = revokingServer;
    const certs: string[] = [];
    for (const name of ["Victim One", "Victim Two", "Survivor"]) {
      const file = join(dir, `${name.replace(" ", "-")}.crt`);
      writeFileSync(file, pemBlocks(await request(s.port, `generate /CN=${name}`))[1]!);
      certs.push(file);
    }
    const [one, two, survivor] = certs.map(serialOf) as [string, string, string];
    expect(await request(s.port, `revoke ${one}`)).toBe(`OK revoked ${one}\n`);
    // With colons and a reason.
    expect(await request(s.port, `revoke ${one.match(/../g)!.join(":")} keyCompromise`)).toMatch(/^ERROR certificate [0-9A-F]+ is already revoked \(since .+\)\n$/);
    expect(await request(s.port, `revoke ${two.match(/../g)!.join(":")} keyCompromise`)).toBe(`OK revoked ${two}\n`);
    expect(await request(s.port, "revoke 0xABCDEF")).toBe("ERROR no certificate with serial 0xABCDEF in this depot\n");
    expect(await request(s.port, `revoke ${survivor} stolen`)).toBe(
      "ERROR unknown reason 'stolen' (known: unspecified, keyCompromise, affiliationChanged, superseded, cessationOfOperation)\n",
    );
    expect(await request(s.port, "revoke")).toBe("ERROR usage: revoke <serial> [reason]\n");

    // A revoke over the socket only records; the upkeep process publishes the CRL within its poll interval.
    const crlFile = join(dir, "served.crl");
    let text = "";
    await waitFor(async () => {
      writeFileSync(crlFile, await request(s.port, "crl"));
      text = mustOpenssl(["crl", "-in", crlFile, "-noout", "-text"]);
      return text.includes(`Serial Number: ${two}\n`);
    }, 5_000, () => text);
    expect(readFileSync(crlFile, "utf8")).toBe(readFileSync(join(s.depotPath, "crl.pem"), "utf8"));
    expect(Number(/X509v3 CRL Number: \n\s+(\d+)\n/.exec(text)?.[1])).toBeGreaterThan(1);
    expect(text).toContain(`Serial Number: ${one}\n`);
    expect(text).toContain(`Serial Number: ${two}\n`);
    expect(text).not.toContain(`Serial Number: ${survivor}\n`);
    expect(text.match(/Serial Number:/g)?.length).toBe(2);
    const caCert = serverCa(s);
    const verify = (file: string) => openssl(["verify", "-crl_check", "-CAfile", caCert, "-CRLfile", crlFile, file]);
    expect(verify(certs[0]!).stdout + verify(certs[0]!).stderr).toContain("certificate revoked");
    expect(verify(certs[1]!).exitCode).not.toBe(0);
    expect(verify(certs[2]!)).toEqual({ exitCode: 0, stdout: `${certs[2]}: OK\n`, stderr: "" });
    expect(ledgerRow(s.depotPath, one)?.status).toBe("revoked");
  }, TEST_TIMEOUT_MS);
});
