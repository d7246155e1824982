// The load generator really checks answers: a real server's answers pass, a wrong CA fails them.
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { runLoad } from "../bench/load.ts";
import { depot, tempDir } from "./helpers.ts";
import { startServer } from "./server-helpers.ts";

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
