/**
 * nginx mutual TLS through a two-tier depot, configured with exactly what
 * `depot config` prints: a client certificate from the intermediate is
 * accepted (with or without the intermediate sent along), a revoked one, one
 * from another depot, and none are refused; and revocation needs both CRLs
 * (nginx checks every level once it has a CRL).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { depot, openssl, pemBlocks, run, succeeded, tempDir } from "./helpers.ts";
import { ensureNginx, type RunningNginx, startNginx } from "./nginx.ts";
import { ensureTool } from "./tools.ts";

const dir = tempDir("depot-nginx-two-tier-");
const root = join(dir, "ca");
const rootCrt = join(root, "certificates", "ca.crt");
let nginx: RunningNginx | undefined;
const files: Record<string, string> = {};

/** Issues into a file (key, certificate, intermediate) and returns its path. */
function issue(depotPath: string, name: string, args: string[]): string {
  const out = join(dir, `${name}.pem`);
  succeeded(depot(["generate", depotPath, ...args, "--out", out]));
  return out;
}

/** The nginx part of `depot config`, and the shell line that makes the CRL file it names. */
function depotConfig(): { nginx: string; makeCrls: string } {
  const text = succeeded(depot(["config", root]));
  const makeCrls = /^#\s+(cat .*)$/m.exec(text)![1]!;
  const nginxPart = text.slice(text.indexOf("# nginx")).trim();
  return { nginx: nginxPart, makeCrls };
}

/** curl with a client certificate file (key and certificates in it), trusting the depot's root for the server. */
function get(clientPem?: string): { status: string; body: string } {
  const port = nginx!.port;
  const result = run(["curl", "-s", "--cacert", rootCrt, "-w", "\n%{http_code}", ...(clientPem ? ["--cert", clientPem, "--key", clientPem] : []), `https://localhost:${port}/`, "--resolve", `localhost:${port}:127.0.0.1`]);
  const lines = result.stdout.trimEnd().split("\n");
  return { status: lines.at(-1)!, body: lines.slice(0, -1).join("\n").trimEnd() };
}

beforeAll(() => {
  ensureNginx();
  ensureTool("curl", "curl");
  succeeded(depot(["init", root, "Two Tier", "--intermediate", "--key-type", "ec-p256"]));
  const other = join(dir, "other");
  succeeded(depot(["init", other, "Other", "--intermediate", "--key-type", "ec-p256"]));
  files.server = issue(root, "server", ["--type", "server", "--cn", "localhost", "--san", "127.0.0.1"]);
  files.alice = issue(root, "alice", ["--type", "client", "--cn", "Alice Example"]);
  files.mallory = issue(root, "mallory", ["--type", "client", "--cn", "Mallory Example"]);
  files.stranger = issue(other, "stranger", ["--type", "client", "--cn", "Alice Example"]);
  // Alice's key and certificate without the intermediate: nginx must find it itself.
  const [key, certificate] = pemBlocks(readFileSync(files.alice, "utf8"));
  files.aliceLeafOnly = join(dir, "alice-leaf.pem");
  writeFileSync(files.aliceLeafOnly, `${key}${certificate}`);
  const serial = succeeded(openssl(["x509", "-in", files.mallory, "-noout", "-serial"])).trim().replace("serial=", "");
  succeeded(depot(["revoke", root, serial]));
}, 600_000);

afterAll(() => nginx?.stop());

describe("nginx mutual TLS through the two tiers, as depot config says", () => {
  test("the intermediate's clients are accepted, revoked, foreign and absent ones refused", async () => {
    const config = depotConfig();
    expect(config.nginx).toContain("ssl_verify_depth 2;");
    succeeded(run(["sh", "-c", config.makeCrls]));
    nginx = await startNginx({ certificate: files.server!, directives: config.nginx });
    try {
      expect(get(files.alice)).toEqual({ status: "200", body: "hello CN=Alice Example" });
      expect(get(files.aliceLeafOnly)).toEqual({ status: "200", body: "hello CN=Alice Example" });
      expect(get(files.mallory).status).toBe("400");
      expect(get(files.stranger).status).toBe("400");
      expect(get().status).toBe("400");
    } finally {
      await nginx.stop();
    }
  }, 60_000);

  test("with the leaves' CRL alone, nginx cannot check the intermediate and refuses everyone: the root's CRL is needed", async () => {
    const config = depotConfig();
    nginx = await startNginx({ certificate: files.server!, directives: config.nginx.replace(/ssl_crl .*;/, `ssl_crl ${join(root, "crl.pem")};`) });
    try {
      expect(get(files.alice).status).toBe("400");
    } finally {
      await nginx.stop();
    }
  }, 60_000);
});
