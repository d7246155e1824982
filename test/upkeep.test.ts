// Upkeep while the server runs: the CRL is re-signed before it expires; files a crash lost are restored.
import { expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createDepot } from "../src/ca/create.ts";
import { buildCrl } from "../src/ca/crl.ts";
import { Depot } from "../src/ca/depot.ts";
import { parseDn } from "../src/ca/dn.ts";
import { DEPOT_BIN, openssl, tempDir } from "./helpers.ts";
import { freePort, request, startServer, waitFor, workerPids } from "./server-helpers.ts";

const DAY = 86_400_000;

/** `depot start` on a depot a test prepared (startServer makes its own), with its log readable. */
function serveDepot(root: string, home: string) {
  const logFile = join(home, "depot.log");
  const server = Bun.spawn([DEPOT_BIN, "start", root, "--port", String(freePort()), "--pid-file", join(home, "pid"), "--log-file", logFile], {
    stdout: "ignore",
    stderr: "ignore",
    env: { ...process.env, HOME: home },
  });
  return {
    log: () => (existsSync(logFile) ? readFileSync(logFile, "utf8") : ""),
    kill: async () => {
      server.kill("SIGKILL");
      await server.exited;
    },
  };
}

test("a running server re-signs, at start, a CRL that is past half its life", async () => {
  const home = tempDir();
  const root = await createDepot(join(home, "old-crl"), { keyType: "ec-p256" });
  // A CRL signed 13 hours ago with one day of validity: 11 hours left.
  const opened = await Depot.open(root);
  const now = Date.now();
  const thisUpdate = new Date(now - 13 * 3_600_000);
  const nextUpdate = new Date(now + 11 * 3_600_000);
  writeFileSync(join(root, "crl.pem"), await buildCrl(opened.issuer, 5, [], thisUpdate, nextUpdate));
  opened.close();
  // The ledger records what it published; make it say the same (as if 13 hours had passed).
  const ledger = new Database(join(root, "ledger.sqlite3"));
  ledger.run("UPDATE counters SET value = ? WHERE name = 'crl_this_update'", [thisUpdate.getTime()]);
  ledger.run("UPDATE counters SET value = ? WHERE name = 'crl_next_update'", [nextUpdate.getTime()]);
  ledger.close();
  const { log, kill } = serveDepot(root, home);
  try {
    await waitFor(() => log().includes("published CRL"), 10_000, log);
    expect(log()).toContain("published CRL 2 (0 revoked)");
    // The new CRL is valid for the depot's 7 days from now.
    const text = openssl(["crl", "-in", join(root, "crl.pem"), "-noout", "-nextupdate"]).stdout.trim();
    const nextUpdate = new Date(text.replace("nextUpdate=", "")).getTime();
    expect(Math.abs(nextUpdate - (Date.now() + 7 * DAY))).toBeLessThan(120_000);
  } finally {
    await kill();
  }
});

test("a quiet server's upkeep still publishes a revocation another process recorded without publishing it", async () => {
  const home = tempDir();
  const root = await createDepot(join(home, "quiet"), { keyType: "ec-p256" });
  const issuing = await Depot.open(root);
  const issued = await issuing.issue({ profile: "server", subject: parseDn("/CN=quiet.example"), subjectAltNames: ["quiet.example"], keyType: "ec-p256" });
  issuing.close();
  const { log, kill } = serveDepot(root, home);
  try {
    await waitFor(() => log().includes("workers ready"), 10_000, log);
    // Long enough for the upkeep's turns to find the ledger unchanged and skip their ledger work.
    await Bun.sleep(1_500);
    const revoking = await Depot.open(root);
    await revoking.revoke(issued.serial, "keyCompromise", { publish: false });
    revoking.close();
    const listed = () => openssl(["crl", "-in", join(root, "crl.pem"), "-noout", "-text"]).stdout.toUpperCase().includes(issued.serial.toUpperCase());
    await waitFor(listed, 5_000, () => `crl.pem does not list ${issued.serial}; log:\n${log()}`);
  } finally {
    await kill();
  }
});

test("after a worker is killed, the upkeep process restores certificate files missing from the depot", async () => {
  const server = await startServer(["--process-count", "2"]);
  try {
    await server.ready;
    const answer = await request(server.port, "generate /CN=lost-file");
    const serial = /serial=([0-9A-F]+)/.exec(openssl(["x509", "-noout", "-serial"], answer.slice(answer.indexOf("-----BEGIN CERTIFICATE-----"))).stdout)![1]!;
    const file = join(server.depotPath, "certificates", `${BigInt(`0x${serial}`)}.crt`);
    expect(existsSync(file)).toBe(true);
    // As if a worker had died before writing a deferred file.
    rmSync(file);
    const [victim] = workerPids(server.process.pid);
    process.kill(victim!, "SIGKILL");
    await waitFor(() => server.log().includes("restored 1 certificate file(s) from the ledger after a worker crash"), 10_000, () => server.log());
    expect(readFileSync(file, "utf8")).toBe(answer.slice(answer.indexOf("-----BEGIN CERTIFICATE-----")));
  } finally {
    await server.kill();
  }
});

test("at start, files a crash lost are restored after the workers are ready: start-up does not wait for the comparison", async () => {
  const home = tempDir();
  const root = await createDepot(join(home, "gaps"), { keyType: "ec-p256" });
  const opened = await Depot.open(root);
  const issued: Awaited<ReturnType<Depot["issue"]>>[] = [];
  for (const name of ["kept", "lost-1", "lost-2"]) issued.push(await opened.issue({ profile: "client", subject: parseDn(`CN=${name}`) }));
  opened.close();
  const files = issued.map((c) => join(root, "certificates", `${BigInt(`0x${c.serial}`)}.crt`));
  rmSync(files[1]!);
  rmSync(files[2]!);
  const { log, kill } = serveDepot(root, home);
  try {
    await waitFor(() => log().includes("restored 2 certificate file(s) from the ledger"), 10_000, log);
    expect(log().indexOf("All 2 workers ready")).toBeGreaterThan(-1);
    expect(log().indexOf("All 2 workers ready")).toBeLessThan(log().indexOf("restored 2 certificate file(s)"));
    for (const [i, file] of files.entries()) expect(readFileSync(file, "utf8")).toBe(issued[i]!.certificatePem);
  } finally {
    await kill();
  }
});
