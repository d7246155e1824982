/**
 * `depot init --intermediate` makes two tiers: ca.crt is a root that clients
 * trust, and an intermediate (pathLen 0) signed by it issues everything;
 * openssl verifies every profile and key type through the chain, revocation
 * works through both tiers' CRLs, name constraints hold, and the depot keeps
 * working when the root key has left the machine.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { KEY_SPECS, type KeyType } from "../src/ca/key-types.ts";
import { depot, DEPOT_BIN, openssl, pemBlocks, succeeded, tempDir } from "./helpers.ts";
import { freePort, request, waitFor } from "./server-helpers.ts";

function twoTier(args: string[] = []) {
  const root = join(tempDir(), "ca");
  succeeded(depot(["init", root, "Two Tier", "--intermediate", ...args]));
  const paths = {
    root,
    rootCrt: join(root, "certificates", "ca.crt"),
    intermediateCrt: join(root, "certificates", "intermediate.crt"),
    crl: join(root, "crl.pem"),
    rootCrl: join(root, "root-crl.pem"),
  };
  /** Issues a certificate into a file and returns its path. */
  const issue = (profile: "client" | "server", cn: string, extra: string[] = []) => {
    const out = join(tempDir(), `${profile}.pem`);
    succeeded(depot(["generate", root, "--type", profile, "--cn", cn, "--out", out, ...extra]));
    return out;
  };
  /** `openssl verify` with the root trusted and the intermediate as the untrusted chain; its whole output. */
  const verify = (leaf: string, extra: string[] = []) => {
    const result = openssl(["verify", "-CAfile", paths.rootCrt, "-untrusted", paths.intermediateCrt, ...extra, leaf]);
    return (result.stdout + result.stderr).trim();
  };
  return { ...paths, issue, verify };
}

const text = (pem: string) => succeeded(openssl(["x509", "-in", pem, "-noout", "-text"]));
const subjectOf = (pem: string) => succeeded(openssl(["x509", "-in", pem, "-noout", "-subject", "-nameopt", "RFC2253"])).trim().replace(/^subject=/, "");
const issuerOf = (pem: string) => succeeded(openssl([pem.endsWith("crl.pem") ? "crl" : "x509", "-in", pem, "-noout", "-issuer", "-nameopt", "RFC2253"])).trim().replace(/^issuer=/, "");

describe("depot init --intermediate", () => {
  test.each(Object.keys(KEY_SPECS) as KeyType[])("%s: client and server certificates come from the intermediate and verify through it to the root", (keyType) => {
    const ca = twoTier(["--key-type", keyType]);
    expect(issuerOf(ca.rootCrt)).toBe(subjectOf(ca.rootCrt)); // self-signed root
    expect(issuerOf(ca.intermediateCrt)).toBe(subjectOf(ca.rootCrt));
    for (const [profile, cn] of [
      ["client", "Bob Owner"],
      ["server", "www.example.test"],
    ] as const) {
      const leaf = ca.issue(profile, cn);
      expect(issuerOf(leaf)).toBe(subjectOf(ca.intermediateCrt));
      expect(ca.verify(leaf)).toBe(`${leaf}: OK`);
      // Without the intermediate, the root alone does not vouch for it.
      expect(openssl(["verify", "-CAfile", ca.rootCrt, leaf]).exitCode).not.toBe(0);
    }
  }, 120_000);

  test("the intermediate is a CA with pathLenConstraint 0 that signs certificates and CRLs; ca.crt stays the self-signed root", () => {
    const ca = twoTier();
    const intermediate = text(ca.intermediateCrt);
    expect(intermediate).toMatch(/X509v3 Basic Constraints: critical\n\s+CA:TRUE, pathlen:0\n/);
    expect(intermediate).toMatch(/X509v3 Key Usage: critical\n\s+Digital Signature, Certificate Sign, CRL Sign\n/);
    expect(subjectOf(ca.intermediateCrt)).toBe("CN=Two Tier Intermediate CA,O=Two Tier");
    expect(subjectOf(ca.rootCrt)).toBe("CN=Two Tier,O=Two Tier");
    // The intermediate cannot make another CA below it.
    expect(text(ca.rootCrt)).toMatch(/CA:TRUE\n/);
    const listed = succeeded(depot(["list", ca.root, "--all"]));
    expect(listed.match(/ ca /g)).toHaveLength(2);
  }, 60_000);

  test("revocation through both tiers: the intermediate's CRL lists the leaf, the root's CRL vouches for the intermediate (openssl -crl_check_all)", () => {
    const ca = twoTier();
    const kept = ca.issue("client", "Kept");
    const revoked = ca.issue("client", "Revoked");
    const serial = succeeded(openssl(["x509", "-in", revoked, "-noout", "-serial"])).trim().replace("serial=", "");
    succeeded(depot(["revoke", ca.root, serial]));
    expect(issuerOf(ca.crl)).toBe(subjectOf(ca.intermediateCrt));
    expect(issuerOf(ca.rootCrl)).toBe(subjectOf(ca.rootCrt));
    const crls = ["-crl_check_all", "-CRLfile", ca.crl, "-CRLfile", ca.rootCrl];
    expect(ca.verify(kept, crls)).toBe(`${kept}: OK`);
    expect(ca.verify(revoked, crls)).toContain("certificate revoked");
    // Without the root's CRL, a full check cannot vouch for the intermediate.
    expect(ca.verify(kept, ["-crl_check_all", "-CRLfile", ca.crl])).toContain("unable to get certificate CRL");
  }, 60_000);

  test("name constraints: a name outside --permit-dns or --permit-ip fails openssl verify", () => {
    const dns = twoTier(["--permit-dns", ".example.com"]);
    const inside = dns.issue("server", "www.example.com");
    expect(dns.verify(inside)).toBe(`${inside}: OK`);
    expect(dns.verify(dns.issue("server", "www.example.org"))).toContain("permitted subtree violation");
    expect(dns.verify(dns.issue("server", "api.example.com", ["--san", "evil.example.net"]))).toContain("permitted subtree violation");
    expect(text(dns.intermediateCrt)).toMatch(/X509v3 Name Constraints: critical\n\s+Permitted:\n\s+DNS:example.com\n/);

    const ip = twoTier(["--permit-ip", "10.0.0.0/8"]);
    const inRange = ip.issue("server", "10.1.2.3");
    expect(ip.verify(inRange)).toBe(`${inRange}: OK`);
    expect(ip.verify(ip.issue("server", "192.168.1.1"))).toContain("permitted subtree violation");

    const bad = depot(["init", join(tempDir(), "ca"), "--intermediate", "--permit-ip", "10.0.0.0"]);
    expect(bad.stderr).toBe("depot: --permit-ip '10.0.0.0' is not an address range like 10.0.0.0/8 or 2001:db8::/32\n");
    const without = depot(["init", join(tempDir(), "ca"), "--permit-dns", ".example.com"]);
    expect(without.stderr).toBe("depot: --intermediate-days, --permit-dns and --permit-ip go with --intermediate\n");
  }, 60_000);

  test("with --encrypt both keys are encrypted under the passphrase, and the depot issues with it", () => {
    const file = join(tempDir(), "passphrase");
    writeFileSync(file, "two tier secret\n", { mode: 0o600 });
    const ca = twoTier(["--encrypt", "--passphrase-file", file]);
    for (const key of ["ca.key", "root.key"]) expect(readFileSync(join(ca.root, "private", key), "utf8")).toStartWith("-----BEGIN ENCRYPTED PRIVATE KEY-----\n");
    const leaf = ca.issue("server", "www.example.test", ["--passphrase-file", file]);
    expect(ca.verify(leaf)).toBe(`${leaf}: OK`);
  }, 30_000);

  test("depot key encrypt and decrypt convert both keys of a two-tier depot", () => {
    const ca = twoTier();
    const file = join(tempDir(), "passphrase");
    writeFileSync(file, "both keys\n", { mode: 0o600 });
    const keys = ["ca.key", "root.key"].map((name) => join(ca.root, "private", name));
    expect(succeeded(depot(["key", "encrypt", ca.root, "--passphrase-file", file]))).toContain(`Encrypted ${keys[0]}\nEncrypted ${keys[1]}\n`);
    for (const key of keys) expect(readFileSync(key, "utf8")).toStartWith("-----BEGIN ENCRYPTED PRIVATE KEY-----\n");
    succeeded(depot(["root", "crl", ca.root, "--passphrase-file", file]));
    succeeded(depot(["key", "decrypt", ca.root, "--passphrase-file", file]));
    for (const key of keys) expect(readFileSync(key, "utf8")).toStartWith("-----BEGIN PRIVATE KEY-----\n");
    expect(ca.verify(ca.issue("client", "Plain Again"))).toEndWith(": OK");
  }, 60_000);

  test("with the root key gone from the machine, the depot still issues, revokes and publishes its CRL", () => {
    const ca = twoTier();
    rmSync(join(ca.root, "private", "root.key"));
    const leaf = ca.issue("server", "www.example.test");
    expect(ca.verify(leaf)).toBe(`${leaf}: OK`);
    const serial = succeeded(openssl(["x509", "-in", leaf, "-noout", "-serial"])).trim().replace("serial=", "");
    succeeded(depot(["revoke", ca.root, serial]));
    succeeded(depot(["crl", ca.root]));
    expect(ca.verify(leaf, ["-crl_check_all", "-CRLfile", ca.crl, "-CRLfile", ca.rootCrl])).toContain("certificate revoked");
  }, 60_000);

  test("the root key leaves: root export (encrypted), root remove checks the copy; root crl and intermediate renew work from the copy", () => {
    const ca = twoTier(["--permit-dns", ".example.com"]);
    const dir = tempDir();
    const file = join(dir, "passphrase");
    writeFileSync(file, "offline root\n", { mode: 0o600 });
    const exported = join(dir, "root.key");
    succeeded(depot(["root", "export", ca.root, "--out", exported, "--passphrase-file", file]));
    expect(readFileSync(exported, "utf8")).toStartWith("-----BEGIN ENCRYPTED PRIVATE KEY-----\n");
    expect(statSync(exported).mode & 0o777).toBe(0o600);
    succeeded(openssl(["pkey", "-in", exported, "-passin", `file:${file}`, "-noout"]));

    // A copy that is not the root's key is refused, and nothing is removed.
    const stranger = join(dir, "stranger.key");
    succeeded(openssl(["genpkey", "-algorithm", "ed25519", "-out", stranger]));
    expect(depot(["root", "remove", ca.root, "--root-key", stranger]).stderr).toBe(`depot: ${stranger} is not the key of the root ${ca.rootCrt}\n`);
    succeeded(depot(["root", "remove", ca.root, "--root-key", exported, "--passphrase-file", file]));
    expect(readdirSync(join(ca.root, "private"))).toEqual(["ca.key"]);

    expect(depot(["root", "crl", ca.root]).stderr).toBe(`depot: the root key is not in the depot (${join(ca.root, "private", "root.key")}); give it with --root-key FILE\n`);
    expect(succeeded(depot(["root", "crl", ca.root, "--root-key", exported, "--passphrase-file", file]))).toBe(`Root CRL number 2 written to ${ca.rootCrl}\n`);
    const before = readFileSync(ca.intermediateCrt, "utf8");
    succeeded(depot(["intermediate", "renew", ca.root, "--root-key", exported, "--passphrase-file", file, "--days", "100"]));
    expect(readFileSync(ca.intermediateCrt, "utf8")).not.toBe(before);
    // Same key, same constraints, new validity: leaves made before and after verify.
    expect(text(ca.intermediateCrt)).toMatch(/X509v3 Name Constraints: critical\n\s+Permitted:\n\s+DNS:example.com\n/);
    const leaf = ca.issue("server", "www.example.com", ["--days", "30"]);
    expect(ca.verify(leaf, ["-crl_check_all", "-CRLfile", ca.crl, "-CRLfile", ca.rootCrl])).toBe(`${leaf}: OK`);
    const notAfter = new Date(succeeded(openssl(["x509", "-in", ca.intermediateCrt, "-noout", "-enddate"])).trim().replace("notAfter=", ""));
    expect(Math.round((notAfter.getTime() - Date.now()) / 86_400_000)).toBe(100);
  }, 60_000);

  test("root and intermediate commands on a one-tier depot say it has one tier", () => {
    const root = join(tempDir(), "ca");
    succeeded(depot(["init", root]));
    const expected = `depot: ${root} has one tier: it has no root apart from its CA (make one with init --intermediate)\n`;
    expect(depot(["root", "crl", root]).stderr).toBe(expected);
    expect(depot(["intermediate", "renew", root]).stderr).toBe(expected);
  });

  test("generate and sign print the intermediate after the certificate; so does the server's generate answer", async () => {
    const ca = twoTier();
    const intermediate = readFileSync(ca.intermediateCrt, "utf8");
    const [key, certificate, chain, ...rest] = pemBlocks(readFileSync(ca.issue("server", "www.example.test"), "utf8"));
    expect({ key: key!.split("\n")[0], chain, rest }).toEqual({ key: "-----BEGIN PRIVATE KEY-----", chain: intermediate, rest: [] });
    expect(issuerOf(writeTemp(certificate!))).toBe(subjectOf(ca.intermediateCrt));

    const dir = tempDir();
    succeeded(openssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=carol", "-keyout", join(dir, "k.pem"), "-out", join(dir, "r.csr")]));
    expect(pemBlocks(succeeded(depot(["sign", ca.root, "--type", "client", "--csr", join(dir, "r.csr")])))[1]).toBe(intermediate);

    const port = freePort();
    const server = Bun.spawn([DEPOT_BIN, "start", ca.root, "--port", String(port), "--pid-file", join(dir, "pid"), "--log-file", join(dir, "log"), "--process-count", "1"], { stdout: "ignore", stderr: "ignore", env: { ...process.env, HOME: dir } });
    try {
      await waitFor(() => existsSync(join(dir, "log")) && readFileSync(join(dir, "log"), "utf8").includes("workers ready"), 30_000, "the server");
      const blocks = pemBlocks(await request(port, "generate /CN=dave"));
      expect(blocks).toHaveLength(3);
      expect(blocks[2]).toBe(intermediate);
      expect(ca.verify(writeTemp(blocks[1]!))).toEndWith(": OK");
    } finally {
      server.kill("SIGQUIT");
      await server.exited;
    }
  }, 60_000);
});

function writeTemp(pem: string): string {
  const path = join(tempDir(), "cert.pem");
  writeFileSync(path, pem);
  return path;
}
