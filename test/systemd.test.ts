/**
 * docs/depot.service is a unit systemd accepts, with the settings depot's
 * signals need, and its ExecStart line really runs the server: started as
 * systemd would (foreground), it serves, and the KillSignal stops it cleanly
 * within TimeoutStopSec. docs/depot.logrotate is a config logrotate accepts.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DEPOT_BIN, ROOT, run, tempDir } from "./helpers.ts";
import { freePort, request, waitFor } from "./server-helpers.ts";
import { ensureTool } from "./tools.ts";

const unitText = readFileSync(join(ROOT, "docs", "depot.service"), "utf8");
const INSTALLED_BIN = "/usr/local/bin/depot";

/** The unit's settings, `key -> values` in order (a key may repeat). */
function settings(text: string): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const line of text.split("\n")) {
    const match = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
    if (match) map.set(match[1]!, [...(map.get(match[1]!) ?? []), match[2]!]);
  }
  return map;
}
const unit = settings(unitText);
const one = (key: string) => {
  const values = unit.get(key) ?? [];
  if (values.length !== 1) throw new Error(`docs/depot.service has ${values.length} ${key}= lines, expected 1`);
  return values[0]!;
};
const execStart = one("ExecStart").split(/\s+/);

describe("docs/depot.service", () => {
  beforeAll(() => ensureTool("systemd-analyze", "systemd"), 600_000);

  test("systemd-analyze verify accepts it, with ExecStart pointing at the built binary", () => {
    const dir = tempDir();
    const path = join(dir, "depot.service");
    expect(execStart[0]).toBe(INSTALLED_BIN);
    writeFileSync(path, unitText.replace(`ExecStart=${INSTALLED_BIN} `, `ExecStart=${DEPOT_BIN} `));
    const result = run(["systemd-analyze", "verify", path]);
    expect({ exitCode: result.exitCode, stderr: result.stderr }).toEqual({ exitCode: 0, stderr: "" });
  });

  test("its encrypted-key variant (LoadCredential and --passphrase-file from the credentials folder) verifies too", () => {
    const dir = tempDir();
    const path = join(dir, "depot.service");
    const line = "# LoadCredential=depot-passphrase:/etc/depot/passphrase";
    expect(unitText).toContain(line);
    const variant = unitText
      .replace(line, line.slice(2))
      .replace(`ExecStart=${INSTALLED_BIN} `, `ExecStart=${DEPOT_BIN} `)
      .replace(/^(ExecStart=.*)$/m, "$1 --passphrase-file ${CREDENTIALS_DIRECTORY}/depot-passphrase");
    writeFileSync(path, variant);
    const result = run(["systemd-analyze", "verify", path]);
    expect({ exitCode: result.exitCode, stderr: result.stderr }).toEqual({ exitCode: 0, stderr: "" });
  });

  test("it runs the server in the foreground, reloads with HUP and stops with QUIT to the supervisor only", () => {
    expect(execStart.slice(1, 2)).toEqual(["start"]);
    expect(execStart).not.toContain("--daemon");
    expect(execStart).not.toContain("-d");
    expect(one("Type")).toBe("simple");
    expect(one("ExecReload")).toBe("/bin/kill -HUP $MAINPID");
    expect(one("KillSignal")).toBe("SIGQUIT");
    expect(one("KillMode")).toBe("mixed");
  });

  test("TimeoutStopSec outlasts the supervisor's own deadline for its workers (--timeout + 1 s)", () => {
    const timeout = Number(execStart[execStart.indexOf("--timeout") + 1]);
    expect(timeout).toBeGreaterThan(0);
    expect(Number(one("TimeoutStopSec"))).toBeGreaterThan(timeout + 1);
  });

  test("hardened, with write access only to the depot and the log, and no MemoryDenyWriteExecute (Bun's JIT)", () => {
    expect(one("NoNewPrivileges")).toBe("yes");
    expect(one("ProtectSystem")).toBe("strict");
    const writable = one("ReadWritePaths").split(/\s+/);
    const depotPath = one("Environment").replace(/^DEPOT_PATH=/, "");
    const logFile = execStart[execStart.indexOf("--log-file") + 1]!;
    for (const path of [depotPath, logFile]) expect({ path, writable: writable.some((dir) => path.startsWith(`${dir}/`)) }).toEqual({ path, writable: true });
    expect(unitText).not.toMatch(/^\s*MemoryDenyWriteExecute\s*=/m);
  });

  test("its ExecStart line serves, and QUIT stops it gracefully before TimeoutStopSec", async () => {
    // The unit's own command line, with its paths moved into a temp folder and a free port.
    const dir = tempDir();
    const port = freePort();
    const args = execStart
      .slice(1)
      .map((arg) => arg.replace(/^\/var\/lib\/depot/, join(dir, "lib")).replace(/^\/var\/log\/depot/, join(dir, "log")).replace(/^\/run\/depot/, join(dir, "run")))
      .map((arg) => (arg === "35553" ? String(port) : arg));
    for (const sub of ["lib", "log", "run"]) run(["mkdir", "-p", join(dir, sub)]);
    const depotPath = one("Environment").replace(/^DEPOT_PATH=\/var\/lib\/depot/, join(dir, "lib"));
    const server = Bun.spawn([DEPOT_BIN, ...args], { env: { ...process.env, HOME: dir, DEPOT_PATH: depotPath }, stdout: "pipe", stderr: "pipe" });
    const logFile = join(dir, "log", "depot.log");
    const log = () => (existsSync(logFile) ? readFileSync(logFile, "utf8") : "");
    try {
      await waitFor(() => /workers ready/.test(log()), 30_000, () => `the server to be ready; log:\n${log()}`);
      expect(await request(port, "help")).toContain("generate");
      expect(existsSync(join(dir, "run", "depot.pid"))).toBe(true);
      // Made on first start, where the unit's DEPOT_PATH says.
      expect(existsSync(join(depotPath, "certificates", "ca.crt"))).toBe(true);
      const started = performance.now();
      server.kill("SIGQUIT");
      const exitCode = await server.exited;
      expect({ exitCode, withinTimeoutStopSec: performance.now() - started < Number(one("TimeoutStopSec")) * 1000 }).toEqual({ exitCode: 0, withinTimeoutStopSec: true });
      expect(log()).toContain("stopping gracefully");
    } finally {
      server.kill("SIGKILL");
    }
  }, 60_000);
});

describe("docs/depot.logrotate", () => {
  beforeAll(() => ensureTool("logrotate", "logrotate"), 600_000);

  test("logrotate accepts it, for the log file the unit writes, and its postrotate sends USR1 to the pid file's process", () => {
    const text = readFileSync(join(ROOT, "docs", "depot.logrotate"), "utf8");
    const logFile = execStart[execStart.indexOf("--log-file") + 1]!;
    const pidFile = execStart[execStart.indexOf("--pid-file") + 1]!;
    expect(text).toContain(`${logFile} {`);
    expect(text).toContain(`kill -USR1 "$(cat ${pidFile})"`);
    // Rotate a temp copy for real (forced, its own state file) and check the file moved and the script ran.
    const dir = tempDir();
    const marker = join(dir, "usr1-sent");
    const config = join(dir, "depot.logrotate");
    writeFileSync(join(dir, "depot.log"), "a line\n");
    writeFileSync(
      config,
      text
        .replace(logFile, join(dir, "depot.log"))
        .replace(/^\s*su .*$/m, "")
        .replace(/^\s*create .*$/m, "    create 0640")
        .replace(/\[ -s .*$/m, `touch ${marker}`),
    );
    const result = run(["logrotate", "--force", "--state", join(dir, "state"), config]);
    expect({ exitCode: result.exitCode, stderr: result.stderr }).toEqual({ exitCode: 0, stderr: "" });
    expect(readFileSync(join(dir, "depot.log.1"), "utf8")).toBe("a line\n");
    expect(readFileSync(join(dir, "depot.log"), "utf8")).toBe("");
    expect(existsSync(marker)).toBe(true);
  });
});
