/**
 * `depot init --public-url` puts the URL in depot.cnf and every certificate
 * then names where to check it (AIA: OCSP and CA issuers; CDP), as openssl
 * reads them; `depot config` adds the OCSP directives for nginx and Apache;
 * `--on-crl-change` runs after each new crl.pem, in the CLI too, with its
 * exit status printed.
 */
import { expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { depot, depotOk, openssl, pemBlocks, tempDir } from "./helpers.ts";

test("certificates of a depot with a public URL carry AIA (OCSP, CA issuers) and a CRL distribution point", () => {
  const path = join(tempDir("depot-url-"), "ca");
  depotOk(["init", path, "--key-type", "ec-p256", "--public-url", "http://pki.example.com:8080/"]);
  expect(readFileSync(join(path, "depot.cnf"), "utf8")).toMatch(/^public_url\s+= http:\/\/pki\.example\.com:8080$/m);
  for (const type of ["client", "server"]) {
    const [, cert] = pemBlocks(depotOk(["generate", path, "--type", type, "--cn", "host.example.com"]));
    const file = join(path, `${type}.pem`);
    writeFileSync(file, cert!);
    const text = openssl(["x509", "-in", file, "-noout", "-text"]).stdout;
    expect(text).toContain("Authority Information Access: \n                OCSP - URI:http://pki.example.com:8080/ocsp\n                CA Issuers - URI:http://pki.example.com:8080/ca");
    expect(text).toContain("X509v3 CRL Distribution Points: \n                Full Name:\n                  URI:http://pki.example.com:8080/crl");
    expect(openssl(["x509", "-in", file, "-noout", "-ocsp_uri"]).stdout).toBe("http://pki.example.com:8080/ocsp\n");
    expect(openssl(["verify", "-CAfile", join(path, "certificates", "ca.crt"), file]).stdout).toBe(`${file}: OK\n`);
  }
});

test("without a public URL, certificates carry neither extension", () => {
  const path = join(tempDir("depot-nourl-"), "ca");
  depotOk(["init", path, "--key-type", "ec-p256"]);
  const [, cert] = pemBlocks(depotOk(["generate", path, "--type", "client", "--cn", "x"]));
  const file = join(path, "x.pem");
  writeFileSync(file, cert!);
  const text = openssl(["x509", "-in", file, "-noout", "-text"]).stdout;
  expect(text).not.toContain("Authority Information Access");
  expect(text).not.toContain("CRL Distribution Points");
});

test("a public URL that is not plain http is refused with the reason", () => {
  for (const url of ["https://pki.example.com", "ftp://x", "not a url", "http://x/?q=1"]) {
    const result = depot(["init", join(tempDir("depot-badurl-"), "ca"), "--public-url", url]);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/^depot: --public-url (must be|takes no)/);
    expect(result.stderr.split("\n").length).toBe(2);
  }
});

test("depot config adds ssl_ocsp and SSLOCSPEnable, and says why there is no ssl_ocsp_cache", () => {
  const path = join(tempDir("depot-url-config-"), "ca");
  depotOk(["init", path, "--public-url", "http://127.0.0.1:8080"]);
  const config = depotOk(["config", path]);
  const directives = config.split("\n").filter((line) => line && !line.startsWith("#"));
  expect(directives).toContain("ssl_ocsp on;");
  expect(directives).toContain("SSLOCSPEnable leaf");
  expect(directives.some((line) => line.includes("ssl_ocsp_cache"))).toBe(false);
  expect(config).toContain("# No ssl_ocsp_cache: nginx would keep a cached \"good\" answer until its nextUpdate");
  expect(directives.some((line) => line.startsWith("resolver"))).toBe(false); // an IP address needs no resolver
  const plain = join(tempDir("depot-nourl-config-"), "ca");
  depotOk(["init", plain]);
  expect(depotOk(["config", plain])).not.toContain("ssl_ocsp");
});

test("on_crl_change runs after each new crl.pem written by the CLI, with DEPOT_CRL set, and its exit status is printed", () => {
  const dir = tempDir("depot-crl-change-");
  const path = join(dir, "ca");
  const marker = join(dir, "ran");
  depotOk(["init", path, "--key-type", "ec-p256", "--on-crl-change", `echo "$DEPOT_CRL_NUMBER $DEPOT_CRL" >> ${marker}; exit 3`]);
  const [, cert] = pemBlocks(depotOk(["generate", path, "--type", "client", "--cn", "victim"]));
  const file = join(dir, "victim.pem");
  writeFileSync(file, cert!);
  const serial = openssl(["x509", "-in", file, "-noout", "-serial"]).stdout.trim().slice("serial=".length);
  const revoked = depot(["revoke", path, serial]);
  expect(revoked.exitCode).toBe(0);
  expect(revoked.stderr).toContain(`depot: on-crl-change \`echo "$DEPOT_CRL_NUMBER $DEPOT_CRL" >> ${marker}; exit 3\` (CRL 2) exited with status 3`);
  expect(readFileSync(marker, "utf8")).toBe(`2 ${join(path, "crl.pem")}\n`);
  const crl = depot(["crl", path]);
  expect(crl.stderr).toContain("(CRL 3) exited with status 3");
  expect(readFileSync(marker, "utf8")).toBe(`2 ${join(path, "crl.pem")}\n3 ${join(path, "crl.pem")}\n`);
});
