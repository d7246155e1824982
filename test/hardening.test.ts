// Inputs found in review: object-prototype names as commands, pid files naming other processes,
// certificates outliving their CA, --san on a client, serials that read two ways.
import { expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { createDepot } from "../src/ca/create.ts";
import { Depot } from "../src/ca/depot.ts";
import { parseDn } from "../src/ca/dn.ts";
import { depot, tempDir } from "./helpers.ts";
import { request, startServer } from "./server-helpers.ts";

test("commands named like Object's own properties are unknown commands, and the worker keeps serving", async () => {
  const server = await startServer(["--process-count", "1"]);
  try {
    await server.ready;
    const known = "(commands: crl generate help revoke shutdown sign)";
    expect(await request(server.port, "help constructor")).toBe("Unknown command constructor\n");
    expect(await request(server.port, "help __proto__")).toBe("Unknown command __proto__\n");
    expect(await request(server.port, "constructor x")).toBe(`ERROR unknown command 'constructor' ${known}\n`);
    expect(await request(server.port, "__proto__")).toBe(`ERROR unknown command '__proto__' ${known}\n`);
    expect(await request(server.port, "toString")).toBe(`ERROR unknown command 'toString' ${known}\n`);
    expect(await request(server.port, "help")).toBe("crl generate help revoke shutdown sign\n");
    expect(server.log()).not.toContain("internal error");
  } finally {
    await server.kill();
  }
});

test("a pid file naming a live process that is not our supervisor is never signalled", () => {
  const home = tempDir();
  const pidFile = join(home, "depot.pid");
  // This test runner is alive, and it is certainly not a depot supervisor.
  writeFileSync(pidFile, `${process.pid}\n`);
  const stop = depot(["stop", "--pid-file", pidFile]);
  expect({ exitCode: stop.exitCode, stderr: stop.stderr }).toEqual({ exitCode: 1, stderr: "depot: can't find a running server\n" });
  const status = depot(["status", "--pid-file", pidFile]);
  expect({ exitCode: status.exitCode, stdout: status.stdout }).toEqual({ exitCode: 1, stdout: "depot is not running\n" });
});

test("a certificate may not outlive its CA", async () => {
  const root = await createDepot(join(tempDir(), "short-ca"), { keyType: "ec-p256", caDays: 30 });
  const opened = await Depot.open(root);
  try {
    const error = await opened.issue({ profile: "client", subject: parseDn("CN=too-long"), days: 31 }).catch((e: Error) => e);
    expect((error as Error).message).toMatch(/^the certificate would outlive the CA \(valid until \d{4}-\d\d-\d\d\); give --days (29|30) or less$/);
    expect((await opened.ledger.list()).filter((r) => r.type !== "ca")).toEqual([]);
    const ok = await opened.issue({ profile: "client", subject: parseDn("CN=fits"), days: 29 });
    expect(ok.record.type).toBe("client");
  } finally {
    opened.close();
  }
});

test("--san with a client certificate is refused, not silently dropped", () => {
  const root = join(tempDir(), "ca");
  expect(depot(["init", root, "--key-type", "ec-p256"]).exitCode).toBe(0);
  const result = depot(["generate", root, "--type", "client", "--cn", "bob", "--san", "bob.example.com"]);
  expect({ exitCode: result.exitCode, stderr: result.stderr, stdout: result.stdout }).toEqual({
    exitCode: 1,
    stderr: "depot: --san is for server certificates (--type server)\n",
    stdout: "",
  });
});

test("a serial of plain digits that names two certificates (hex and decimal) is refused, naming both", async () => {
  const root = await createDepot(join(tempDir(), "ambiguous"), { keyType: "ec-p256" });
  const opened = await Depot.open(root);
  try {
    // Certificates with serials 0x10 and 10 (decimal), as a Ruby-made depot counted them.
    const base = (await opened.issue({ profile: "client", subject: parseDn("CN=template") })).record;
    await opened.ledger.adopt([
      { ...base, serial: "10", fingerprint: "f1" },
      { ...base, serial: "0a", fingerprint: "f2" },
    ]);
    const error = await opened.findBySerial("10").catch((e: Error) => e);
    expect((error as Error).message).toBe("'10' names two certificates: hex 10 and decimal file 10.crt; write 0x10 or 10.crt");
    expect((await opened.findBySerial("0x10")).serial).toBe("10");
    expect((await opened.findBySerial("10.crt")).serial).toBe("0a");
    expect((await opened.findBySerial("0A")).serial).toBe("0a");
  } finally {
    opened.close();
  }
});

test("a sign whose PEM request never ends is cut off after 10 s with a reason that says so", async () => {
  const server = await startServer(["--process-count", "1"]);
  try {
    await server.ready;
    const started = performance.now();
    const answer = await request(server.port, "sign\n-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n", { raw: true, timeoutMs: 15_000 });
    expect(answer).toBe("ERROR the certificate request did not reach its -----END CERTIFICATE REQUEST----- line within 10 s\n");
    expect(performance.now() - started).toBeGreaterThan(9_500);
    expect(await request(server.port, "help")).toBe("crl generate help revoke shutdown sign\n");
  } finally {
    await server.kill();
  }
}, 30_000);
