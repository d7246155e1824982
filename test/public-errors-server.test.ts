// No face of a real server tells a client where the depot lives. The depot
// is made on a small tmpfs of its own, the server started on it, and the
// disk then filled: the ledger's next write fails with a message naming its
// absolute path ("the disk holding the depot is full: cannot write the
// ledger /tmp/.../ledger.sqlite3"). The line protocol, the HTTPS API and ACME
// must each answer the one policy's busy/unavailable answer (503 and
// Retry-After 5 on HTTP, `ERROR busy: ...` on the line), with no path.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { TestAcmeClient } from "./acme-clients/client.ts";
import { DEPOT_BIN, depotOk, run, tempDir } from "./helpers.ts";
import { freePort, killServer, request, waitFor } from "./server-helpers.ts";

const BUSY = "the ledger is busy or out of reach; nothing was issued or changed, retry in 5 s";

let home: string;
let disk: string;
let depotPath: string;
let server: Subprocess;
let logFile: string;
let linePort: number;
let httpsPort: number;
let caPem: string;
let token: string;
let acme: TestAcmeClient;

beforeAll(async () => {
  home = tempDir("depot-full-disk-");
  disk = join(home, "disk");
  mkdirSync(disk);
  // We are root (the suite's set-up); a failed mount fails the test with mount's reason.
  const mounted = run(["mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", disk]);
  if (mounted.exitCode !== 0) throw new Error(`cannot mount a tmpfs for the full-disk test: ${mounted.stderr}`);
  depotPath = join(disk, "ca");
  depotOk(["init", depotPath, "Full Disk CA", "--key-type", "ec-p256"]);
  caPem = readFileSync(join(depotPath, "certificates", "ca.crt"), "utf8");
  linePort = freePort();
  httpsPort = freePort();
  logFile = join(home, "depot.log");
  server = Bun.spawn(
    [DEPOT_BIN, "start", depotPath, "--port", String(linePort), "--https-port", String(httpsPort), "--acme", "--process-count", "1", "--pid-file", join(home, "depot.pid"), "--log-file", logFile],
    { stdin: "ignore", stdout: "pipe", stderr: "pipe", env: { ...process.env, HOME: home } },
  );
  const log = () => (existsSync(logFile) ? readFileSync(logFile, "utf8") : "");
  await waitFor(() => /All \d+ workers ready/.test(log()), 10_000, () => `server not ready; log:\n${log()}`);
  token = depotOk(["token", "create", depotPath, "--name", "full", "--type", "client"]).trim();
  acme = await TestAcmeClient.connect(`https://localhost:${httpsPort}/acme/directory`, caPem);
  expect((await acme.register()).status).toBe(201);
  fillDisk();
}, 60_000);

afterAll(async () => {
  if (server) await killServer(server);
  if (!disk) return;
  // The upkeep process follows its supervisor within moments; until then the mount is busy.
  await waitFor(() => run(["umount", disk]).exitCode === 0, 5_000).catch(() => run(["umount", "--lazy", disk]));
});

/** Writes a file until the tmpfs takes no more bytes. */
function fillDisk(): void {
  const fd = openSync(join(disk, "filler"), "w");
  const block = Buffer.alloc(64 * 1024, 1);
  try {
    for (;;) writeSync(fd, block);
  } catch (error) {
    if ((error as { code?: string }).code !== "ENOSPC") throw error;
  } finally {
    closeSync(fd);
  }
  // The last partial block too.
  const small = openSync(join(disk, "filler-tail"), "w");
  try {
    for (;;) writeSync(small, Buffer.alloc(512, 1));
  } catch {
    // Full.
  } finally {
    closeSync(small);
  }
}

/** Asks until the answer is a failure: a WAL that has room from earlier writes takes a few before the disk is reached. */
async function untilFailure<T>(ask: () => Promise<T>, failed: (answer: T) => boolean): Promise<T> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const answer = await ask();
    if (failed(answer)) return answer;
  }
  throw new Error("the full disk never failed a request");
}

/** No absolute path of this test's folders in a client's answer. */
function expectNoPath(text: string): void {
  expect(text).not.toContain(depotPath);
  expect(text).not.toContain(home);
  expect(text).not.toContain("/tmp/");
}

test("the line protocol answers a full disk with a busy ERROR line, without the depot's path", async () => {
  const answer = await untilFailure(
    () => request(linePort, "generate /CN=full disk"),
    (text) => text.startsWith("ERROR"),
  );
  expectNoPath(answer);
  expect(answer).toBe(`ERROR busy: ${BUSY}\n`);
}, 60_000);

test("the HTTPS API answers 503, Retry-After 5 and a problem without the depot's path", async () => {
  const response = await untilFailure(
    () =>
      fetch(`https://localhost:${httpsPort}/v1/certificates`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ cn: "full disk" }),
        tls: { ca: caPem },
      } as RequestInit),
    (answer) => answer.status !== 201,
  );
  const text = await response.text();
  expectNoPath(text);
  expect({ status: response.status, retryAfter: response.headers.get("retry-after"), type: response.headers.get("content-type") }).toEqual({
    status: 503,
    retryAfter: "5",
    type: "application/problem+json",
  });
  expect(JSON.parse(text)).toMatchObject({ type: "urn:depot:problem:ledger-unavailable", status: 503, detail: BUSY, retryAfter: 5 });
}, 60_000);

test("ACME answers serverInternal 503, Retry-After 5, without the depot's path", async () => {
  const answer = await untilFailure(
    () => acme.post(acme.directory.newOrder, { identifiers: [{ type: "dns", value: "full.test" }] }),
    (reply) => reply.status !== 201,
  );
  expectNoPath(answer.text);
  expect({ status: answer.status, retryAfter: answer.headers.get("retry-after") }).toEqual({ status: 503, retryAfter: "5" });
  expect(answer.body).toMatchObject({ type: "urn:ietf:params:acme:error:serverInternal", status: 503, detail: BUSY });
}, 60_000);
