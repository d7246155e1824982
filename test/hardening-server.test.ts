// Hardening of the server (issue 9): answers never lost to a half-close, idle
// connections that cannot deny service, `shutdown` opt-in and lossless worker
// restarts, a busy answer that arrives as a line.
import { describe, expect, test } from "bun:test";
import { chmodSync, chownSync, readFileSync, renameSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { depot, openssl, tempDir } from "./helpers.ts";
import { estabResets, request, startServer, waitFor, workerPids } from "./server-helpers.ts";

function csrPem(cn: string): string {
  const dir = tempDir("depot-csr-");
  const key = join(dir, "key.pem");
  const csr = join(dir, "csr.pem");
  const made = openssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", csr, "-subj", `/CN=${cn}`]);
  if (made.exitCode !== 0) throw new Error(made.stderr);
  return readFileSync(csr, "utf8");
}

test("a client that half-closes after its request (nc -N) gets its answer: 20 of 20 generate, 20 of 20 sign", async () => {
  const server = await startServer(["--process-count", "2"], { keyType: "rsa-2048" });
  try {
    await server.ready;
    const generated = await Promise.all(Array.from({ length: 20 }, (_, i) => request(server.port, `generate /CN=Half ${i}`, { halfClose: true })));
    expect(generated.filter((a) => a.includes("-----BEGIN PRIVATE KEY-----") && a.endsWith("-----END CERTIFICATE-----\n")).length).toBe(20);
    const csr = csrPem("Half Signed");
    const signed = await Promise.all(Array.from({ length: 20 }, () => request(server.port, `sign\n${csr}`, { raw: true, halfClose: true })));
    expect(signed.filter((a) => a.startsWith("-----BEGIN CERTIFICATE-----\n") && a.endsWith("-----END CERTIFICATE-----\n")).length).toBe(20);
  } finally {
    await server.kill();
  }
}, 60_000);

test("a request that ends at EOF without a line ending is answered as a line (printf help | nc -N)", async () => {
  const server = await startServer(["--process-count", "1"]);
  try {
    await server.ready;
    expect(await request(server.port, "help", { raw: true, halfClose: true })).toBe("crl generate help revoke shutdown sign\n");
    expect(await request(server.port, "help\r", { raw: true, halfClose: true })).toBe("crl generate help revoke shutdown sign\n");
    // sign's PEM request may end at EOF right after its END line.
    const csr = csrPem("No Newline").trimEnd();
    expect(await request(server.port, `sign\n${csr}`, { raw: true, halfClose: true })).toStartWith("-----BEGIN CERTIFICATE-----\n");
    expect(await request(server.port, `sign\n${csr.slice(0, 100)}`, { raw: true, halfClose: true })).toBe(
      "ERROR the certificate request ended before its -----END CERTIFICATE REQUEST----- line\n",
    );
    // Nothing sent at all: nothing to answer, closed.
    expect(await request(server.port, "", { raw: true, halfClose: true })).toBe("");
  } finally {
    await server.kill();
  }
});

/** Opens a connection that sends nothing, or one byte a second (slowloris); reopened when the server closes it. */
function nuisance(port: number, trickle: boolean, running: () => boolean): Promise<void> {
  return new Promise<void>((resolve) => {
    const open = () => {
      if (!running()) return resolve();
      let timer: Timer | undefined;
      Bun.connect({
        hostname: "127.0.0.1",
        port,
        socket: {
          open(socket) {
            if (trickle) timer = setInterval(() => socket.write("h"), 1000);
          },
          data() {},
          close() {
            clearInterval(timer);
            setTimeout(open, 10);
          },
          error() {
            clearInterval(timer);
          },
        },
      }).catch(() => setTimeout(open, 50));
    };
    open();
  });
}

test("200 idle and 50 trickling connections (2 workers, default options) do not stop service: every help probe answered in time", async () => {
  const server = await startServer(["--process-count", "2"]);
  try {
    await server.ready;
    let running = true;
    void [
      ...Array.from({ length: 200 }, () => nuisance(server.port, false, () => running)),
      ...Array.from({ length: 50 }, () => nuisance(server.port, true, () => running)),
    ];
    await Bun.sleep(500);
    const failures: string[] = [];
    let slowest = 0;
    const until = performance.now() + 8000; // past the 5 s first-line deadline, so the nuisances are cut off and come back
    let probes = 0;
    while (performance.now() < until) {
      const started = performance.now();
      try {
        const answer = await request(server.port, "help", { timeoutMs: 3000 });
        if (answer !== "crl generate help revoke shutdown sign\n") failures.push(answer);
      } catch (error) {
        failures.push(String(error));
      }
      slowest = Math.max(slowest, performance.now() - started);
      probes++;
      await Bun.sleep(100);
    }
    running = false;
    console.log(`${probes} probes beside 250 nuisance connections: ${failures.length} failed, slowest ${slowest.toFixed(0)} ms`);
    expect(failures).toEqual([]);
    expect(probes).toBeGreaterThan(30);
    expect(server.log()).not.toContain("internal error");
  } finally {
    await server.kill();
  }
}, 30_000);

const MIGRATE_REQ = "/proc/sys/net/ipv4/tcp_migrate_req";

test("with --allow-shutdown and tcp_migrate_req=1, a loop of shutdown requests fails none of the other clients' requests (bar two connections the kernel resets at a listener's close)", async () => {
  const original = readFileSync(MIGRATE_REQ, "utf8").trim();
  // As root (CI) the test sets it for its run; the point is the server's part, not the kernel's default.
  writeFileSync(MIGRATE_REQ, "1");
  const server = await startServer(["--process-count", "2", "--allow-shutdown"]);
  try {
    await server.ready;
    const estabResetsBefore = estabResets();
    let running = true;
    let ok = 0;
    let shutdowns = 0;
    const failures: string[] = [];
    const clients = Array.from({ length: 4 }, async () => {
      while (running) {
        try {
          const answer = await request(server.port, "help", { timeoutMs: 5000 });
          if (answer === "crl generate help revoke shutdown sign\n") ok++;
          else failures.push(answer);
        } catch (error) {
          failures.push(String(error));
        }
      }
    });
    const recycler = (async () => {
      const until = performance.now() + 5000;
      while (performance.now() < until) {
        try {
          if ((await request(server.port, "shutdown", { timeoutMs: 5000 })) === "OK\n") shutdowns++;
        } catch {
          // A shutdown that is itself refused does not matter here.
        }
        await Bun.sleep(50);
      }
    })();
    await recycler;
    running = false;
    await Promise.all(clients);
    const kinds = new Map<string, number>();
    for (const failure of failures) kinds.set(failure, (kinds.get(failure) ?? 0) + 1);
    console.log(`${shutdowns} shutdowns, ${ok} help answered, ${failures.length} failed: ${JSON.stringify(Object.fromEntries(kinds))}`);
    expect(shutdowns).toBeGreaterThan(10);
    expect(ok).toBeGreaterThan(100);
    // Every answer is right, and nothing failed but, at most twice a run, a
    // connection the kernel reset: its handshake completed on a listener in
    // the instant it closed (tcp_migrate_req moves queued connections, not
    // that one), so no process saw it. Bun reports it as a failed connect,
    // or as a close with nothing read. bench/reuseport-close.ts shows it with
    // bare Bun listeners; each one here must be in the kernel's count.
    const kernelReset = (failure: string) => failure === "Error: Failed to connect" || failure === "";
    expect(failures.filter((failure) => !kernelReset(failure))).toEqual([]);
    expect(failures.length).toBeLessThanOrEqual(2);
    expect(estabResets() - estabResetsBefore).toBeGreaterThanOrEqual(failures.length);
    await waitFor(() => workerPids(server.process.pid).length === 2, 5000, server.log);
  } finally {
    await server.kill();
    writeFileSync(MIGRATE_REQ, original);
  }
}, 30_000);

describe("pid files planted by someone else (issue 9 item 9)", () => {
  const startTimeOf = (pid: number) => readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")[19];

  test("a pid file and .json naming a live process that is not a depot supervisor, start time and all: never signalled", async () => {
    const home = tempDir();
    const pidFile = join(home, "depot.pid");
    const victim = Bun.spawn(["sleep", "30"]);
    try {
      writeFileSync(pidFile, `${victim.pid}\n`);
      writeFileSync(`${pidFile}.json`, JSON.stringify({ pid: victim.pid, startTime: startTimeOf(victim.pid), host: "127.0.0.1", port: 1, depot: "/x", workers: [] }));
      const stop = depot(["stop", "--pid-file", pidFile, "--wait", "1"]);
      expect({ exitCode: stop.exitCode, stderr: stop.stderr }).toEqual({ exitCode: 1, stderr: "depot: can't find a running server\n" });
      await Bun.sleep(100);
      expect(victim.exitCode).toBeNull();
    } finally {
      victim.kill("SIGKILL");
    }
  });

  test("a pid file owned by another user, or writable by others, is not trusted even when it names our server", async () => {
    const server = await startServer();
    try {
      await server.ready;
      chmodSync(server.pidFile, 0o666);
      const loose = depot(["stop", "--pid-file", server.pidFile]);
      expect({ exitCode: loose.exitCode, stderr: loose.stderr }).toEqual({ exitCode: 1, stderr: `depot: not trusting the pid file: ${server.pidFile} is writable by others\n` });
      chmodSync(server.pidFile, 0o644);
      chownSync(`${server.pidFile}.json`, 65534, 65534);
      const foreign = depot(["status", "--pid-file", server.pidFile]);
      expect({ exitCode: foreign.exitCode, stderr: foreign.stderr }).toEqual({ exitCode: 1, stderr: `depot: not trusting the pid file: ${server.pidFile}.json belongs to another user (uid 65534)\n` });
      expect(server.process.exitCode).toBeNull();
      chownSync(`${server.pidFile}.json`, process.getuid!(), process.getgid!());
      expect(depot(["status", "--pid-file", server.pidFile]).exitCode).toBe(0);
    } finally {
      await server.kill();
    }
  });
});

test("a log file that is a symbolic link is refused, not followed (issue 9 item 10)", () => {
  const home = tempDir();
  const target = join(home, "target");
  writeFileSync(target, "");
  const link = join(home, "depot.log");
  symlinkSync(target, link);
  const result = depot(["start", join(home, "no-such-depot"), "--port", "1", "--pid-file", join(home, "pid"), "--log-file", link], { env: { HOME: home } });
  expect({ exitCode: result.exitCode, stderr: result.stderr }).toEqual({ exitCode: 1, stderr: `depot: refusing the log file ${link}: it is a symbolic link (give the file's real path)\n` });
  expect(readFileSync(target, "utf8")).toBe("");
});

test("crl over the socket: a crl.pem that is a symbolic link to the CA key is refused without the key or a path (issue 9 item 12)", async () => {
  const server = await startServer(["--process-count", "1"]);
  try {
    await server.ready;
    const good = await request(server.port, "crl");
    expect(good).toStartWith("-----BEGIN X509 CRL-----\n");
    const crl = join(server.depotPath, "crl.pem");
    renameSync(crl, `${crl}.real`);
    symlinkSync(join(server.depotPath, "private", "ca.key"), crl);
    const answer = await request(server.port, "crl");
    expect(answer).toStartWith("ERROR ");
    expect(answer.split("\n")).toHaveLength(2);
    expect(answer).not.toContain("PRIVATE KEY");
    expect(answer).not.toContain(server.depotPath);
    expect(answer).not.toMatch(/ \//);
  } finally {
    await server.kill();
  }
});

test("the line protocol beyond loopback needs --open-line-protocol, and the refusal says why (issue 14)", () => {
  const home = tempDir();
  const args = ["start", join(home, "ca"), "--host", "0.0.0.0", "--port", "1", "--pid-file", join(home, "pid")];
  const refused = depot(args, { env: { HOME: home } });
  expect({ exitCode: refused.exitCode, stderr: refused.stderr }).toEqual({
    exitCode: 1,
    stderr: "depot: refusing to serve the line protocol on 0.0.0.0: it has no authentication, so anyone who can reach it gets certificates from this CA; add --open-line-protocol if that is what you want\n",
  });
  // With it, the next check (here: no such depot) is reached.
  const opened = depot([...args, "--open-line-protocol"], { env: { HOME: home } });
  expect(opened.stderr).not.toContain("refusing to serve the line protocol");
});

test("the same server-side failure, repeated, is logged once per burst and without a stack trace", async () => {
  const server = await startServer(["--process-count", "1"]);
  try {
    await server.ready;
    writeFileSync(join(server.depotPath, "crl.pem"), "garbage, not a CRL\n");
    const answers = new Set<string>();
    for (let i = 0; i < 30; i++) answers.add(await request(server.port, "crl"));
    expect([...answers]).toEqual(["ERROR the depot's crl.pem is not a CRL signed by this CA; publish a new one with depot crl\n"]);
    await waitFor(() => server.log().includes("request failed"), 5000, server.log);
    await Bun.sleep(300);
    const lines = server.log().split("\n").filter((line) => line.includes("crl.pem is not a CRL"));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/\| ERROR: request failed: the depot's crl\.pem is not a CRL signed by this CA; publish a new one with depot crl$/);
    expect(server.log()).not.toContain("    at ");
  } finally {
    await server.kill();
  }
});
