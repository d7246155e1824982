/**
 * OCSP on a two-tier depot: a real `depot start --http-port` answers for the
 * leaves as their issuer, the intermediate (responder ID = the intermediate's
 * key), and `openssl ocsp` trusting only the root verifies the answers; a
 * request naming the root as the leaves' issuer is not this responder's.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { depot, DEPOT_BIN, openssl, succeeded, tempDir } from "./helpers.ts";
import { freePort, waitFor } from "./server-helpers.ts";

describe("OCSP on a two-tier depot", () => {
  test("the intermediate answers for its leaves (good and revoked), verified with only the root trusted", async () => {
    const root = join(tempDir(), "ca");
    succeeded(depot(["init", root, "Ocsp Tiers", "--intermediate"]));
    const rootCrt = join(root, "certificates", "ca.crt");
    const intermediateCrt = join(root, "certificates", "intermediate.crt");
    const good = join(tempDir(), "good.pem");
    const revoked = join(tempDir(), "revoked.pem");
    succeeded(depot(["generate", root, "--type", "server", "--cn", "good.example.test", "--out", good]));
    succeeded(depot(["generate", root, "--type", "server", "--cn", "revoked.example.test", "--out", revoked]));
    const serial = succeeded(openssl(["x509", "-in", revoked, "-noout", "-serial"])).trim().replace(/^serial=/, "");
    succeeded(depot(["revoke", root, serial, "--reason", "keyCompromise"]));
    const intermediateKeyId = succeeded(openssl(["x509", "-in", intermediateCrt, "-noout", "-ext", "subjectKeyIdentifier"])).split("\n")[1]!.trim().replaceAll(":", "");

    const dir = tempDir();
    const httpPort = freePort();
    const server = Bun.spawn(
      [DEPOT_BIN, "start", root, "--port", String(freePort()), "--http-port", String(httpPort), "--pid-file", join(dir, "pid"), "--log-file", join(dir, "log"), "--process-count", "1"],
      { stdout: "ignore", stderr: "ignore", env: { ...process.env, HOME: dir } },
    );
    try {
      await waitFor(() => existsSync(join(dir, "log")) && readFileSync(join(dir, "log"), "utf8").includes("workers ready"), 30_000, "the server");
      const ask = (leaf: string, issuer: string) => {
        const result = openssl(["ocsp", "-issuer", issuer, "-cert", leaf, "-url", `http://127.0.0.1:${httpPort}/ocsp`, "-CAfile", rootCrt, "-resp_text"]);
        return result.stdout + result.stderr;
      };
      const goodAnswer = ask(good, intermediateCrt);
      expect(goodAnswer).toContain("Response verify OK");
      expect(goodAnswer).toContain(`${good}: good`);
      expect(goodAnswer).toContain(`Responder Id: ${intermediateKeyId}`);
      const revokedAnswer = ask(revoked, intermediateCrt);
      expect(revokedAnswer).toContain("Response verify OK");
      expect(revokedAnswer).toContain(`${revoked}: revoked`);
      expect(revokedAnswer).toContain("Revocation Reason: keyCompromise");
      // The root did not issue the leaf: a CertID naming it is not the intermediate's to answer.
      expect(ask(good, rootCrt).trim()).toBe("Responder Error: unauthorized (6)");
    } finally {
      server.kill("SIGQUIT");
      await server.exited;
    }
  }, 90_000);
});
