// Caddy (Debian's 2.6) serves a site on localhost whose certificate comes
// from a running dist/depot's ACME (2 workers; the issuer's `dir` and
// `trusted_roots`, as `acme_ca` and `acme_ca_root` set globally); curl
// fetches the page over TLS verified against the depot's CA.
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { Subprocess } from "bun";
import { join } from "node:path";
import { type ChallTestSrv, freePort, runAsync, type ServedAcme, startChallTestSrv, startServedAcme, writeTemp } from "./acme-clients/harness.ts";
import { tempDir } from "./helpers.ts";
import { ensureTool } from "./tools.ts";

let dns: ChallTestSrv;
let acme: ServedAcme;
let caddy: Subprocess | undefined;
let httpPort: number;
let httpsPort: number;

beforeAll(async () => {
  ensureTool("caddy", "caddy");
  ensureTool("curl", "curl");
  dns = await startChallTestSrv();
  httpPort = freePort();
  httpsPort = freePort();
  acme = await startServedAcme(["--acme-http-port", String(httpPort), "--acme-tls-port", String(httpsPort), "--acme-resolver", `127.0.0.1:${dns.dnsPort}`]);
}, 120_000);

afterAll(async () => {
  caddy?.kill();
  await caddy?.exited;
  await acme?.stop();
  dns?.stop();
});

test("Caddy gets its localhost certificate from depot; curl verifies the site against the depot CA", async () => {
  const home = tempDir("caddy-");
  const caddyfile = writeTemp(
    "Caddyfile",
    `{
  admin off
  http_port ${httpPort}
  https_port ${httpsPort}
  storage file_system ${join(home, "storage")}
  email ops@example.test
  skip_install_trust
}
localhost:${httpsPort} {
  bind 127.0.0.1
  tls {
    issuer acme {
      dir ${acme.directory}
      trusted_roots ${acme.caFile}
    }
  }
  respond "hello from caddy"
}
`,
  );
  const log = { text: "" };
  caddy = Bun.spawn(["caddy", "run", "--config", caddyfile, "--adapter", "caddyfile"], { env: { ...process.env, HOME: home, XDG_DATA_HOME: home, XDG_CONFIG_HOME: home }, stdout: "pipe", stderr: "pipe" });
  void (async () => {
    for await (const chunk of caddy!.stderr as ReadableStream<Uint8Array>) log.text += new TextDecoder().decode(chunk);
  })();
  const deadline = Date.now() + 60_000;
  let result = { exitCode: -1, stdout: "", stderr: "" };
  while (Date.now() < deadline) {
    result = await runAsync(["curl", "-sS", "--cacert", acme.caFile, "--resolve", `localhost:${httpsPort}:127.0.0.1`, `https://localhost:${httpsPort}/`]);
    if (result.exitCode === 0) break;
    await Bun.sleep(500);
  }
  if (result.exitCode !== 0) throw new Error(`curl never got the page: ${result.stderr}\ncaddy:\n${log.text.slice(-4000)}`);
  expect(result.stdout).toBe("hello from caddy");
  expect(log.text).toContain("certificate obtained successfully");
}, 120_000);
