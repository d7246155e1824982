// The load generator really checks answers: a real server's answers pass, a wrong CA fails them.
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { probeHelp } from "../bench/_help-probe.ts";
import { parseAnswer, postLoad } from "../bench/_https-load.ts";
import { runLoad } from "../bench/load.ts";
import { depot, tempDir } from "./helpers.ts";
import { freePort, startServer } from "./server-helpers.ts";

test("bench/load.ts: 40 generate requests at concurrency 8, every answer checked, no serial twice", async () => {
  const server = await startServer(["--max-connection-queue", "64"]);
  try {
    await server.ready;
    const caPem = readFileSync(join(server.depotPath, "certificates", "ca.crt"), "utf8");
    const result = await runLoad({ host: "127.0.0.1", port: server.port, requests: 40, concurrency: 8, dnTemplate: "/CN=bench-{i}", caPem });
    expect({ ok: result.ok, errors: result.errors, duplicates: result.duplicateSerials, serials: new Set(result.serials).size }).toEqual({
      ok: 40,
      errors: 0,
      duplicates: 0,
      serials: 40,
    });
    // Against another CA, the same kind of answers must fail the chain check.
    const other = join(tempDir(), "other");
    expect(depot(["init", other, "--key-type", "ec-p256"]).exitCode).toBe(0);
    const foreign = await runLoad({
      host: "127.0.0.1",
      port: server.port,
      requests: 4,
      concurrency: 2,
      dnTemplate: "/CN=x-{i}",
      caPem: readFileSync(join(other, "certificates", "ca.crt"), "utf8"),
    });
    expect(foreign.ok).toBe(0);
    expect(foreign.errorSamples[0]).toBe("certificate does not chain to the CA");
  } finally {
    await server.kill();
  }
});

test("bench/_help-probe.ts times help from a process of its own until stopped, and fails on a server that does not answer", async () => {
  const server = await startServer();
  try {
    await server.ready;
    const probe = await probeHelp(server.port);
    await Bun.sleep(300);
    const latencies = await probe.stop();
    expect(latencies.length).toBeGreaterThanOrEqual(3);
    expect(latencies.every((ms) => ms > 0 && ms < 5000)).toBe(true);
    expect(latencies).toEqual([...latencies].sort((a, b) => a - b));
  } finally {
    await server.kill();
  }
  await expect(probeHelp(await freePort())).rejects.toThrow(/the help probe ended early \(exit 1\): .*connect/i);
});

// The HTTPS load generator speaks HTTP/1.1 itself: against a real server every answer must come back whole, on kept-alive connections.
test("bench/_https-load.ts: 40 POSTs at concurrency 8 to the HTTPS API, every answer a 201 with its own certificate", async () => {
  const httpsPort = freePort();
  const server = await startServer(["--https-port", String(httpsPort)]);
  try {
    await server.ready;
    const token = depot(["token", "create", server.depotPath, "--name", "bench"]).stdout.toString().trim();
    const caPem = readFileSync(join(server.depotPath, "certificates", "ca.crt"), "utf8");
    const bodies = Array.from({ length: 40 }, (_, i) => JSON.stringify({ type: "client", subject: `/CN=load-${i}`, keyType: "ec-p256" }));
    const result = await postLoad({ url: `https://127.0.0.1:${httpsPort}/v1/certificates`, headers: { authorization: `Bearer ${token}` }, bodies, concurrency: 8, caPem });
    const subjects = result.answers.map(({ status, text }) => (status === 201 ? (JSON.parse(text) as { subject: string }).subject : `${status} ${text}`));
    expect(subjects.sort()).toEqual(bodies.map((_, i) => `CN=load-${i}`).sort());
    expect(new Set(result.answers.map(({ text }) => (JSON.parse(text) as { serial: string }).serial)).size).toBe(40);
    expect(result.latenciesMs).toHaveLength(40);
  } finally {
    await server.kill();
  }
}, 30_000);

test("bench/_https-load.ts reads Content-Length and chunked answers, and waits for the rest of one", () => {
  const sized = Buffer.from("HTTP/1.1 201 Created\r\nContent-Type: application/json\r\ncontent-length: 7\r\n\r\n{\"a\":1}HTTP/1.1");
  expect(parseAnswer(sized)).toEqual({ answer: { status: 201, text: '{"a":1}', close: false }, length: sized.length - 8 });
  const chunked = Buffer.from("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
  expect(parseAnswer(chunked)).toEqual({ answer: { status: 200, text: "abcde", close: true }, length: chunked.length });
  expect(parseAnswer(chunked.subarray(0, chunked.length - 3))).toBeUndefined();
  expect(parseAnswer(sized.subarray(0, 60))).toBeUndefined();
});

// bench/stepca.ts checks its arguments before it installs or builds anything (never in CI: no step-ca build here).
test("bench/stepca.ts: --help and a wrong --only answer at once, without building step-ca", () => {
  const script = join(import.meta.dir, "..", "bench", "stepca.ts");
  const help = Bun.spawnSync([process.execPath, script, "--help"]);
  expect(help.exitCode).toBe(0);
  expect(help.stdout.toString()).toContain("depot against step-ca 0.19");
  const wrong = Bun.spawnSync([process.execPath, script, "--only", "signing"]);
  expect(wrong.exitCode).not.toBe(0);
  expect(wrong.stderr.toString()).toContain("--only takes sign, generate, acme; not 'signing'");
});

// An in-process bench opens depots through the library: it must load a ledger backend (api-pieces.ts once did not, and failed at once).
test("bench/api-pieces.ts times the whole API handler on a depot of its own", () => {
  const script = join(import.meta.dir, "..", "bench", "api-pieces.ts");
  const result = Bun.spawnSync([process.execPath, script, "-n", "50", "--only", "api (whole)"], { env: { ...process.env, DEPOT_BENCH_NO_WAIT: "1" } });
  expect(result.stderr.toString()).not.toContain("Error");
  expect(result.exitCode).toBe(0);
  expect(result.stdout.toString()).toMatch(/^api \(whole\) +\d+ µs wall +\d+ µs CPU/m);
  expect(result.stdout.toString()).toMatch(/^api \(whole\), c=8 +\d+ µs wall +\d+ µs CPU/m);
}, 60_000);
