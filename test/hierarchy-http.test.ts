/**
 * The plain-HTTP listener of a real `depot start --http-port`, read with curl:
 * on a two-tier depot /ca serves the intermediate (the leaves' issuer, what
 * caIssuers names), /root the root, /root.crl the root's CRL for the
 * intermediate; on a one-tier depot /root is the one CA and /root.crl is 404.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { depot, DEPOT_BIN, openssl, run, succeeded, tempDir } from "./helpers.ts";
import { freePort, waitFor } from "./server-helpers.ts";

/** Runs `depot start` with a plain-HTTP port on the depot at `root`, hands `body` its base URL, then stops it. */
async function serving(root: string, body: (base: string) => Promise<void> | void): Promise<void> {
  const dir = tempDir();
  const port = freePort();
  const httpPort = freePort();
  const server = Bun.spawn(
    [DEPOT_BIN, "start", root, "--port", String(port), "--http-port", String(httpPort), "--pid-file", join(dir, "pid"), "--log-file", join(dir, "log"), "--process-count", "1"],
    { stdout: "ignore", stderr: "ignore", env: { ...process.env, HOME: dir } },
  );
  try {
    await waitFor(() => existsSync(join(dir, "log")) && readFileSync(join(dir, "log"), "utf8").includes("workers ready"), 30_000, "the server");
    await body(`http://127.0.0.1:${httpPort}`);
  } finally {
    server.kill("SIGQUIT");
    await server.exited;
  }
}

/** curl's body (to a file) and status code. */
function curl(url: string): { status: string; file: string; type: string } {
  const file = join(tempDir(), "body");
  const result = run(["curl", "-sS", "-o", file, "-w", "%{http_code} %{content_type}", url]);
  const [status = "", type = ""] = succeeded(result).split(" ");
  return { status, file, type };
}

const fingerprint = (file: string, form: "DER" | "PEM") => succeeded(openssl(["x509", "-inform", form, "-in", file, "-noout", "-fingerprint", "-sha256"])).trim();

describe("plain HTTP on a two-tier depot", () => {
  test("/ca is the intermediate, /root the root, /root.crl the root's CRL; a leaf verifies with what they serve", async () => {
    const root = join(tempDir(), "ca");
    succeeded(depot(["init", root, "Served Tiers", "--intermediate"]));
    const rootCrt = join(root, "certificates", "ca.crt");
    const intermediateCrt = join(root, "certificates", "intermediate.crt");
    const leaf = join(tempDir(), "leaf.pem");
    succeeded(depot(["generate", root, "--type", "server", "--cn", "www.example.test", "--out", leaf]));
    await serving(root, (base) => {
      const ca = curl(`${base}/ca`);
      expect([ca.status, ca.type]).toEqual(["200", "application/pkix-cert"]);
      expect(fingerprint(ca.file, "DER")).toBe(fingerprint(intermediateCrt, "PEM"));
      expect(fingerprint(curl(`${base}/ca.pem`).file, "PEM")).toBe(fingerprint(intermediateCrt, "PEM"));

      const served = curl(`${base}/root`);
      expect([served.status, served.type]).toEqual(["200", "application/pkix-cert"]);
      expect(fingerprint(served.file, "DER")).toBe(fingerprint(rootCrt, "PEM"));
      const rootPem = curl(`${base}/root.pem`);
      expect(readFileSync(rootPem.file, "utf8")).toBe(readFileSync(rootCrt, "utf8"));

      const rootCrl = curl(`${base}/root.crl`);
      expect([rootCrl.status, rootCrl.type]).toEqual(["200", "application/pkix-crl"]);
      const crlPem = join(tempDir(), "root-crl.pem");
      succeeded(openssl(["crl", "-inform", "DER", "-in", rootCrl.file, "-out", crlPem]));
      expect(readFileSync(crlPem, "utf8")).toBe(readFileSync(join(root, "root-crl.pem"), "utf8"));
      expect(readFileSync(curl(`${base}/root.crl.pem`).file, "utf8")).toBe(readFileSync(join(root, "root-crl.pem"), "utf8"));
      // The root signed it.
      const signed = openssl(["crl", "-in", crlPem, "-noout", "-CAfile", rootCrt]);
      expect((signed.stdout + signed.stderr).trim()).toBe("verify OK");

      // What the listener serves is enough: the root from /root.pem, the intermediate from /ca.pem, both CRLs.
      const leafCrl = join(tempDir(), "crl.pem");
      writeFileSync(leafCrl, readFileSync(curl(`${base}/crl.pem`).file));
      const verify = openssl(["verify", "-CAfile", rootPem.file, "-untrusted", curl(`${base}/ca.pem`).file, "-crl_check_all", "-CRLfile", leafCrl, "-CRLfile", crlPem, leaf]);
      expect((verify.stdout + verify.stderr).trim()).toBe(`${leaf}: OK`);
    });
  }, 90_000);

  test("on a one-tier depot /root is the one CA and /root.crl is 404", async () => {
    const root = join(tempDir(), "ca");
    succeeded(depot(["init", root, "One Tier"]));
    const caCrt = join(root, "certificates", "ca.crt");
    await serving(root, (base) => {
      expect(fingerprint(curl(`${base}/root`).file, "DER")).toBe(fingerprint(caCrt, "PEM"));
      expect(fingerprint(curl(`${base}/ca`).file, "DER")).toBe(fingerprint(caCrt, "PEM"));
      for (const path of ["/root.crl", "/root.crl.pem"]) {
        const answer = curl(`${base}${path}`);
        expect(answer.status).toBe("404");
        expect(readFileSync(answer.file, "utf8")).toBe(`${path}: this depot has one tier; its CA's CRL is /crl\n`);
      }
    });
  }, 90_000);
});
