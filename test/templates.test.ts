// Certificate templates (depot.cnf's [ template NAME ] sections) through the compiled depot and the real openssl: a template that makes no sense stops every command with its line; `depot template list|show`; OpenVPN's server and client templates issued by `generate` and `sign`, read back by openssl x509 (key usage, extended key usage, an extension by OID with its DER, days default and cap); name rules refused; the template in the ledger, `depot show` and the audit chain, also on a PostgreSQL ledger shared by two hosts. Beside them, the encoder's DER against the built-ins' and @peculiar/x509's.
import { beforeAll, describe, expect, test } from "bun:test";
import { appendFileSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { configWithSettings, parseConfig } from "../src/ca/config.ts";
import { leafExtensions } from "../src/ca/profiles.ts";
import { x509 } from "../src/ca/provider.ts";
import { keyUsageBits, templateExtensions } from "../src/ca/template-extensions.ts";
import { KEY_USAGE_BITS, type KeyUsageName, templatesFromConfig } from "../src/ca/templates.ts";
import { depot, openssl, tempDir } from "./helpers.ts";
import { pgDatabase } from "./pg-server.ts";
import { TEMPLATES } from "./template-fixtures.ts";

let dir: string;
let path: string;
let goodConfig: string;

function ok(args: string[]): string {
  const result = depot(args);
  if (result.exitCode !== 0) throw new Error(`depot ${args.join(" ")} failed (${result.exitCode}): ${result.stderr}`);
  return result.stdout;
}

function sslOk(args: string[], stdin?: string): string {
  const result = openssl(args, stdin);
  if (result.exitCode !== 0) throw new Error(`openssl ${args.join(" ")} failed: ${result.stderr}`);
  return result.stdout;
}

/** The certificate's validity in days, from what openssl reads. */
function daysOf(pemFile: string): number {
  const out = sslOk(["x509", "-in", pemFile, "-noout", "-startdate", "-enddate"]);
  const date = (name: string) => Date.parse(new RegExp(`^${name}=(.*)$`, "m").exec(out)![1]!);
  return (date("notAfter") - date("notBefore")) / 86_400_000;
}

const serialOf = (pemFile: string) => sslOk(["x509", "-in", pemFile, "-noout", "-serial"]).trim().replace("serial=", "");
const certificateCount = () => (JSON.parse(ok(["list", path, "--json"])) as unknown[]).length;

beforeAll(() => {
  dir = tempDir("depot-templates-");
  path = join(dir, "ca");
  ok(["init", path, "Template CA", "--key-type", "ec-p256"]);
  goodConfig = readFileSync(join(path, "depot.cnf"), "utf8") + TEMPLATES;
  writeFileSync(join(path, "depot.cnf"), goodConfig);
});

describe("a template that makes no sense", () => {
  // The line numbers count from the end of `depot init`'s depot.cnf (7 lines, then a blank).
  const cases: [what: string, section: string, message: string][] = [
    ["an unknown purpose", "[ template vpn ]\nbase = server\nextended_key_usage = serverAuth, srvAuth", "line 11: [ template vpn ] extended_key_usage: 'srvAuth' is not a known purpose (serverAuth, clientAuth, codeSigning, emailProtection, timeStamping, OCSPSigning) or a dotted OID"],
    ["no base", "[ template vpn ]\ndays = 30", "line 9: [ template vpn ] base is missing: base = client or base = server"],
    ["another base", "[ template vpn ]\nbase = router", "line 10: [ template vpn ] base: 'router' is not client or server"],
    ["an unknown key usage", "[ template vpn ]\nbase = client\nkey_usage = digitalSignature, signing", "line 11: [ template vpn ] key_usage: 'signing' is not a key usage (digitalSignature, nonRepudiation, keyEncipherment, dataEncipherment, keyAgreement, keyCertSign, cRLSign, encipherOnly, decipherOnly)"],
    ["a CA's key usage", "[ template vpn ]\nbase = client\nkey_usage = keyCertSign", "line 11: [ template vpn ] key_usage: keyCertSign is for CA certificates; depot's templates make leaves"],
    ["a built-in's name", "[ template server ]\nbase = server", "line 9: [ template server ] the built-in templates client and server cannot be redefined; give yours another name"],
    ["a name twice", "[ template vpn ]\nbase = client\n\n[ template vpn ]\nbase = server", "line 12: [ template vpn ] is defined twice (first at line 9)"],
    ["a bad name", "[ template vpn/1 ]\nbase = client", "line 9: [ template vpn/1 ] a template's name is 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit"],
    ["an unknown key", "[ template vpn ]\nbase = client\nvalidity = 30", "line 11: [ template vpn ] unknown key 'validity' (known: base, key_usage, extended_key_usage, days, allow, enrich_extensions, extension.OID)"],
    ["a key twice", "[ template vpn ]\nbase = client\ndays = 30\ndays = 60", "line 12: [ template vpn ] days is given twice"],
    ["a line without =", "[ template vpn ]\nbase = client\ndays 30", "line 11: [ template vpn ] this line is not 'key = value'"],
    ["days out of range", "[ template vpn ]\nbase = client\ndays = 0", "line 11: [ template vpn ] days: must be a whole number from 1 to 36500, not '0'"],
    ["a bad name rule", "[ template vpn ]\nbase = client\nallow = cn:vpn-*, 10.0.0.0/33", "line 11: [ template vpn ] allow '10.0.0.0/33': the prefix length must be 0 to 32"],
    ["an extension depot sets itself", "[ template vpn ]\nbase = client\nextension.2.5.29.19 = critical,DER:30:03:01:01:FF", "line 11: [ template vpn ] extension.2.5.29.19 is basicConstraints, which depot sets itself"],
    ["an extension's DER cut short", "[ template vpn ]\nbase = client\nextension.1.2.3.4 = DER:0C:05:41:42", "line 11: [ template vpn ] extension.1.2.3.4: the DER is not one whole element (tag, length, contents)"],
    ["an extension without a form", "[ template vpn ]\nbase = client\nextension.1.2.3.4 = hello", "line 11: [ template vpn ] extension.1.2.3.4: give the value as [critical,]DER:<hex> or [critical,]UTF8:<text>, not 'hello'"],
    ["an extension's OID", "[ template vpn ]\nbase = client\nextension.1.2.x = UTF8:a", "line 11: [ template vpn ] extension.1.2.x is not a dotted OID (like 1.3.6.1.4.1.99999.1)"],
    ["a webhook's extension depot sets itself", "[ template vpn ]\nbase = client\nenrich_extensions = 1.2.3.4, 2.5.29.17", "line 11: [ template vpn ] enrich_extensions: '2.5.29.17' is subjectAltName, which depot sets itself"],
  ];

  test.each(cases)("%s stops every command with its line, and the depot is left as it was", (_what, section, message) => {
    const base = readFileSync(join(path, "depot.cnf"), "utf8");
    const config = join(path, "depot.cnf");
    const initial = base.slice(0, base.indexOf("\n# OpenVPN")) + "\n";
    try {
      writeFileSync(config, `${initial}${section}\n`);
      for (const args of [["list", path], ["template", "list", path], ["generate", path, "--type", "client", "--cn", "x"]]) {
        const result = depot(args);
        expect({ exitCode: result.exitCode, stdout: result.stdout, stderr: result.stderr }).toEqual({ exitCode: 1, stdout: "", stderr: `depot: ${config} ${message}\n` });
      }
    } finally {
      writeFileSync(config, goodConfig);
    }
  });
});

describe("depot template list and show", () => {
  test("list: the built-ins, then depot.cnf's, with base, days, purposes and where each comes from", () => {
    expect(ok(["template", "list", path])).toBe(
      [
        "NAME        BASE    DAYS  PURPOSES                                          FROM",
        "client      client  365   clientAuth                                        built-in",
        "server      server  365   serverAuth,clientAuth                             built-in",
        "vpn-server  server  825   serverAuth                                        depot.cnf line 10",
        "vpn-client  client  90    clientAuth                                        depot.cnf line 18",
        "signing     client  365   codeSigning,timeStamping,1.3.6.1.4.1.311.10.3.13  depot.cnf line 26",
        "",
      ].join("\n"),
    );
    const listed = JSON.parse(ok(["template", "list", path, "--json"])) as { name: string }[];
    expect(listed.map((t) => t.name)).toEqual(["client", "server", "vpn-server", "vpn-client", "signing"]);
  });

  test("show: key usage by key family, purposes, days, name rules, extensions; --json the same as data; an unknown name is refused", () => {
    expect(ok(["template", "show", path, "vpn-server"])).toBe(
      [
        "Name:                vpn-server (depot.cnf line 10)",
        "Base:                server",
        "Key usage:           digitalSignature, keyEncipherment (RSA keys); digitalSignature (EC, Ed25519 keys)",
        "Extended key usage:  serverAuth",
        "Days:                825 (the default and the longest)",
        "Allow:               *.vpn.example.com",
        "Extensions:          1.3.6.1.4.1.99999.1 = DER:0C:03:76:70:6E",
        "",
      ].join("\n"),
    );
    expect(ok(["template", "show", path, "client"])).toContain("Key usage:           digitalSignature, nonRepudiation, keyEncipherment (RSA keys); digitalSignature (EC, Ed25519 keys)\n");
    expect(JSON.parse(ok(["template", "show", path, "vpn-client", "--json"]))).toEqual({
      name: "vpn-client",
      base: "client",
      builtIn: false,
      line: 18,
      days: 90,
      daysCapped: true,
      keyUsage: { rsa: ["digitalSignature"], ec: ["digitalSignature"], ed25519: ["digitalSignature"] },
      extendedKeyUsage: ["clientAuth"],
      allow: ["cn:vpn-*"],
      extensions: [],
      enrichableExtensions: ["1.3.6.1.4.1.99999.3"],
    });
    expect(JSON.parse(ok(["template", "show", path, "signing", "--json"])).extensions).toEqual([{ oid: "1.3.6.1.4.1.99999.2", critical: true, der: "0c0c6465706f74207369676e6572" }]);
    const unknown = depot(["template", "show", path, "vpn"]);
    expect({ exitCode: unknown.exitCode, stderr: unknown.stderr }).toEqual({ exitCode: 1, stderr: "depot: no template named 'vpn' in depot.cnf; depot template list shows them\n" });
  });
});

describe("issuing under a template", () => {
  test("generate --template vpn-server on an RSA key (OpenVPN's server): openssl reads its key usage, serverAuth alone, the extension's DER, 825 days; verify -purpose sslserver", () => {
    const file = join(dir, "vpn-server.pem");
    ok(["generate", path, "--template", "vpn-server", "--cn", "gw.vpn.example.com", "--key-type", "rsa-2048", "--out", file]);
    expect(sslOk(["x509", "-in", file, "-noout", "-ext", "keyUsage,extendedKeyUsage,subjectAltName,basicConstraints"])).toBe(
      [
        "X509v3 Basic Constraints: critical",
        "    CA:FALSE",
        "X509v3 Key Usage: critical",
        "    Digital Signature, Key Encipherment",
        "X509v3 Extended Key Usage: ",
        "    TLS Web Server Authentication",
        "X509v3 Subject Alternative Name: ",
        "    DNS:gw.vpn.example.com",
        "",
      ].join("\n"),
    );
    expect(sslOk(["x509", "-in", file, "-noout", "-text", "-certopt", "ext_dump"])).toContain("1.3.6.1.4.1.99999.1: \n                0000 - 0c 03 76 70 6e                           ..vpn\n");
    expect(daysOf(file)).toBe(825);
    expect(sslOk(["verify", "-CAfile", join(path, "certificates", "ca.crt"), "-purpose", "sslserver", file])).toBe(`${file}: OK\n`);
    // The ledger keeps the template beside the type; depot show and list --json say it.
    expect(ok(["show", path, serialOf(file)])).toContain("Type:        server\nTemplate:    vpn-server\n");
    const listed = (JSON.parse(ok(["list", path, "--json"])) as { serial: string; type: string; template?: string }[]).find((r) => r.serial === serialOf(file));
    expect(listed).toMatchObject({ type: "server", template: "vpn-server" });
  });

  test("an EC key under vpn-server gets digitalSignature alone: an EC key cannot encipher", () => {
    const file = join(dir, "vpn-server-ec.pem");
    ok(["generate", path, "--template", "vpn-server", "--cn", "gw2.vpn.example.com", "--key-type", "ec-p256", "--out", file]);
    expect(sslOk(["x509", "-in", file, "-noout", "-ext", "keyUsage"])).toBe("X509v3 Key Usage: critical\n    Digital Signature\n");
  });

  test("days: the template's by default, fewer when asked, more than its days refused; nothing issued on a refusal", () => {
    const file = join(dir, "short.pem");
    ok(["generate", path, "--template", "vpn-server", "--cn", "short.vpn.example.com", "--days", "30", "--out", file]);
    expect(daysOf(file)).toBe(30);
    const before = certificateCount();
    const long = depot(["generate", path, "--template", "vpn-server", "--cn", "long.vpn.example.com", "--days", "826", "--out", join(dir, "long.pem")]);
    expect({ exitCode: long.exitCode, stderr: long.stderr }).toEqual({ exitCode: 1, stderr: "depot: template 'vpn-server' does not allow 826 days (at most 825)\n" });
    // Without a template, the depot's default.
    const plain = join(dir, "plain.pem");
    ok(["generate", path, "--type", "server", "--cn", "plain.example.com", "--out", plain]);
    expect(daysOf(plain)).toBe(365);
    expect(certificateCount()).toBe(before + 1);
  });

  test("name rules: a name outside the template's allow is refused with the rule; --type against the template's base is refused", () => {
    const before = certificateCount();
    const outside = depot(["generate", path, "--template", "vpn-server", "--cn", "gw.example.org", "--out", join(dir, "outside.pem")]);
    expect({ exitCode: outside.exitCode, stderr: outside.stderr }).toEqual({ exitCode: 1, stderr: "depot: template 'vpn-server' does not allow the DNS name gw.example.org (allowed: *.vpn.example.com)\n" });
    const san = depot(["generate", path, "--template", "vpn-server", "--cn", "gw3.vpn.example.com", "--san", "10.0.0.1", "--out", join(dir, "san.pem")]);
    expect(san.stderr).toBe("depot: template 'vpn-server' does not allow the IP address 10.0.0.1 (allowed: *.vpn.example.com)\n");
    const client = depot(["generate", path, "--template", "vpn-client", "--cn", "alice", "--out", join(dir, "alice.pem")]);
    expect(client.stderr).toBe("depot: template 'vpn-client' does not allow CN=alice (allowed: cn:vpn-*)\n");
    const mismatch = depot(["generate", path, "--template", "vpn-client", "--type", "server", "--cn", "vpn-alice", "--out", join(dir, "mismatch.pem")]);
    expect(mismatch.stderr).toBe("depot: template 'vpn-client' makes client certificates (base = client), not server ones\n");
    const unknown = depot(["generate", path, "--template", "vpn", "--cn", "vpn-alice"]);
    expect(unknown.stderr).toBe("depot: no template named 'vpn' in depot.cnf; depot template list shows them\n");
    expect(certificateCount()).toBe(before);
  });

  test("sign --template vpn-client (OpenVPN's client) for an openssl req CSR: clientAuth alone, 90 days, verify -purpose sslclient; the audit record names the template", () => {
    const key = join(dir, "carol.key");
    const csr = join(dir, "carol.csr");
    sslOk(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-subj", "/CN=vpn-carol", "-out", csr]);
    const file = join(dir, "carol.pem");
    ok(["sign", path, "--csr", csr, "--template", "vpn-client", "--out", file]);
    expect(sslOk(["x509", "-in", file, "-noout", "-ext", "keyUsage,extendedKeyUsage"])).toBe("X509v3 Key Usage: critical\n    Digital Signature\nX509v3 Extended Key Usage: \n    TLS Web Client Authentication\n");
    expect(daysOf(file)).toBe(90);
    expect(sslOk(["verify", "-CAfile", join(path, "certificates", "ca.crt"), "-purpose", "sslclient", file])).toBe(`${file}: OK\n`);
    const serial = serialOf(file).toLowerCase().replace(/^0+/, "");
    const records = ok(["audit", "export", path]).trim().split("\n").map((line) => JSON.parse(line) as Record<string, unknown>);
    // The ledger keeps a leading zero digit (0f...), openssl pads to whole bytes (0F..., 008F...): compare without leading zeros.
    expect(records.find((r) => String(r.serial).replace(/^0+/, "") === serial)).toMatchObject({ event: "issue", requester: "cli", profile: "client", template: "vpn-client", subject: "CN=vpn-carol" });
    // A built-in's issuance names no template, as before templates.
    expect(records.filter((r) => r.event === "issue" && r.subject === "CN=plain.example.com")[0]).not.toHaveProperty("template");
    expect(ok(["audit", "verify", path])).toStartWith("audit chain intact: ");
  });

  test("several purposes by name and OID, a critical extension of the template's own (openssl shows it critical)", () => {
    const file = join(dir, "signer.pem");
    ok(["generate", path, "--template", "signing", "--cn", "Release Signer", "--key-type", "rsa-2048", "--out", file]);
    const text = sslOk(["x509", "-in", file, "-noout", "-text", "-certopt", "ext_dump"]);
    expect(text).toContain("X509v3 Key Usage: critical\n                Digital Signature, Non Repudiation\n");
    expect(text).toContain("X509v3 Extended Key Usage: \n                Code Signing, Time Stamping, 1.3.6.1.4.1.311.10.3.13\n");
    expect(text).toContain("1.3.6.1.4.1.99999.2: critical\n                0000 - 0c 0c 64 65 70 6f 74 20-73 69 67 6e 65   ..depot signe\n                000d - 72                                       r\n");
  });

  test("token create --template: the depot's templates only, and of the token's --type", () => {
    const unknown = depot(["token", "create", path, "--name", "t1", "--template", "vpn"]);
    expect({ exitCode: unknown.exitCode, stderr: unknown.stderr }).toEqual({ exitCode: 1, stderr: "depot: no template named 'vpn' in depot.cnf; depot template list shows them\n" });
    const mismatch = depot(["token", "create", path, "--name", "t2", "--type", "client", "--template", "vpn-server"]);
    expect(mismatch.stderr).toBe("depot: --template vpn-server makes server certificates, but --type is client\n");
    ok(["token", "create", path, "--name", "vpn", "--template", "vpn-client", "--template", "vpn-server"]);
    expect(ok(["token", "list", path])).toMatch(/^vpn +active +templates vpn-client,vpn-server, any name$/m);
  });
});

describe("on a PostgreSQL ledger, across hosts", () => {
  test("a certificate issued under a template on one host shows its template on the other (show, list --json, the audit chain)", async () => {
    const db = await pgDatabase();
    const first = join(tempDir("depot-tpl-host-a-"), "ca");
    expect(depot(["init", first, "Shared CA", "--key-type", "ec-p256", "--ledger", db.url], { env: db.env }).exitCode).toBe(0);
    appendFileSync(join(first, "depot.cnf"), TEMPLATES);
    // The second host: a copy of the folder, as the README makes one.
    const second = join(tempDir("depot-tpl-host-b-"), "ca");
    const copy = Bun.spawnSync(["sh", "-c", `tar -C '${first}' -cpf - depot.cnf private certificates/ca.crt | (mkdir -m 0755 '${second}' && tar -C '${second}' -xpf -)`]);
    expect(copy.exitCode).toBe(0);
    const file = join(dir, "pg-vpn.pem");
    const issued = depot(["generate", first, "--template", "vpn-server", "--cn", "pg.vpn.example.com", "--out", file], { env: db.env });
    expect(issued.stderr).toBe("");
    const shown = depot(["show", second, serialOf(file)], { env: db.env });
    expect(shown.stdout).toContain("Type:        server\nTemplate:    vpn-server\n");
    const listed = JSON.parse(depot(["list", second, "--json"], { env: db.env }).stdout) as { template?: string }[];
    expect(listed.map((r) => r.template)).toEqual(["vpn-server"]);
    expect((await db.query<{ template: string | null }>("SELECT template FROM certificates ORDER BY type")).map((r) => r.template)).toEqual([null, "vpn-server"]);
    const audit = depot(["audit", "export", second], { env: db.env }).stdout.trim().split("\n").map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(audit.find((r) => r.event === "issue" && r.subject === "CN=pg.vpn.example.com")).toMatchObject({ template: "vpn-server", profile: "server" });
  }, 60_000);
});

describe("the encoder", () => {
  test("a template written as a built-in is encoded byte for byte as the built-in (client and server, each key family)", () => {
    // The built-ins give EC and Ed25519 keys digitalSignature alone; a template gives them what they can do of its list.
    const templates = templatesFromConfig(
      "[ template rsa-client ]\nbase = client\nkey_usage = digitalSignature, nonRepudiation, keyEncipherment\nextended_key_usage = clientAuth\n" +
        "[ template signing-client ]\nbase = client\nkey_usage = digitalSignature\nextended_key_usage = clientAuth\n" +
        "[ template like-server ]\nbase = server\nkey_usage = digitalSignature, keyEncipherment\nextended_key_usage = serverAuth, clientAuth\n",
    );
    const names = [{ type: "dns" as const, value: "www.example.com" }];
    const cases = [
      ["rsa-client", "client", "rsa"],
      ["signing-client", "client", "ec"],
      ["signing-client", "client", "ed25519"],
      ["like-server", "server", "rsa"],
      ["like-server", "server", "ec"],
      ["like-server", "server", "ed25519"],
    ] as const;
    const hex = (extensions: Uint8Array[]) => extensions.map((der) => Buffer.from(der).toString("hex"));
    for (const [name, base, family] of cases) {
      expect(`${name} ${family}: ${hex(templateExtensions(templates.get(name), family, names))}`).toBe(`${name} ${family}: ${hex(leafExtensions(base, family, names))}`);
      // The built-in template is the profile itself.
      expect(templateExtensions(templates.get(base), family, names)).toEqual(leafExtensions(base, family, names));
    }
    // An EC key keeps the nonRepudiation the built-in client drops: what it can do of the template's list.
    expect(hex(templateExtensions(templates.get("rsa-client"), "ec", []))[1]).toBe("300e0603551d0f0101ff0404030206c0");
  });

  test("a key that can do none of a template's usages is refused for it; one that can do some gets those", () => {
    const templates = templatesFromConfig("[ template enc ]\nbase = client\nkey_usage = keyEncipherment, keyAgreement\n");
    expect(() => templateExtensions(templates.get("enc"), "ed25519", [])).toThrow("template 'enc' gives key usages (keyEncipherment, keyAgreement) that an Ed25519 key cannot perform; use another key type");
    expect(Buffer.from(templateExtensions(templates.get("enc"), "ec", [])[1]!).toString("hex")).toBe(Buffer.from(new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyAgreement, true).rawData).toString("hex"));
  });

  test("keyUsage as @peculiar/x509 encodes it, for every usage alone and together (decipherOnly takes a second byte)", () => {
    const PECULIAR: Record<KeyUsageName, number> = {
      digitalSignature: x509.KeyUsageFlags.digitalSignature,
      nonRepudiation: x509.KeyUsageFlags.nonRepudiation,
      keyEncipherment: x509.KeyUsageFlags.keyEncipherment,
      dataEncipherment: x509.KeyUsageFlags.dataEncipherment,
      keyAgreement: x509.KeyUsageFlags.keyAgreement,
      keyCertSign: x509.KeyUsageFlags.keyCertSign,
      cRLSign: x509.KeyUsageFlags.cRLSign,
      encipherOnly: x509.KeyUsageFlags.encipherOnly,
      decipherOnly: x509.KeyUsageFlags.decipherOnly,
    };
    const all = Object.keys(KEY_USAGE_BITS) as KeyUsageName[];
    for (const usages of [...all.map((u) => [u]), all, ["digitalSignature", "keyAgreement", "decipherOnly"] as KeyUsageName[]]) {
      const flags = usages.reduce((sum, usage) => sum | PECULIAR[usage], 0);
      const theirs = Buffer.from(new x509.KeyUsagesExtension(flags, true).value).toString("hex");
      expect(`${usages.join(",")}: ${Buffer.from(keyUsageBits(usages)).toString("hex")}`).toBe(`${usages.join(",")}: ${theirs}`);
    }
  });

  test("ledger migrate's depot.cnf keeps the templates (configWithSettings)", () => {
    const sections = parseConfig(goodConfig);
    const rewritten = configWithSettings(sections, { label: "Template CA", path, keyType: "ec-p256", defaultDays: "365", ledger: "postgres://depot@db.example.com/depot" });
    expect(rewritten).toContain("ledger          = postgres://depot@db.example.com/depot");
    const again = templatesFromConfig(rewritten);
    expect(again.custom.map((t) => [t.name, t.base, t.days, t.allow, t.extensions.map((e) => e.oid)])).toEqual([
      ["vpn-server", "server", 825, ["*.vpn.example.com"], ["1.3.6.1.4.1.99999.1"]],
      ["vpn-client", "client", 90, ["cn:vpn-*"], []],
      ["signing", "client", undefined, [], ["1.3.6.1.4.1.99999.2"]],
    ]);
  });
});
