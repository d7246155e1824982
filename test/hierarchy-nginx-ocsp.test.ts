/**
 * nginx mutual TLS through a two-tier depot with a public URL, configured
 * with exactly the nginx directives `depot config` prints (both CRLs,
 * `ssl_verify_depth 2`, `ssl_ocsp leaf`): a client is accepted, and refused
 * on its next connection once revoked, without a reload or a new CRL file,
 * because nginx asks a real `depot start --http-port` over OCSP.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { depot, DEPOT_BIN, openssl, run, succeeded, tempDir } from "./helpers.ts";
import { ensureNginx, type RunningNginx, startNginx } from "./nginx.ts";
import { freePort, waitFor } from "./server-helpers.ts";
import { ensureTool } from "./tools.ts";

const dir = tempDir("depot-nginx-ocsp-two-tier-");
const root = join(dir, "ca");
const rootCrt = join(root, "certificates", "ca.crt");
const httpPort = freePort();
let depotServer: ReturnType<typeof Bun.spawn> | undefined;
let nginx: RunningNginx | undefined;
const files = { server: "", alice: "", bob: "" };

function issue(name: string, args: string[]): string {
  const out = join(dir, `${name}.pem`);
  succeeded(depot(["generate", root, ...args, "--out", out]));
  return out;
}

/** The nginx directives of `depot config` (lines beginning `ssl_` or `resolver`), and the line that makes the CRL file. */
function depotConfig(): { nginx: string; makeCrls: string } {
  const text = succeeded(depot(["config", root]));
  return {
    nginx: text.split("\n").filter((line) => /^(ssl_|resolver )/.test(line)).join("\n"),
    makeCrls: /^#\s+(cat .*)$/m.exec(text)![1]!,
  };
}

function statusOf(clientPem: string): string {
  const port = nginx!.port;
  return run(["curl", "-s", "-o", "/dev/null", "--cacert", rootCrt, "-w", "%{http_code}", "--cert", clientPem, "--key", clientPem, `https://localhost:${port}/`, "--resolve", `localhost:${port}:127.0.0.1`]).stdout;
}

beforeAll(async () => {
  ensureNginx();
  ensureTool("curl", "curl");
  succeeded(depot(["init", root, "Ocsp Two Tier", "--intermediate", "--key-type", "ec-p256", "--public-url", `http://127.0.0.1:${httpPort}`]));
  files.server = issue("server", ["--type", "server", "--cn", "localhost", "--san", "127.0.0.1"]);
  files.alice = issue("alice", ["--type", "client", "--cn", "Alice Example"]);
  files.bob = issue("bob", ["--type", "client", "--cn", "Bob Example"]);
  const home = join(dir, "home");
  mkdirSync(home);
  depotServer = Bun.spawn(
    [DEPOT_BIN, "start", root, "--port", String(freePort()), "--http-port", String(httpPort), "--pid-file", join(home, "pid"), "--log-file", join(home, "log"), "--process-count", "1"],
    { stdout: "ignore", stderr: "ignore", env: { ...process.env, HOME: home } },
  );
  await waitFor(() => existsSync(join(home, "log")) && readFileSync(join(home, "log"), "utf8").includes("workers ready"), 30_000, "the depot server");
}, 600_000);

afterAll(async () => {
  await nginx?.stop();
  depotServer?.kill("SIGQUIT");
  await depotServer?.exited;
});

describe("nginx with ssl_ocsp through the two tiers, as depot config says", () => {
  test("depot config says ssl_ocsp leaf and ssl_verify_depth 2; a client revoked while nginx runs is refused on its next connection", async () => {
    const config = depotConfig();
    expect(config.nginx).toContain("ssl_verify_depth 2;");
    expect(config.nginx).toContain("ssl_ocsp leaf;");
    expect(config.nginx).not.toContain("ssl_ocsp on;");
    succeeded(run(["sh", "-c", config.makeCrls]));
    nginx = await startNginx({ certificate: files.server, directives: config.nginx });
    try {
      expect(statusOf(files.alice)).toBe("200");
      expect(statusOf(files.bob)).toBe("200");
      const serial = succeeded(openssl(["x509", "-in", files.bob, "-noout", "-serial"])).trim().replace("serial=", "");
      succeeded(depot(["revoke", root, serial]));
      // No reload, no new CRL file: only OCSP can tell nginx.
      expect(statusOf(files.bob)).toBe("400");
      expect(statusOf(files.alice)).toBe("200");
    } finally {
      await nginx.stop();
    }
  }, 60_000);

  test("with ssl_ocsp on, nginx asks about the intermediate too, which names no responder: everyone is refused", async () => {
    const config = depotConfig();
    nginx = await startNginx({ certificate: files.server, directives: config.nginx.replace("ssl_ocsp leaf;", "ssl_ocsp on;") });
    try {
      expect(statusOf(files.alice)).toBe("400");
    } finally {
      await nginx.stop();
    }
  }, 60_000);
});
