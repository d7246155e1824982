import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createDepot } from "../src/ca/create.ts";
import { DEFAULT_CA_DAYS, DEFAULT_LEAF_DAYS } from "../src/ca/defaults.ts";
import { BACKDATE_MS } from "../src/ca/issuer.ts";
import { Depot } from "../src/ca/depot.ts";
import { formatDn, parseDn } from "../src/ca/dn.ts";
import { KEY_SPECS, KEY_TYPES, type KeyType } from "../src/ca/key-types.ts";
import { depotLayout } from "../src/ca/layout.ts";
import { certificateFileName } from "../src/ca/serial.ts";
import { DepotError } from "../src/errors.ts";
import { openssl, tempDir } from "./helpers.ts";


// ---------------------------------------------------------------------------
// Reading certificates with the real openssl
// ---------------------------------------------------------------------------

interface Extension {
  critical: boolean;
  value: string;
}

function ok(args: string[], stdin?: string): string {
  const result = openssl(args, stdin);
  if (result.exitCode !== 0) throw new Error(`openssl ${args.join(" ")} failed: ${result.stderr}`);
  return result.stdout;
}

/** One certificate as openssl reads it, in a single `openssl x509` run (each run costs ~70 ms). */
interface Inspected {
  text: string;
  serial: string;
  subject: string;
  issuer: string;
  notBefore: number;
  notAfter: number;
  publicKey: string;
}

function inspect(certPath: string): Inspected {
  const out = ok(["x509", "-noout", "-serial", "-subject", "-issuer", "-startdate", "-enddate", "-pubkey", "-text", "-in", certPath]);
  const at = out.indexOf("Certificate:\n");
  expect(at).toBeGreaterThan(0);
  const head = out.slice(0, at);
  return {
    text: out.slice(at),
    serial: field(head, /^serial=(.*)$/m),
    subject: field(head, /^subject=(.*)$/m),
    issuer: field(head, /^issuer=(.*)$/m),
    notBefore: opensslDate(field(head, /^notBefore=(.*)$/m)),
    notAfter: opensslDate(field(head, /^notAfter=(.*)$/m)),
    publicKey: field(head, /(-----BEGIN PUBLIC KEY-----\n[\s\S]*?-----END PUBLIC KEY-----\n)/),
  };
}

const caCache = new Map<string, Inspected>();
/** A CA certificate never changes once made: read it once per path. */
function inspectCa(caPath: string): Inspected {
  let inspected = caCache.get(caPath);
  if (!inspected) caCache.set(caPath, (inspected = inspect(caPath)));
  return inspected;
}

/** The X509v3 extensions as `openssl x509 -text` prints them: name -> critical flag and value lines. */
function extensionsOf(certText: string): Record<string, Extension> {
  const lines = certText.split("\n");
  const start = lines.findIndex((line) => line === "        X509v3 extensions:");
  expect(start).toBeGreaterThan(0);
  const extensions: Record<string, Extension> = {};
  let current: Extension | undefined;
  for (const line of lines.slice(start + 1)) {
    const header = /^ {12}(\S.*?):( critical)?\s*$/.exec(line);
    if (header) {
      expect(extensions[header[1]!]).toBeUndefined(); // no extension twice
      current = { critical: header[2] !== undefined, value: "" };
      extensions[header[1]!] = current;
    } else if (line.startsWith(" ".repeat(16)) && current) {
      current.value = current.value ? `${current.value}\n${line.trim()}` : line.trim();
    } else {
      break;
    }
  }
  return extensions;
}

function field(certText: string, pattern: RegExp): string {
  const match = pattern.exec(certText);
  if (!match) throw new Error(`no ${pattern} in:\n${certText}`);
  return match[1]!;
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
/** "Nov 28 08:26:48 2026 GMT" -> epoch ms. */
function opensslDate(value: string): number {
  const m = /^(\w{3}) +(\d{1,2}) (\d\d):(\d\d):(\d\d) (\d{4}) GMT$/.exec(value.trim());
  if (!m) throw new Error(`unexpected date '${value}'`);
  return Date.UTC(Number(m[6]), MONTHS.indexOf(m[1]!), Number(m[2]), Number(m[3]), Number(m[4]), Number(m[5]));
}

const DAY = 86_400;

function verify(caPath: string, certPath: string): string {
  const result = openssl(["verify", "-x509_strict", "-CAfile", caPath, certPath]);
  return `${result.stdout}${result.stderr}`.trim();
}

/** The public key of a PEM private key, per `openssl pkey`. */
function publicKeyOf(keyPem: string): string {
  return ok(["pkey", "-pubout"], keyPem);
}

// ---------------------------------------------------------------------------
// What depot must issue
// ---------------------------------------------------------------------------

const SIGNATURE_ALGORITHM: Record<KeyType, string> = {
  "rsa-2048": "sha256WithRSAEncryption",
  "rsa-3072": "sha256WithRSAEncryption",
  "rsa-4096": "sha256WithRSAEncryption",
  "ec-p256": "ecdsa-with-SHA256",
  "ec-p384": "ecdsa-with-SHA384",
  ed25519: "ED25519",
};

/** How `openssl x509 -text` describes a key of each type. */
const PUBLIC_KEY: Record<KeyType, RegExp> = {
  "rsa-2048": /Public Key Algorithm: rsaEncryption\n\s+Public-Key: \(2048 bit\)/,
  "rsa-3072": /Public Key Algorithm: rsaEncryption\n\s+Public-Key: \(3072 bit\)/,
  "rsa-4096": /Public Key Algorithm: rsaEncryption\n\s+Public-Key: \(4096 bit\)/,
  "ec-p256": /Public Key Algorithm: id-ecPublicKey\n\s+Public-Key: \(256 bit\)[\s\S]*?ASN1 OID: prime256v1/,
  "ec-p384": /Public Key Algorithm: id-ecPublicKey\n\s+Public-Key: \(384 bit\)[\s\S]*?ASN1 OID: secp384r1/,
  ed25519: /Public Key Algorithm: ED25519\n\s+ED25519 Public-Key:/,
};

const isRsa = (type: KeyType) => KEY_SPECS[type].family === "rsa";

function caExtensionsExpected(ski: string): Record<string, Extension> {
  return {
    "X509v3 Basic Constraints": { critical: true, value: "CA:TRUE" },
    "X509v3 Key Usage": { critical: true, value: "Certificate Sign, CRL Sign" },
    "X509v3 Subject Key Identifier": { critical: false, value: ski },
  };
}

function leafExtensionsExpected(
  profile: "client" | "server",
  leafType: KeyType,
  ski: string,
  caSki: string,
  san?: string,
): Record<string, Extension> {
  const rsa = isRsa(leafType);
  const extensions: Record<string, Extension> = {
    "X509v3 Basic Constraints": { critical: true, value: "CA:FALSE" },
    "X509v3 Key Usage": {
      critical: true,
      value:
        profile === "client"
          ? rsa
            ? "Digital Signature, Non Repudiation, Key Encipherment"
            : "Digital Signature"
          : rsa
            ? "Digital Signature, Key Encipherment"
            : "Digital Signature",
    },
    "X509v3 Extended Key Usage": {
      critical: false,
      value: profile === "client" ? "TLS Web Client Authentication" : "TLS Web Server Authentication, TLS Web Client Authentication",
    },
  };
  if (profile === "server" || san !== undefined) extensions["X509v3 Subject Alternative Name"] = { critical: false, value: san ?? "" };
  extensions["X509v3 Subject Key Identifier"] = { critical: false, value: ski };
  extensions["X509v3 Authority Key Identifier"] = { critical: false, value: caSki };
  return extensions;
}

const SKI = /X509v3 Subject Key Identifier: \n\s+([0-9A-F:]{59})\n/;

/**
 * Everything a leaf must be: on disk under its decimal serial, in the ledger,
 * verified by openssl, exactly the profile's extensions, the CA's signature
 * algorithm, a PKCS#8 key that matches it.
 */
async function checkLeaf(
  depot: Depot,
  issued: Awaited<ReturnType<Depot["issue"]>>,
  expected: { profile: "client" | "server"; leafType: KeyType; caType: KeyType; subject: string; san?: string; days?: number },
): Promise<void> {
  const caPath = depot.layout.caCertificate;
  const certPath = join(depot.layout.certificatesDir, certificateFileName(issued.serial));
  expect(readFileSync(certPath, "utf8")).toBe(issued.certificatePem);
  expect(verify(caPath, certPath)).toBe(`${certPath}: OK`);

  const cert = inspect(certPath);
  const ca = inspectCa(caPath);
  const certText = cert.text;
  const caSki = field(ca.text, SKI);
  const ski = field(certText, SKI);
  expect(ski).not.toBe(caSki);
  expect(extensionsOf(certText)).toEqual(leafExtensionsExpected(expected.profile, expected.leafType, ski, caSki, expected.san));

  expect(field(certText, /^ {8}Signature Algorithm: (.*)$/m)).toBe(SIGNATURE_ALGORITHM[expected.caType]);
  expect(field(certText, /^ {4}Signature Algorithm: (.*)$/m)).toBe(SIGNATURE_ALGORITHM[expected.caType]);
  expect(certText).toMatch(PUBLIC_KEY[expected.leafType]);
  expect(field(certText, /Version: (\d+)/)).toBe("3");
  expect(cert.subject).toBe(expected.subject);
  expect(cert.issuer).toBe(ca.subject);
  expect(cert.serial).toBe(issued.serial.toUpperCase());

  // The private key: PKCS#8 PEM, readable by openssl, the certificate's key.
  expect(issued.privateKeyPem.startsWith("-----BEGIN PRIVATE KEY-----\n")).toBe(true);
  expect(issued.privateKeyPem.trimEnd().endsWith("-----END PRIVATE KEY-----")).toBe(true);
  const fromKey = publicKeyOf(issued.privateKeyPem);
  expect(fromKey).toContain("-----BEGIN PUBLIC KEY-----");
  expect(fromKey).toBe(cert.publicKey);
  expect(fromKey).not.toBe(ca.publicKey);

  const days = expected.days ?? DEFAULT_LEAF_DAYS;
  expect((cert.notAfter - cert.notBefore) / 1000).toBe(days * DAY);
  // Backdated by five minutes for peers whose clocks run behind.
  expect(Math.abs(cert.notBefore - (Date.now() - BACKDATE_MS))).toBeLessThan(60_000);

  const record = await depot.ledger.find(issued.serial);
  expect(record).toEqual(issued.record);
  expect(record?.type).toBe(expected.profile);
  expect(record?.keyType).toBe(expected.leafType);
  expect(record?.status).toBe("valid");
  expect((record!.notAfter.getTime() - record!.notBefore.getTime()) / 1000).toBe(days * DAY);
}

function checkCa(root: string, caType: KeyType, label: string, caDays = DEFAULT_CA_DAYS): void {
  const layout = depotLayout(root);
  const caPath = layout.caCertificate;
  expect(verify(caPath, caPath)).toBe(`${caPath}: OK`);
  const ca = inspect(caPath);
  const caText = ca.text;
  const ski = field(caText, SKI);
  expect(extensionsOf(caText)).toEqual(caExtensionsExpected(ski));
  expect(field(caText, /^ {8}Signature Algorithm: (.*)$/m)).toBe(SIGNATURE_ALGORITHM[caType]);
  expect(field(caText, /^ {4}Signature Algorithm: (.*)$/m)).toBe(SIGNATURE_ALGORITHM[caType]);
  expect(caText).toMatch(PUBLIC_KEY[caType]);
  expect(ca.subject).toBe(`O = ${label}, CN = ${label}`);
  expect(ca.issuer).toBe(`O = ${label}, CN = ${label}`);
  expect((ca.notAfter - ca.notBefore) / 1000).toBe(caDays * DAY);
  expect(Math.abs(ca.notBefore - (Date.now() - BACKDATE_MS))).toBeLessThan(60_000);

  // The CA key: PKCS#8, 0400, in a 0700 private/ folder, matching ca.crt.
  expect(statSync(layout.privateDir).mode & 0o777).toBe(0o700);
  expect(statSync(layout.caKey).mode & 0o777).toBe(0o400);
  expect(readdirSync(layout.privateDir)).toEqual(["ca.key"]);
  const caKey = readFileSync(layout.caKey, "utf8");
  expect(caKey.startsWith("-----BEGIN PRIVATE KEY-----\n")).toBe(true);
  expect(publicKeyOf(caKey)).toBe(ca.publicKey);
}

// ---------------------------------------------------------------------------

/** Leaf key type for each CA key type: the same, but RSA-4096 CAs issue EC leaves to stay fast. */
const LEAF_FOR: Record<KeyType, KeyType> = {
  "rsa-2048": "rsa-2048",
  "rsa-3072": "rsa-3072",
  "rsa-4096": "ec-p256",
  "ec-p256": "ec-p256",
  "ec-p384": "ec-p384",
  ed25519: "ed25519",
};

describe("every CA key type", () => {
  test.each([...KEY_TYPES])("%s CA: CA, client and server certificates, checked by openssl", async (caType) => {
    const dir = tempDir("depot-profiles-");
    const label = `Test ${caType} CA`;
    const root = await createDepot(join(dir, label), { keyType: caType });
    checkCa(root, caType, label);

    const depot = await Depot.open(root);
    try {
      expect(depot.defaultKeyType).toBe(caType);
      expect(depot.issuer.key.type).toBe(caType);
      const leafType = LEAF_FOR[caType];

      const client = await depot.issue({
        profile: "client",
        subject: parseDn("/UID=12/CN=Bob Owner,emailAddress=bob@example.com"),
        keyType: leafType,
      });
      await checkLeaf(depot, client, {
        profile: "client",
        leafType,
        caType,
        subject: "UID = 12, CN = Bob Owner, emailAddress = bob@example.com",
        // RFC 5280 4.2.1.6: the address also as an rfc822Name, where TLS software looks.
        san: "email:bob@example.com",
      });

      const server = await depot.issue({
        profile: "server",
        subject: parseDn("CN=WWW.Example.com,O=Example"),
        keyType: leafType,
        subjectAltNames: ["api.example.com", "IP:10.0.0.1", "DNS:www.example.com", "2001:db8::1"],
      });
      await checkLeaf(depot, server, {
        profile: "server",
        leafType,
        caType,
        subject: "CN = WWW.Example.com, O = Example",
        san: "DNS:www.example.com, DNS:api.example.com, IP Address:10.0.0.1, IP Address:2001:DB8:0:0:0:0:0:1",
      });

      expect((await depot.ledger.list()).map((r) => r.type).sort()).toEqual(["ca", "client", "server"]);
    } finally {
      depot.close();
    }
  });
});

describe("every leaf key type (from an Ed25519 CA and an RSA-2048 CA)", () => {
  let dir: string;
  const depots: Partial<Record<"ed25519" | "rsa-2048", Depot>> = {};

  beforeAll(async () => {
    dir = tempDir("depot-leaves-");
    for (const caType of ["ed25519", "rsa-2048"] as const) {
      depots[caType] = await Depot.open(await createDepot(join(dir, caType), { keyType: caType }));
    }
  });
  afterAll(() => {
    for (const depot of Object.values(depots)) depot.close();
  });

  test.each([...KEY_TYPES])("%s leaf keys: key usage follows the leaf key, signature the CA key", async (leafType) => {
    // One CA per leaf so each pairing of families is covered: RSA leaves from the Ed25519 CA, others from the RSA CA.
    const caType = isRsa(leafType) ? "ed25519" : "rsa-2048";
    const depot = depots[caType]!;
    const client = await depot.issue({ profile: "client", subject: parseDn(`CN=client ${leafType}`), keyType: leafType });
    await checkLeaf(depot, client, { profile: "client", leafType, caType, subject: `CN = client ${leafType}` });
    // Large RSA keys are slow to make (~0.4 s and ~1 s); the RSA server profile is covered by rsa-2048 here and rsa-3072 above.
    if (leafType === "rsa-3072" || leafType === "rsa-4096") return;
    const server = await depot.issue({
      profile: "server",
      subject: parseDn(`CN=${leafType}.example.net`),
      keyType: leafType,
    });
    await checkLeaf(depot, server, {
      profile: "server",
      leafType,
      caType,
      subject: `CN = ${leafType}.example.net`,
      san: `DNS:${leafType}.example.net`,
    });
  });
});

describe("server names, validity, CA settings", () => {
  let dir: string;
  let depot: Depot;

  beforeAll(async () => {
    dir = tempDir("depot-settings-");
    depot = await Depot.open(await createDepot(join(dir, "settings"), { keyType: "ec-p256", label: "Settings CA" }));
  });
  afterAll(() => depot?.close());

  test("the CA's label goes into its subject as O and CN; default validity 3650 days", () => {
    expect(depot.label).toBe("Settings CA");
    checkCa(depot.layout.root, "ec-p256", "Settings CA");
  });

  test("the label defaults to the folder's name", async () => {
    const root = await createDepot(join(dir, "Folder Named CA"), { keyType: "ed25519" });
    checkCa(root, "ed25519", "Folder Named CA");
    const opened = await Depot.open(root);
    expect(opened.label).toBe("Folder Named CA");
    expect(opened.defaultDays).toBe(DEFAULT_LEAF_DAYS);
    opened.close();
  });

  test("defaults are 365 days for leaves and 3650 for the CA", () => {
    expect(DEFAULT_LEAF_DAYS).toBe(365);
    expect(DEFAULT_CA_DAYS).toBe(3650);
    expect(depot.defaultDays).toBe(365);
  });

  test("the days option of issue is honoured", async () => {
    const issued = await depot.issue({ profile: "client", subject: parseDn("CN=short"), keyType: "ec-p256", days: 30 });
    await checkLeaf(depot, issued, { profile: "client", leafType: "ec-p256", caType: "ec-p256", subject: "CN = short", days: 30 });
    const long = await depot.issue({ profile: "client", subject: parseDn("CN=long"), keyType: "ec-p256", days: 825 });
    await checkLeaf(depot, long, { profile: "client", leafType: "ec-p256", caType: "ec-p256", subject: "CN = long", days: 825 });
  });

  test("createDepot's days and caDays set the leaf default and the CA's validity", async () => {
    const root = await createDepot(join(dir, "custom"), { keyType: "ec-p256", days: 90, caDays: 1000 });
    checkCa(root, "ec-p256", "custom", 1000);
    const custom = await Depot.open(root);
    try {
      expect(custom.defaultDays).toBe(90);
      const issued = await custom.issue({ profile: "client", subject: parseDn("CN=ninety") });
      await checkLeaf(custom, issued, { profile: "client", leafType: "ec-p256", caType: "ec-p256", subject: "CN = ninety", days: 90 });
    } finally {
      custom.close();
    }
  });

  test("a server CN that is an IP address becomes an IP SAN", async () => {
    const issued = await depot.issue({ profile: "server", subject: parseDn("CN=192.0.2.10"), keyType: "ec-p256" });
    await checkLeaf(depot, issued, {
      profile: "server",
      leafType: "ec-p256",
      caType: "ec-p256",
      subject: "CN = 192.0.2.10",
      san: "IP Address:192.0.2.10",
    });
  });

  test("a server CN that is not a host name is left out of the SAN; --san supplies the names", async () => {
    const issued = await depot.issue({
      profile: "server",
      subject: parseDn("CN=Bob's server"),
      keyType: "ec-p256",
      subjectAltNames: ["app.example.com", "*.app.example.com", "app.example.com"],
    });
    await checkLeaf(depot, issued, {
      profile: "server",
      leafType: "ec-p256",
      caType: "ec-p256",
      subject: "CN = Bob's server",
      san: "DNS:app.example.com, DNS:*.app.example.com",
    });
  });

  test("a server certificate without a host name is refused, and nothing is recorded", async () => {
    const before = await depot.ledger.count();
    const files = readdirSync(depot.layout.certificatesDir).sort();
    for (const subject of ["CN=Bob's server", "O=Example"]) {
      let thrown: unknown;
      try {
        await depot.issue({ profile: "server", subject: parseDn(subject), keyType: "ec-p256" });
      } catch (error) {
        thrown = error;
      }
      expect(thrown).toBeInstanceOf(DepotError);
      expect((thrown as DepotError).code).toBe("E_BAD_ARGUMENT");
      expect((thrown as DepotError).message).toBe("a server certificate needs a DNS name or IP address: give it as --cn or --san");
    }
    expect(await depot.ledger.count()).toBe(before);
    expect(readdirSync(depot.layout.certificatesDir).sort()).toEqual(files);
  });

  test("a client certificate carries no SAN even when names are given", async () => {
    const issued = await depot.issue({
      profile: "client",
      subject: parseDn("CN=client.example.com"),
      keyType: "ec-p256",
      subjectAltNames: ["other.example.com"],
    });
    await checkLeaf(depot, issued, { profile: "client", leafType: "ec-p256", caType: "ec-p256", subject: "CN = client.example.com" });
  });

  test("the CA row in the ledger", async () => {
    const rows = (await depot.ledger.list()).filter((r) => r.type === "ca");
    expect(rows).toHaveLength(1);
    const ca = rows[0]!;
    expect(ca.keyType).toBe("ec-p256");
    expect(ca.subject).toBe("O=Settings CA,CN=Settings CA");
    expect(ca.pem).toBe(readFileSync(depot.layout.caCertificate, "utf8"));
    expect(inspectCa(depot.layout.caCertificate).serial).toBe(ca.serial.toUpperCase());
    expect(existsSync(join(depot.layout.certificatesDir, certificateFileName(ca.serial)))).toBe(false);
  });

  // BUG (src/ca/create.ts, ledger record of the CA): the subject is built as
  // `O=${label},CN=${label}` instead of formatDn(subject), so a label with a
  // comma gives an ambiguous ledger subject; and attribute() (src/ca/dn.ts)
  // leaves its own escapes in the value, so a label with '=' gets a stray '\'
  // in the certificate itself.
  test("a label with ',' and '=' is kept exactly, in the certificate and in the ledger", async () => {
    const label = "R=D, Inc";
    const root = await createDepot(join(dir, "odd-label"), { keyType: "ed25519", label });
    const opened = await Depot.open(root);
    try {
      expect(ok(["x509", "-noout", "-subject", "-nameopt", "RFC2253", "-in", opened.layout.caCertificate]).trim()).toBe(
        // RFC 2253 output escapes the comma; '=' needs no escape there.
        "subject=CN=R=D\\, Inc,O=R=D\\, Inc",
      );
      const ca = (await opened.ledger.list()).find((r) => r.type === "ca")!;
      expect(ca.subject).toBe(formatDn(parseDn("O=R\\=D\\, Inc,CN=R\\=D\\, Inc")));
    } finally {
      opened.close();
    }
  });
});

// Keep the helper honest: a certificate with an extra extension must not match.
test("extensionsOf sees every extension (control: an openssl-made certificate with extra ones)", () => {
  const dir = tempDir("depot-control-");
  const cert = join(dir, "extra.pem");
  const conf = join(dir, "ext.cnf");
  writeFileSync(conf, "[x]\nbasicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\nsubjectKeyIdentifier=hash\nnsComment=extra\n");
  ok([
    "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", join(dir, "k.pem"),
    "-subj", "/CN=x", "-config", conf, "-extensions", "x", "-out", cert,
  ]);
  const certText = inspect(cert).text;
  const extensions = extensionsOf(certText);
  expect(Object.keys(extensions)).toEqual([
    "X509v3 Basic Constraints",
    "X509v3 Key Usage",
    "X509v3 Subject Key Identifier",
    "Netscape Comment",
  ]);
  expect(extensions).not.toEqual(caExtensionsExpected(field(certText, SKI)));
});
