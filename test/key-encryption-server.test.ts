/**
 * `depot start` on a depot whose CA key is encrypted: the passphrase is read
 * once, the decrypted key reaches the workers and the upkeep process over
 * their stdin lifelines only, respawned workers (crash, HUP, TTIN) get it
 * from the supervisor's memory, a wrong passphrase is refused before
 * anything listens, and the decrypted key is found nowhere: not in the log,
 * the depot folder, nor any process's environ or cmdline.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createPrivateKey } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { DEPOT_BIN, depot, openssl, pemBlocks, tempDir } from "./helpers.ts";
import { freePort, request, upkeepPid, waitFor, workerPids } from "./server-helpers.ts";

const PASSPHRASE = "server passphrase, typed once";

function encryptedDepot() {
  const home = tempDir("depot-enc-server-");
  const root = join(home, "ca");
  const passphraseFile = join(home, "passphrase");
  writeFileSync(passphraseFile, `${PASSPHRASE}\n`, { mode: 0o600 });
  const init = depot(["init", root, "--encrypt", "--passphrase-file", passphraseFile, "--key-type", "ec-p256"]);
  if (init.exitCode !== 0) throw new Error(init.stderr);
  return { home, root, passphraseFile, logFile: join(home, "depot.log"), pidFile: join(home, "depot.pid") };
}

function start(ca: ReturnType<typeof encryptedDepot>, port: number, extra: string[], env: Record<string, string> = {}) {
  return Bun.spawn([DEPOT_BIN, "start", ca.root, "--port", String(port), "--pid-file", ca.pidFile, "--log-file", ca.logFile, "--process-count", "2", ...extra], {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, HOME: ca.home, ...env },
  });
}

describe("depot start with an encrypted CA key", () => {
  const ca = encryptedDepot();
  const port = freePort();
  let server: ReturnType<typeof start>;
  const log = () => (existsSync(ca.logFile) ? readFileSync(ca.logFile, "utf8") : "");
  /** The decrypted key in the forms it could leak in: its PEM body, its DER base64, its DER bytes. */
  const decrypted = () => {
    const key = createPrivateKey({ key: readFileSync(join(ca.root, "private", "ca.key"), "utf8"), passphrase: PASSPHRASE });
    const der = key.export({ type: "pkcs8", format: "der" });
    const base64 = der.toString("base64");
    return { der, needles: [base64.slice(20, 60), Buffer.from(key.export({ type: "pkcs8", format: "pem" }) as string).toString("base64").slice(20, 60)] };
  };

  beforeAll(async () => {
    server = start(ca, port, ["--passphrase-env", "DEPOT_TEST_PASSPHRASE"], { DEPOT_TEST_PASSPHRASE: PASSPHRASE });
    await waitFor(() => /All 2 workers ready/.test(log()), 30_000, () => `server not ready; log:\n${log()}`);
  }, 60_000);

  afterAll(async () => {
    server.kill("SIGQUIT");
    await server.exited;
  });

  test("workers sign with the key: a generated certificate verifies against ca.crt", async () => {
    const answer = await request(port, "generate /CN=alice");
    const [, certificate] = pemBlocks(answer);
    const dir = tempDir();
    writeFileSync(join(dir, "alice.crt"), certificate!);
    expect(openssl(["verify", "-CAfile", join(ca.root, "certificates", "ca.crt"), join(dir, "alice.crt")]).stdout).toBe(`${join(dir, "alice.crt")}: OK\n`);
  });

  test("HUP's new generation, workers respawned after all were killed, and TTIN's extra one get the key from the supervisor", async () => {
    const generateWorks = async () => (await request(port, "generate /CN=bob", { timeoutMs: 5000 }).catch(() => "")).includes("-----BEGIN CERTIFICATE-----");
    process.kill(server.pid, "SIGHUP");
    await waitFor(() => /All 2 new workers ready; stopping 2 old ones/.test(log()), 30_000, () => `HUP's workers; log:\n${log()}`);
    await waitFor(() => workerPids(server.pid).length === 2, 20_000, "the old generation to exit");
    if (!(await generateWorks())) throw new Error(`no certificate after HUP; log:\n${log()}`);

    // Every worker gone at once: only respawned ones can answer.
    const killed = workerPids(server.pid);
    for (const pid of killed) process.kill(pid, "SIGKILL");
    await waitFor(() => workerPids(server.pid).filter((pid) => !killed.includes(pid)).length === 2, 20_000, "two replacement workers");
    let answered = false;
    const deadline = Date.now() + 20_000;
    while (!answered && Date.now() < deadline) {
      answered = await generateWorks();
      if (!answered) await Bun.sleep(100);
    }
    if (!answered) throw new Error(`no certificate from the respawned workers; log:\n${log()}`);

    process.kill(server.pid, "SIGTTIN");
    await waitFor(() => /TTIN: now 3 workers/.test(log()), 10_000, "TTIN");
    await waitFor(() => workerPids(server.pid).length === 3, 20_000, "a third worker");
    await Bun.sleep(1000);
    expect(log()).not.toMatch(/failed to start|keep failing/);
  }, 90_000);

  test("the decrypted key is nowhere: log, depot folder, environ and cmdline of the supervisor, workers and upkeep", () => {
    const { der, needles } = decrypted();
    const found: string[] = [];
    const look = (where: string, bytes: Buffer) => {
      if (bytes.includes(der) || needles.some((needle) => bytes.includes(needle))) found.push(where);
    };
    look("the log", Buffer.from(log()));
    const walk = (dir: string) => {
      for (const name of readdirSync(dir)) {
        const path = join(dir, name);
        if (statSync(path).isDirectory()) walk(path);
        else look(path, readFileSync(path));
      }
    };
    walk(ca.root);
    const pids = [server.pid, ...workerPids(server.pid), upkeepPid(server.pid)!];
    expect(pids.length).toBeGreaterThanOrEqual(4);
    for (const pid of pids) for (const file of ["environ", "cmdline"]) look(`/proc/${pid}/${file}`, readFileSync(`/proc/${pid}/${file}`));
    // The passphrase was in the supervisor's environment (--passphrase-env, the user's choice); its children do not inherit it.
    for (const pid of pids.slice(1)) if (readFileSync(`/proc/${pid}/environ`).includes(PASSPHRASE)) found.push(`the passphrase in /proc/${pid}/environ`);
    expect(found).toEqual([]);
  });
});

describe("depot start refuses before anything listens", () => {
  test("a wrong passphrase: one line, exit 1, no port bound, no pid file", async () => {
    const ca = encryptedDepot();
    const port = freePort();
    writeFileSync(ca.passphraseFile, "not it\n");
    const server = start(ca, port, ["--passphrase-file", ca.passphraseFile]);
    const [exitCode, stderr] = await Promise.all([server.exited, new Response(server.stderr).text()]);
    expect({ exitCode, stderr }).toEqual({ exitCode: 1, stderr: `depot: wrong passphrase for ${join(ca.root, "private", "ca.key")}\n` });
    expect(existsSync(ca.pidFile)).toBe(false);
    expect(request(port, "help", { timeoutMs: 2000 })).rejects.toThrow();
  }, 30_000);

  test("no passphrase and no terminal: it says how to give one", async () => {
    const ca = encryptedDepot();
    const server = start(ca, freePort(), []);
    const [exitCode, stderr] = await Promise.all([server.exited, new Response(server.stderr).text()]);
    expect({ exitCode, stderr }).toEqual({ exitCode: 1, stderr: "depot: no terminal to ask for the CA key passphrase: give it in a file or an environment variable (see --help)\n" });
  }, 30_000);

  test("--daemon with --passphrase-file: the background server gets the key over its stdin and serves", async () => {
    const ca = encryptedDepot();
    const port = freePort();
    const started = start(ca, port, ["--daemon", "--passphrase-file", ca.passphraseFile]);
    const [exitCode, stdout] = await Promise.all([started.exited, new Response(started.stdout).text()]);
    const pid = existsSync(ca.pidFile) ? Number(readFileSync(ca.pidFile, "utf8").trim()) : 0;
    try {
      expect({ exitCode, stdout: stdout.slice(0, 31) }).toEqual({ exitCode: 0, stdout: "depot started in the background" });
      expect(await request(port, "generate /CN=carol")).toContain("-----BEGIN CERTIFICATE-----");
      for (const each of [pid, ...workerPids(pid)]) expect(readFileSync(`/proc/${each}/cmdline`, "utf8")).not.toContain("BEGIN");
    } finally {
      // Stopped whatever happened above: a daemon left running would outlive the test.
      if (pid > 0) {
        process.kill(pid, "SIGQUIT");
        await waitFor(() => !existsSync(`/proc/${pid}`), 20_000, "the daemon to stop");
      }
    }
  }, 60_000);
});
