// The ACME flags are checked once, with one message per mistake, and the
// name policy means what docs/acme.md says: `*` stands for one or more
// labels, CIDRs cover addresses, an empty list allows everything.
import { describe, expect, test } from "bun:test";
import { acmeFromStartArgs, acmeSettings, parseResolver } from "../src/acme/index.ts";
import { NamePolicy } from "../src/acme/policy.ts";
import { reverseDnsName } from "../src/acme/validators.ts";

describe("flags", () => {
  test("defaults: 7 days, ports 80 and 443, 300 orders an hour, no EAB, the system resolver", () => {
    expect(acmeSettings({})).toEqual({ allow: [], days: 7, requireEab: false, ordersPerHour: 300, httpPort: 80, tlsPort: 443 });
  });

  test("--acme-resolver takes an address with an optional port", () => {
    expect(parseResolver("127.0.0.1:8053")).toBe("127.0.0.1:8053");
    expect(parseResolver("10.0.0.2")).toBe("10.0.0.2:53");
    expect(parseResolver("[::1]:5353")).toBe("[::1]:5353");
    expect(parseResolver("::1")).toBe("[::1]:53");
    expect(() => parseResolver("dns.example.com:53")).toThrow("--acme-resolver must be an IP address with an optional port (127.0.0.1:8053, [::1]:53), not 'dns.example.com:53'");
  });

  test("bad numbers and patterns are refused with the flag's name", () => {
    expect(() => acmeSettings({ days: "0" })).toThrow("--acme-days must be a whole number from 1 to 825, not '0'");
    expect(() => acmeSettings({ httpPort: "http" })).toThrow("--acme-http-port must be a whole number from 1 to 65535, not 'http'");
    expect(() => acmeSettings({ allow: ["10.0.0.0/33"] })).toThrow("'10.0.0.0/33' is not a valid CIDR");
  });
});

describe("name policy", () => {
  const policy = new NamePolicy(["*.svc.example.com", "example.org", "10.0.0.0/8", "fd00::/8"]);
  const dns = (value: string) => ({ type: "dns" as const, value });
  const ip = (value: string) => ({ type: "ip" as const, value });

  test("a DNS glob's * covers one or more labels and wildcards below it, not the bare parent", () => {
    expect(policy.allows(dns("a.svc.example.com"))).toBe(true);
    expect(policy.allows(dns("a.b.svc.example.com"))).toBe(true);
    expect(policy.allows(dns("*.svc.example.com"))).toBe(true);
    expect(policy.allows(dns("svc.example.com"))).toBe(false);
    expect(policy.allows(dns("a.svc.example.com.evil.test"))).toBe(false);
  });

  test("a name without * is exact; CIDRs cover addresses of their family", () => {
    expect(policy.allows(dns("example.org"))).toBe(true);
    expect(policy.allows(dns("www.example.org"))).toBe(false);
    expect(policy.allows(ip("10.200.3.4"))).toBe(true);
    expect(policy.allows(ip("11.0.0.1"))).toBe(false);
    expect(policy.allows(ip("fd12::1"))).toBe(true);
    expect(policy.allows(ip("::1"))).toBe(false);
  });

  test("no patterns: everything well-formed is allowed", () => {
    expect(new NamePolicy([]).allows(dns("anything.test"))).toBe(true);
  });
});

test("tls-alpn-01 for an address uses its reverse-DNS name as SNI (RFC 8738 6)", () => {
  expect(reverseDnsName("127.0.0.1")).toBe("1.0.0.127.in-addr.arpa");
  expect(reverseDnsName("2001:db8::1")).toBe("1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa");
});

test("an ARI certID holds the serial's DER content (00 before a high bit) and reads back to the ledger's form", async () => {
  const { certIdOf } = await import("../src/acme/index.ts");
  const { parseCertId } = await import("../src/acme/ari.ts");
  const { openssl, tempDir } = await import("./helpers.ts");
  const dir = tempDir();
  for (const [serial, derHex, ledger] of [["0x8a1b2c", "008a1b2c", "8a1b2c"], ["0x0a1b2c", "0a1b2c", "0a1b2c"]] as const) {
    openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", `${dir}/k.pem`, "-out", `${dir}/c.pem`, "-subj", "/CN=x", "-set_serial", serial, "-addext", "authorityKeyIdentifier=keyid:always"]);
    const id = certIdOf(await Bun.file(`${dir}/c.pem`).text());
    expect(Buffer.from(id.split(".")[1]!, "base64url").toString("hex")).toBe(derHex);
    expect(parseCertId(id).serial).toBe(ledger);
  }
});

describe("depot start's ACME flags", () => {
  test("off without --acme; --acme-* alone or --acme without HTTPS is refused", () => {
    expect(acmeFromStartArgs(["/d", "--port", "1"], true)).toBeUndefined();
    expect(() => acmeFromStartArgs(["--acme-days", "3"], true)).toThrow("--acme-days needs --acme");
    expect(() => acmeFromStartArgs(["--acme"], false)).toThrow("--acme needs --https-port (ACME is served on the HTTPS listener)");
  });
  test("repeated --acme-allow, the last of other values", () => {
    const settings = acmeFromStartArgs(["--acme", "--acme-allow", "*.a.test", "--acme-allow=10.0.0.0/8", "--acme-days", "3", "--acme-days=5", "--acme-require-eab", "--acme-resolver", "127.0.0.1:8053"], true);
    expect(settings).toEqual({ allow: ["*.a.test", "10.0.0.0/8"], days: 5, requireEab: true, ordersPerHour: 300, httpPort: 80, tlsPort: 443, resolver: "127.0.0.1:8053" });
  });
});
