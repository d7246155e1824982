// Two depot hosts on one PostgreSQL ledger (real dist/depot processes, the
// second a copy of the first's folder, as the README makes it), both asking
// the same webhooks: a denial on one host and an enriched issuance on the
// other land in the one audit chain, which verifies from either host;
// the denied request added no certificate row.
import { afterAll, expect, test } from "bun:test";
import { depot } from "./helpers.ts";
import { type PgDatabase, pgDatabase } from "./pg-server.ts";
import { type PgHost, startPgHost, twoHostFolders } from "./pg-hosts.ts";
import { request } from "./server-helpers.ts";
import { type HookCall, startWebhookReceiver } from "./webhook-receiver.ts";

const hook = startWebhookReceiver();
const running: PgHost[] = [];

afterAll(async () => {
  for (const host of running) await host.kill();
  hook.stop();
});

async function startHost(path: string, db: PgDatabase): Promise<number> {
  const flags = ["--authorize-webhook", hook.url("authorize"), "--enrich-webhook", hook.url("enrich"), "--webhook-secret-file", hook.secretFile, "--webhook-timeout", "300ms"];
  const host = await startPgHost(path, db, ["--process-count", "1", ...flags]);
  running.push(host);
  return host.port;
}

test("a denial on one host and an enriched issuance on the other are one audit chain on PostgreSQL", async () => {
  const db = await pgDatabase();
  const [first, second] = twoHostFolders(db);
  const [portA, portB] = [await startHost(first, db), await startHost(second, db)];

  hook.behave = {
    authorize: (call: HookCall) => (call.request.subject.includes("blocked") ? { deny: "blocked everywhere" } : "allow"),
    enrich: () => ({ add: { subjectAltNames: ["alias.example.com"] } }),
  };
  const count = async () => Number((await db.query<{ n: string }>("SELECT count(*) AS n FROM certificates"))[0]!.n);
  const before = await count();
  expect(await request(portA, "generate /CN=blocked laptop")).toBe("ERROR issuance denied by the authorize webhook: blocked everywhere\n");
  expect(await count()).toBe(before);
  const issued = await request(portB, "generate /CN=fine laptop");
  expect(issued).toContain("-----BEGIN CERTIFICATE-----");
  expect(await count()).toBe(before + 1);
  expect(hook.calls.every((call) => call.signed)).toBe(true);

  for (const path of [first, second]) {
    const exported = depot(["audit", "export", path], { env: db.env });
    expect(exported.exitCode).toBe(0);
    const records = exported.stdout.trim().split("\n").map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(records.slice(-2)).toEqual([
      expect.objectContaining({ event: "deny", requester: "line", subject: "CN=blocked laptop", reason: "blocked everywhere", webhooks: { authorize: "denied" } }),
      expect.objectContaining({ event: "issue", requester: "line", subject: "CN=fine laptop", sans: ["alias.example.com"], webhooks: { authorize: "allowed", enrich: { addedNames: ["alias.example.com"], addedExtensions: [] } } }),
    ]);
    const verified = depot(["audit", "verify", path], { env: db.env });
    expect(verified.stdout).toStartWith("audit chain intact: ");
  }
}, 120_000);
