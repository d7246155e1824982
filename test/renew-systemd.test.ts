// docs/depot-renew.service is a unit systemd accepts, and its ExecStart line is one `depot renew` takes: run as written (with the files it names missing), it gets past its options and stops at once on the missing certificate, saying so, rather than retrying in the background.
import { expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DEPOT_BIN, ROOT, run, tempDir } from "./helpers.ts";
import { ensureTool } from "./tools.ts";

const unitText = readFileSync(join(ROOT, "docs", "depot-renew.service"), "utf8");
const INSTALLED_BIN = "/usr/local/bin/depot";
const execStart = /^ExecStart=(.*)$/m.exec(unitText)![1]!;

/** The words of ExecStart as systemd splits them (double quotes group). */
function words(line: string): string[] {
  return [...line.matchAll(/"([^"]*)"|(\S+)/g)].map((match) => match[1] ?? match[2]!);
}

test("systemd-analyze verify accepts docs/depot-renew.service, with ExecStart pointing at the built binary", () => {
  ensureTool("systemd-analyze", "systemd");
  expect(execStart.startsWith(`${INSTALLED_BIN} renew --daemon `)).toBe(true);
  const path = join(tempDir(), "depot-renew.service");
  writeFileSync(path, unitText.replace(`ExecStart=${INSTALLED_BIN} `, `ExecStart=${DEPOT_BIN} `));
  const result = run(["systemd-analyze", "verify", path]);
  expect({ exitCode: result.exitCode, stderr: result.stderr }).toEqual({ exitCode: 0, stderr: "" });
});

test("its ExecStart options are depot renew's; a missing certificate stops the daemon at once with the reason", () => {
  const [, ...args] = words(execStart);
  expect(args).toContain("systemctl reload nginx");
  // The CA file is read first: give one that exists, so the certificate is what is missing.
  const caFile = join(tempDir(), "depot-ca.crt");
  writeFileSync(caFile, "-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n");
  const result = run([DEPOT_BIN, ...args.map((arg) => (arg === "/etc/nginx/tls/depot-ca.crt" ? caFile : arg))]);
  expect(result.exitCode).toBe(1);
  expect(result.stderr).toContain("cannot read a certificate from /etc/nginx/tls/www.crt");
});
