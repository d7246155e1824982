// A worker SIGKILLed between order creation and finalize, in the middle of
// validating the order's challenge, loses nothing: the other worker, asked by
// the client's next poll, takes the validation over, and the client gets its
// certificate. The state is in the shared ledger, not in a worker.
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { Subprocess } from "bun";
import { Database } from "bun:sqlite";
import { X509Certificate } from "node:crypto";
import { join } from "node:path";
import { createDepot } from "../src/ca/create.ts";
import { Depot } from "../src/ca/depot.ts";
import { csrFor, TestAcmeClient } from "./acme-clients/client.ts";
import { type ChallTestSrv, freePort, startChallTestSrv } from "./acme-clients/harness.ts";
import { BUN, pemBlocks, tempDir } from "./helpers.ts";

let dns: ChallTestSrv;
const workers: Subprocess[] = [];
let slowResponder: ReturnType<typeof Bun.serve> | undefined;

beforeAll(async () => {
  dns = await startChallTestSrv();
});

afterAll(async () => {
  for (const worker of workers) worker.kill("SIGKILL");
  slowResponder?.stop(true);
  dns?.stop();
});

test("SIGKILL of the worker validating an order: the other worker completes it", async () => {
  const dir = tempDir("acme-crash-");
  const depotPath = await createDepot(join(dir, "ca"), { keyType: "ec-p256" });
  const depot = await Depot.open(depotPath);
  const tls = await depot.issue({ profile: "server", subject: [{ name: "CN", oid: "2.5.4.3", value: "localhost" }], subjectAltNames: ["localhost"], keyType: "ec-p256" });
  await Bun.write(join(dir, "tls.crt"), tls.certificatePem);
  await Bun.write(join(dir, "tls.key"), tls.privateKeyPem);
  const caPem = depot.issuer.certificatePem;

  // The first request for a token hangs (the validator is mid-flight when its worker dies); later ones answer.
  const tokens = new Map<string, string>();
  const asked = new Set<string>();
  slowResponder = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(request) {
      const token = new URL(request.url).pathname.split("/").pop()!;
      if (!asked.has(token)) {
        asked.add(token);
        await Bun.sleep(2500);
      }
      return new Response(tokens.get(token) ?? "", { status: tokens.has(token) ? 200 : 404 });
    },
  });

  const port = freePort();
  const pids: number[] = [];
  for (let i = 0; i < 2; i++) {
    const worker = Bun.spawn([BUN, join(import.meta.dir, "acme-clients", "worker-fixture.ts"), depotPath, String(port), join(dir, "tls.crt"), join(dir, "tls.key"), String(slowResponder.port), String(dns.dnsPort)], {
      stdin: "pipe",
      stdout: "pipe",
      stderr: "inherit",
    });
    workers.push(worker);
    const { value } = await (worker.stdout as ReadableStream<Uint8Array>).getReader().read();
    pids.push(Number(/ready (\d+)/.exec(new TextDecoder().decode(value))![1]));
  }

  const client = await TestAcmeClient.connect(`https://localhost:${port}/acme/directory`, caPem);
  expect((await client.register()).status).toBe(201);
  const created = await client.post<{ authorizations: string[]; finalize: string }>(client.directory.newOrder, { identifiers: [{ type: "dns", value: "crash.test" }] });
  expect(created.status).toBe(201);
  const authzUrl = created.body.authorizations[0]!;
  const challenge = (await client.post<{ challenges: Array<{ type: string; url: string; token: string }> }>(authzUrl, undefined)).body.challenges.find((c) => c.type === "http-01")!;
  tokens.set(challenge.token, client.keyAuthorization(challenge.token));
  expect((await client.post(challenge.url, {})).status).toBe(200);

  // Whichever worker claimed the validation is named in the ledger: kill that one.
  const ledger = new Database(depot.layout.ledger, { readonly: true });
  const owner = ledger.query<{ processing_by: string }, [string]>("SELECT processing_by FROM acme_challenges WHERE token = ?").get(challenge.token)!.processing_by;
  ledger.close();
  const victim = Number(owner.split(":").pop());
  expect(pids).toContain(victim);
  process.kill(victim, "SIGKILL");
  await workers[pids.indexOf(victim)]!.exited;

  const authz = await client.poll<{ status: string }>(authzUrl, (a) => a.status !== "pending", 8_000); // well under the 19 s a stale claim waits
  expect(authz.status).toBe("valid");
  const finalized = await client.post<{ status: string; certificate: string }>(created.body.finalize, { csr: csrFor(["crash.test"]).der.toString("base64url") });
  expect(finalized.body.status).toBe("valid");
  const chain = (await client.post(finalized.body.certificate, undefined)).text;
  const leaf = new X509Certificate(pemBlocks(chain)[0]!);
  expect(leaf.subjectAltName).toBe("DNS:crash.test");
  expect(leaf.verify(new X509Certificate(caPem).publicKey)).toBe(true);
  depot.close();
}, 60_000);
