// `depot renew --daemon` keeping a real nginx's certificate fresh: nginx serves a 1-day certificate from a running depot server; the daemon (--renew-before 2d --every 1s) renews it at once, writes the files and runs `nginx -s reload`; openssl s_client then sees the NEW serial from nginx; the daemon stops cleanly on SIGTERM.
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { Subprocess } from "bun";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { DEPOT_BIN, depotOk, drain, openssl, tempDir } from "./helpers.ts";
import { ensureNginx, type RunningNginx, startNginx } from "./nginx.ts";
import { issueThroughApi, serialOf } from "./renew-helpers.ts";
import { freePort, type RunningServer, startServer, waitFor } from "./server-helpers.ts";
import { ensureTool } from "./tools.ts";

let server: RunningServer;
let port: number;
let nginx: RunningNginx | undefined;
let daemon: Subprocess<"ignore", "pipe", "pipe"> | undefined;

beforeAll(async () => {
  ensureTool("curl", "curl");
  ensureNginx();
  port = freePort();
  server = await startServer(["--https-port", String(port), "--process-count", "1"]);
  await server.ready;
}, 120_000);

afterAll(async () => {
  daemon?.kill("SIGKILL");
  await nginx?.stop();
  server?.process.kill("SIGQUIT");
  await server?.process.exited;
});

/** The serial of the certificate nginx presents now. */
function servedSerial(caFile: string): string {
  const shown = openssl(["s_client", "-connect", `127.0.0.1:${nginx!.port}`, "-servername", "localhost", "-CAfile", caFile, "-verify_return_error"], "");
  const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(shown.stdout)?.[0];
  if (!pem) return `no certificate (${shown.stderr.trim().slice(-200)})`;
  return openssl(["x509", "-noout", "-serial"], pem).stdout.trim().replace(/^serial=/, "");
}

test("the daemon renews nginx's 1-day certificate at once, reloads nginx, and nginx serves the new serial; SIGTERM stops it", async () => {
  const dir = tempDir("depot-renew-nginx-");
  const caFile = join(server.depotPath, "certificates", "ca.crt");
  const token = depotOk(["token", "create", server.depotPath, "--name", "web", "--allow", "localhost", "--type", "server"]).trim();
  const files = issueThroughApi(port, caFile, token, { cn: "localhost", days: 1 }, dir, "web");
  nginx = await startNginx({ certificate: files.cert, key: files.key, masterProcess: true });
  expect(servedSerial(caFile)).toBe(files.serial);

  const prefix = dirname(nginx.errorLogFile);
  const reload = `nginx -p ${prefix} -c ${join(prefix, "nginx.conf")} -e ${nginx.errorLogFile} -s reload`;
  daemon = Bun.spawn(
    [DEPOT_BIN, "renew", "--daemon", "--cert", files.cert, "--key", files.key, "--server", `https://localhost:${port}`, "--ca-file", caFile, "--renew-before", "2d", "--every", "1s", "--exec", reload],
    { stdin: "ignore", stdout: "pipe", stderr: "pipe" },
  );
  const log = { text: "" };
  const logDone = drain(daemon.stderr, log);
  await waitFor(() => /--exec `nginx .*` (exited with status \d+.*)/.test(log.text), 30_000, () => `the daemon to renew and reload; its log:\n${log.text}`);
  expect(log.text).toContain(`renewed ${files.cert}: serial ${files.serial} -> `);
  expect(log.text).toContain("-s reload` exited with status 0");
  const renewed = serialOf(files.cert);
  expect(renewed).not.toBe(files.serial);
  // The master starts a new worker with the new certificate and retires the old one.
  await waitFor(() => servedSerial(caFile) === renewed, 10_000, () => `nginx to serve ${renewed}; it serves ${servedSerial(caFile)}; its log:\n${nginx!.errorLog()}`);

  // Freshly renewed, it is not renewed again at each check although --renew-before 2d exceeds its life.
  await Bun.sleep(2_500);
  expect(log.text.match(/renewed /g)?.length).toBe(1);
  expect(serialOf(files.cert)).toBe(renewed);

  daemon.kill("SIGTERM");
  expect(await daemon.exited).toBe(0);
  await logDone;
  expect(log.text).toContain("SIGTERM: stopping");
  expect(log.text.trim().split("\n").at(-1)).toEndWith("depot renew: stopped");
  expect(readFileSync(files.cert, "utf8")).toContain("BEGIN CERTIFICATE");
}, 90_000);
