/**
 * The ACME store on a real PostgreSQL ledger (test/pg-server.ts), as two
 * hosts see it: two stores on two connection pools over one database. A
 * nonce is accepted once whichever host sees it, an order made through one
 * is read, claimed and finished through the other, and each claim is taken
 * by one host only.
 */
import { afterAll, describe, expect, test } from "bun:test";
import { SQL } from "bun";
import { PostgresAcmeStore } from "../src/store/postgres/acme-store.ts";
import { migrateSchema } from "../src/store/postgres/schema.ts";
import type { Account, Authorization, Challenge, Order } from "../src/acme/types.ts";
import { pgDatabase } from "./pg-server.ts";
import { join } from "node:path";
import { X509Certificate } from "node:crypto";
import { csrFor, TestAcmeClient } from "./acme-clients/client.ts";
import { startChallTestSrv, startHttp01Responder, startLocalAcme, writeTemp } from "./acme-clients/harness.ts";
import { DEPOT_BIN, depot, openssl, pemBlocks, tempDir } from "./helpers.ts";
import { freePort, waitFor } from "./server-helpers.ts";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { Depot } from "../src/ca/depot.ts";
import type { AcmeStore } from "../src/ca/acme-store.ts";
import { createAcmeServer } from "../src/acme/server.ts";
import type { AcmeIssuer } from "../src/acme/issuer.ts";
import { DepotError } from "../src/errors.ts";

const SETUP_TIMEOUT = 300_000;
const pools: SQL[] = [];

async function twoHosts(): Promise<[PostgresAcmeStore, PostgresAcmeStore]> {
  const db = await pgDatabase();
  const open = () => {
    const sql = new SQL({ url: db.url, password: db.password, max: 2 });
    pools.push(sql);
    return sql;
  };
  const a = open();
  await migrateSchema(a, { create: true, url: db.url });
  return [new PostgresAcmeStore(a), new PostgresAcmeStore(open())];
}

afterAll(async () => {
  await Promise.allSettled(pools.map((sql) => sql.close()));
});

const now = Date.now();
const account = (id: string, thumbprint = `thumb-${id}`, eabKid?: string): Account => ({
  id,
  thumbprint,
  jwk: { kty: "EC", crv: "P-256", x: id, y: id },
  status: "valid",
  contact: ["mailto:ops@example.test"],
  termsOfServiceAgreed: true,
  ...(eabKid ? { eabKid } : {}),
  createdAt: now,
});

function anOrder(accountId: string, id = "order-1") {
  const authorizations: Authorization[] = ["a.test", "b.test"].map((value, i) => ({
    id: `${id}-authz-${i}`,
    accountId,
    orderId: id,
    identifier: { type: "dns", value },
    wildcard: false,
    status: "pending",
    expires: now + 3_600_000,
  }));
  const challenges: Challenge[] = authorizations.flatMap((a) =>
    (["http-01", "dns-01"] as const).map((type) => ({ id: `${a.id}-${type}`, authorizationId: a.id, type, token: `token-${a.id}-${type}`, status: "pending" as const })),
  );
  const order: Order = {
    id,
    accountId,
    status: "pending",
    identifiers: authorizations.map((a) => a.identifier),
    authorizationIds: authorizations.map((a) => a.id),
    expires: now + 3_600_000,
    notAfter: now + 86_400_000,
    createdAt: now,
  };
  return { order, authorizations, challenges };
}

describe("PostgreSQL AcmeStore shared by two hosts", () => {
  test("a nonce is accepted once, whichever host sees it; the nonce secret is one for both", async () => {
    const [a, b] = await twoHosts();
    expect(Buffer.from(await a.nonceSecret()).toString("hex")).toBe(Buffer.from(await b.nonceSecret()).toString("hex"));
    expect(await a.useNonce("n-1", { issuedAt: now, now, forgetBefore: now - 3_600_000 })).toBe(true);
    expect(await b.useNonce("n-1", { issuedAt: now, now, forgetBefore: now - 3_600_000 })).toBe(false);
    expect(await a.useNonce("n-1", { issuedAt: now, now, forgetBefore: now - 3_600_000 })).toBe(false);
    // Raced: of 20 uses of one nonce spread over both hosts, exactly one wins.
    const verdicts = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? a : b).useNonce("n-raced", { issuedAt: now, now, forgetBefore: now - 3_600_000 })));
    expect(verdicts.filter(Boolean).length).toBe(1);
  }, SETUP_TIMEOUT);

  test("accounts: one per key across hosts, an EAB key binds one account, a taken key is refused on change", async () => {
    const [a, b] = await twoHosts();
    const [first, second] = await Promise.all([a.createAccount(account("acct-1", "same")), b.createAccount(account("acct-2", "same"))]);
    expect(first).not.toBe("eab-used");
    expect((first as Account).id).toBe((second as Account).id);
    expect(await b.accountByThumbprint("same")).toEqual(first as Account);

    await a.addEabKey({ kid: "kid-1", name: "team", hmacKey: new Uint8Array([1, 2, 3]), allow: ["*.a.test"], createdAt: now });
    const bound = await Promise.all([a.createAccount(account("acct-3", "t3", "kid-1")), b.createAccount(account("acct-4", "t4", "kid-1"))]);
    expect(bound.filter((r) => r === "eab-used").length).toBe(1);
    expect((await b.eabKey("kid-1"))?.accountId).toMatch(/^acct-[34]$/);
    expect((await b.eabKey("kid-1"))?.hmacKey).toEqual(new Uint8Array([1, 2, 3]));

    const boundThumbprint = (await b.eabKey("kid-1"))!.accountId === "acct-3" ? "t3" : "t4";
    expect(await a.changeKey((first as Account).id, { kty: "EC" }, boundThumbprint)).toBe(false);
    expect(await a.changeKey((first as Account).id, { kty: "EC", x: "new" }, "fresh")).toBe(true);
    expect((await b.accountById((first as Account).id))?.thumbprint).toBe("fresh");
    const updated = await b.updateAccount((first as Account).id, { status: "deactivated" });
    expect(updated?.status).toBe("deactivated");
    expect(updated?.contact).toEqual(["mailto:ops@example.test"]);
  }, SETUP_TIMEOUT);

  test("an order made on one host is validated and finalized on the other; each claim is taken once", async () => {
    const [a, b] = await twoHosts();
    await a.createAccount(account("acct"));
    const { order, authorizations, challenges } = anOrder("acct");
    await a.createOrder(order, authorizations, challenges);
    expect(await b.order(order.id)).toEqual(order);
    expect((await b.authorizationsOf(order.id)).map((z) => z.id)).toEqual(authorizations.map((z) => z.id));
    expect((await b.challengesOf(authorizations[0]!.id)).map((c) => c.type)).toEqual(["http-01", "dns-01"]);
    expect(await b.ordersOf("acct", now)).toEqual([order.id]);
    expect(await b.ordersSince("acct", now - 1)).toEqual({ count: 1, oldest: now });

    // Both hosts try to validate the same challenge: one claim wins.
    const http = challenges[0]!;
    const claim = (owner: string) => ({ now, owner, staleBefore: now - 60_000 });
    const claims = await Promise.all([a.claimChallenge(http.id, claim("host-a")), b.claimChallenge(http.id, claim("host-b"))]);
    expect(claims.filter(Boolean).length).toBe(1);
    const winner = claims[0] ? a : b;
    // A stale claim is taken over; a live one is not.
    expect(await (claims[0] ? b : a).claimChallenge(http.id, claim("host-late"))).toBe(false);
    expect(await winner.finishChallenge(http.id, { status: "valid", at: now, owner: claims[0] ? "host-a" : "host-b" })).toBe(true);
    expect((await a.challenge(http.id))?.status).toBe("valid");
    expect((await a.authorization(authorizations[0]!.id))?.status).toBe("valid");
    // The authorization is valid now: its other challenge can no longer be claimed.
    expect(await b.claimChallenge(challenges[1]!.id, claim("host-b"))).toBe(false);

    const failed = challenges[2]!;
    expect(await b.claimChallenge(failed.id, claim("host-b"))).toBe(true);
    expect(await b.finishChallenge(failed.id, { status: "invalid", error: { type: "urn:ietf:params:acme:error:connection", detail: "refused" }, at: now, owner: "host-b" })).toBe(true);
    expect((await a.challenge(failed.id))?.error?.detail).toBe("refused");
    expect((await a.authorization(authorizations[1]!.id))?.status).toBe("invalid");
    await a.setAuthorizationStatus(authorizations[1]!.id, "valid");
    expect(await b.hasValidAuthorizations("acct", order.identifiers, now)).toBe(true);
    expect(await b.hasValidAuthorizations("acct", [{ type: "dns", value: "c.test" }], now)).toBe(false);
  }, SETUP_TIMEOUT);
});

describe("two ACME servers on one PostgreSQL depot", () => {
  type Order = { status: string; authorizations: string[]; finalize: string; certificate?: string };
  type Authz = { status: string; challenges: Array<{ type: string; url: string; token: string }> };

  test("an order made on one is finalized on the other, the certificate verifies, and a nonce from one is refused on the other once used", async () => {
    const db = await pgDatabase();
    const path = join(tempDir("depot-acme-pg-"), "ca");
    const init = depot(["init", path, "ACME PG CA", "--key-type", "ec-p256", "--ledger", db.url], { env: db.env });
    expect(init.stderr).toBe("");
    // Depot.open in this process reads the password as a depot process does.
    process.env.PGPASSWORD = db.password;
    const dns = await startChallTestSrv();
    const responder = startHttp01Responder();
    const validators = { httpPort: responder.port, resolver: `127.0.0.1:${dns.dnsPort}`, timeoutMs: 2000 };
    const hostA = await startLocalAcme({ depotPath: path, allow: ["*.test"], validators });
    const hostB = await startLocalAcme({ depotPath: path, allow: ["*.test"], validators });
    try {
      const client = await TestAcmeClient.connect(hostA.directory, hostA.caPem);
      expect((await client.register()).status).toBe(201);
      const created = await client.post<Order>(client.directory.newOrder, { identifiers: [{ type: "dns", value: "shared.test" }] });
      expect(created.status).toBe(201);
      const url = created.headers.get("location")!;
      for (const authzUrl of created.body.authorizations) {
        const challenge = (await client.post<Authz>(authzUrl, undefined)).body.challenges.find((c) => c.type === "http-01")!;
        responder.tokens.set(challenge.token, client.keyAuthorization(challenge.token));
        expect((await client.post(challenge.url, {})).status).toBe(200);
        expect((await client.poll<Authz>(authzUrl, (a) => a.status !== "pending")).status).toBe("valid");
      }
      const ready = await client.poll<Order>(url, (o) => o.status !== "pending");
      expect(ready.status).toBe("ready");

      // The same account, now through host B: URLs differ only in the port.
      const swap = (u: string) => u.replace(`:${hostA.port}/`, `:${hostB.port}/`);
      const moved = await TestAcmeClient.connect(hostB.directory, hostB.caPem);
      await moved.useKey({ privateKey: client.privateKey, alg: "ES256" });
      moved.kid = swap(client.kid!);
      const finalized = await moved.post<Order>(swap(ready.finalize), { csr: csrFor(["shared.test"]).der.toString("base64url") });
      expect(finalized.body.status).toBe("valid");
      const valid = (await client.post<Order>(url, undefined)).body;
      expect(valid.status).toBe("valid");
      const download = await client.post(valid.certificate!, undefined);
      expect(download.status).toBe(200);
      const leaf = writeTemp("leaf.pem", pemBlocks(download.text)[0]!);
      const verified = openssl(["verify", "-CAfile", hostA.caFile, leaf]);
      expect(verified.stdout).toContain(": OK");
      // The certificate's row is in the shared ledger.
      const serial = new X509Certificate(pemBlocks(download.text)[0]!).serialNumber.toLowerCase().replace(/^(00)+(?=..)/, "");
      expect(await db.query("SELECT serial FROM certificates WHERE serial = $1", serial)).toEqual([{ serial }]);

      // A nonce from host A, used on host B, is refused when replayed on host A.
      const nonce = await client.freshNonce();
      expect((await moved.post(moved.kid, undefined, { nonce })).status).toBe(200);
      expect((await client.post(client.kid!, undefined, { nonce })).body.type).toBe("urn:ietf:params:acme:error:badNonce");
    } finally {
      await hostA.stop();
      await hostB.stop();
      hostA.depot.close();
      hostB.depot.close();
      responder.stop();
      dns.stop();
    }
  }, SETUP_TIMEOUT);
});

describe("depot start --acme on a PostgreSQL depot", () => {
  test("the real server (2 workers) serves ACME from the shared database; a used nonce is refused by whichever worker sees it again", async () => {
    const db = await pgDatabase();
    const home = tempDir("depot-acme-pg-start-");
    const path = join(home, "ca");
    expect(depot(["init", path, "ACME PG CA", "--key-type", "ec-p256", "--ledger", db.url], { env: db.env }).exitCode).toBe(0);
    const httpsPort = freePort();
    const logFile = join(home, "depot.log");
    const server = Bun.spawn(
      [DEPOT_BIN, "start", path, "--port", String(freePort()), "--https-port", String(httpsPort), "--process-count", "2", "--acme", "--acme-allow", "*.test", "--pid-file", join(home, "depot.pid"), "--log-file", logFile],
      { stdin: "ignore", stdout: "ignore", stderr: "pipe", env: { ...process.env, HOME: home, ...db.env } },
    );
    const log = () => (existsSync(logFile) ? readFileSync(logFile, "utf8") : "");
    try {
      await waitFor(() => /All \d+ workers ready/.test(log()), 20_000, () => `server not ready; log:\n${log()}`);
      const caPem = readFileSync(join(path, "certificates", "ca.crt"), "utf8");
      const client = await TestAcmeClient.connect(`https://localhost:${httpsPort}/acme/directory`, caPem);
      expect((await client.register()).status).toBe(201);
      const created = await client.post<{ status: string }>(client.directory.newOrder, { identifiers: [{ type: "dns", value: "served.test" }] });
      expect(created.status).toBe(201);
      expect(await db.query("SELECT status FROM acme_orders")).toEqual([{ status: "pending" }]);
      expect((await db.query("SELECT count(*)::int AS n FROM acme_accounts"))[0]).toEqual({ n: 1 });
      // Requests spread over both workers (reusePort): every replay is refused, whichever worker it reaches.
      for (let i = 0; i < 8; i++) {
        const nonce = await client.freshNonce();
        expect((await client.post(client.kid!, undefined, { nonce })).status).toBe(200);
        expect((await client.post(client.kid!, undefined, { nonce })).body.type).toBe("urn:ietf:params:acme:error:badNonce");
      }
    } finally {
      server.kill("SIGTERM");
      await server.exited;
    }
  }, SETUP_TIMEOUT);
});

describe("depot ledger migrate with ACME state", () => {
  test("accounts, orders, authorizations and challenges move to PostgreSQL; a second run copies none", async () => {
    const db = await pgDatabase();
    const path = join(tempDir("depot-acme-migrate-"), "ca");
    expect(depot(["init", path, "ACME SQLite CA", "--key-type", "ec-p256"]).exitCode).toBe(0);
    // The SQLite ledger's own ACME store writes as a server would.
    const opened = await Depot.open(path);
    const sqlite = opened.ledger.acme;
    await sqlite.nonceSecret();
    await sqlite.createAccount(account("acct-m"));
    const { order, authorizations, challenges } = anOrder("acct-m", "order-m");
    await sqlite.createOrder(order, authorizations, challenges);
    await sqlite.useNonce("used-before-the-move", { issuedAt: now, now, forgetBefore: now - 3_600_000 });
    opened.close();

    const result = depot(["ledger", "migrate", path, "--to", db.url], { env: db.env });
    expect(result.stderr).toBe("");
    // meta 1 + nonce 1 + account 1 + order 1 + authorizations 2 + challenges 4
    expect(result.stdout).toContain("ACME: copied 10 of 10 rows");
    expect(result.exitCode).toBe(0);

    const sql = new SQL({ url: db.url, password: db.password, max: 1 });
    pools.push(sql);
    const pg = new PostgresAcmeStore(sql);
    expect(await pg.order("order-m")).toEqual(order);
    expect(await pg.accountById("acct-m")).toEqual(account("acct-m"));
    expect((await pg.authorizationsOf("order-m")).map((a) => a.id)).toEqual(authorizations.map((a) => a.id));
    expect((await pg.authorizationsOf("order-m"))[0]!.wildcard).toBe(false);
    expect(await pg.useNonce("used-before-the-move", { issuedAt: now, now, forgetBefore: now - 3_600_000 })).toBe(false);

    // Idempotent: rerun against the SQLite ledger as it was (depot.cnf back to SQLite).
    const config = join(path, "depot.cnf");
    writeFileSync(config, readFileSync(config, "utf8").replace(/^ledger\s*=.*\n/m, ""));
    const again = depot(["ledger", "migrate", path, "--to", db.url], { env: db.env });
    expect(again.stderr).toBe("");
    expect(again.stdout).toContain("ACME: copied 0 of 10 rows");
  }, SETUP_TIMEOUT);
});

describe("the ledger out of reach", () => {
  test("a store that answers 'ledger unavailable' gives 503 with Retry-After and a problem document, not a 500", async () => {
    // A fake beside the real-database tests above: every store call fails as PostgresLedger's guard does in an outage.
    const down = new Proxy({}, { get: () => async () => { throw new DepotError("E_LEDGER_UNAVAILABLE", "ledger unavailable"); } }) as unknown as AcmeStore;
    const server = createAcmeServer({ store: down, issuer: {} as AcmeIssuer, basePath: "/acme" });
    const answer = await server.handle(new Request("https://localhost/acme/new-nonce", { method: "HEAD" }));
    expect(answer.status).toBe(503);
    expect(answer.headers.get("retry-after")).toBe("5");
    const document = await server.handle(new Request("https://localhost/acme/new-nonce"));
    expect(document.status).toBe(503);
    expect(await document.json()).toMatchObject({ type: "urn:ietf:params:acme:error:serverInternal", detail: "the ledger is busy or out of reach; nothing was issued or changed, retry in 5 s", status: 503 });
  });
});
