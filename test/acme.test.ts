// depot's ACME server (RFC 8555) answers a correct client end to end and
// refuses, with the right ACME error, each way a client can go wrong. The
// server is the real module behind a real TLS socket, its validators reach a
// real http-01 responder and a real DNS server (pebble-challtestsrv), and the
// certificates are checked with openssl.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { X509Certificate } from "node:crypto";
import { Database } from "bun:sqlite";
import { join } from "node:path";
import { certIdOf } from "../src/acme/index.ts";
import { csrFor, TestAcmeClient, type AccountAlg } from "./acme-clients/client.ts";
import { type ChallTestSrv, type LocalAcme, startChallTestSrv, startHttp01Responder, startLocalAcme, writeTemp } from "./acme-clients/harness.ts";
import { openssl, pemBlocks } from "./helpers.ts";

let dns: ChallTestSrv;
let responder: ReturnType<typeof startHttp01Responder>;
let acme: LocalAcme;

beforeAll(async () => {
  dns = await startChallTestSrv();
  responder = startHttp01Responder();
  acme = await startLocalAcme({
    allow: ["*.test", "localhost", "127.0.0.0/8", "::1"],
    validators: { httpPort: responder.port, resolver: `127.0.0.1:${dns.dnsPort}`, timeoutMs: 2000 },
    queue: { retryDelayMs: 100, attempts: 2 },
    ordersPerHour: 1000,
  });
});

afterAll(async () => {
  await acme?.stop();
  responder?.stop();
  dns?.stop();
});

type Order = { status: string; authorizations: string[]; finalize: string; certificate?: string; error?: unknown; identifiers: unknown[] };
type Authz = { status: string; identifier: { type: string; value: string }; challenges: Array<{ type: string; url: string; token: string; status: string; error?: { type: string; detail: string } }>; wildcard?: boolean };

async function newClient(alg: AccountAlg = "ES256"): Promise<TestAcmeClient> {
  const client = await TestAcmeClient.connect(acme.directory, acme.caPem, alg);
  const answer = await client.register();
  expect(answer.status).toBe(201);
  return client;
}

/** Orders `names`, proves each with http-01 through the responder, returns the ready order and its URL. */
async function readyOrder(client: TestAcmeClient, names: string[]): Promise<{ order: Order; url: string }> {
  const created = await client.post<Order>(client.directory.newOrder, { identifiers: names.map((n) => ({ type: /^[0-9.]+$|:/.test(n) ? "ip" : "dns", value: n })) });
  expect(created.status).toBe(201);
  const url = created.headers.get("location")!;
  for (const authzUrl of created.body.authorizations) {
    const authz = (await client.post<Authz>(authzUrl, undefined)).body;
    const challenge = authz.challenges.find((c) => c.type === "http-01")!;
    responder.tokens.set(challenge.token, client.keyAuthorization(challenge.token));
    expect((await client.post(challenge.url, {})).status).toBe(200);
    const done = await client.poll<Authz>(authzUrl, (a) => a.status !== "pending");
    expect(done.status).toBe("valid");
  }
  const order = await client.poll<Order>(url, (o) => o.status !== "pending");
  expect(order.status).toBe("ready");
  return { order, url };
}

async function issue(client: TestAcmeClient, names: string[]): Promise<{ chain: string; order: Order }> {
  const { order, url } = await readyOrder(client, names);
  const finalized = await client.post<Order>(order.finalize, { csr: csrFor(names).der.toString("base64url") });
  expect(finalized.status).toBe(200);
  const valid = await client.poll<Order>(url, (o) => o.status === "valid" || o.status === "invalid");
  expect(valid.status).toBe("valid");
  const download = await client.post(valid.certificate!, undefined);
  expect(download.status).toBe(200);
  expect(download.headers.get("content-type")).toBe("application/pem-certificate-chain");
  return { chain: download.text, order: valid };
}

describe("directory and nonces", () => {
  test("the directory lists absolute URLs on the request's origin, with the ARI resource", async () => {
    const response = await fetch(acme.directory, { tls: { ca: acme.caPem } } as RequestInit);
    expect(response.status).toBe(200);
    const directory = (await response.json()) as Record<string, string>;
    const base = `https://localhost:${acme.port}/acme`;
    expect(directory.newNonce).toBe(`${base}/new-nonce`);
    expect(directory.newAccount).toBe(`${base}/new-account`);
    expect(directory.newOrder).toBe(`${base}/new-order`);
    expect(directory.revokeCert).toBe(`${base}/revoke-cert`);
    expect(directory.keyChange).toBe(`${base}/key-change`);
    expect(directory.renewalInfo).toBe(`${base}/renewal-info`);
    expect(response.headers.get("replay-nonce")).toMatch(/^[A-Za-z0-9_-]{43}$/);
  });

  test("newNonce answers HEAD 200 and GET 204, each with a fresh Replay-Nonce, no-store and the index link", async () => {
    const url = `https://localhost:${acme.port}/acme/new-nonce`;
    const head = await fetch(url, { method: "HEAD", tls: { ca: acme.caPem } } as RequestInit);
    const get = await fetch(url, { tls: { ca: acme.caPem } } as RequestInit);
    expect(head.status).toBe(200);
    expect(get.status).toBe(204);
    expect(head.headers.get("replay-nonce")).not.toBe(get.headers.get("replay-nonce"));
    expect(get.headers.get("cache-control")).toBe("no-store");
    expect(get.headers.get("link")).toBe(`<https://localhost:${acme.port}/acme/directory>;rel="index"`);
  });
});

describe("issuance", () => {
  test("an order for a DNS name and an IP address, proven over http-01, gives a certificate openssl verifies with exactly those names", async () => {
    const client = await newClient();
    const { chain } = await issue(client, ["web.test", "127.0.0.1"]);
    const blocks = pemBlocks(chain);
    expect(blocks.length).toBe(2);
    expect(blocks[1]!.trim()).toBe(acme.caPem.trim());
    const leafFile = writeTemp("leaf.pem", blocks[0]!);
    const verify = openssl(["verify", "-CAfile", acme.caFile, "-purpose", "sslserver", leafFile]);
    expect(verify.stdout.trim()).toBe(`${leafFile}: OK`);
    const leaf = new X509Certificate(blocks[0]!);
    expect(leaf.subjectAltName).toBe("DNS:web.test, IP Address:127.0.0.1");
    const serial = leaf.serialNumber.toLowerCase().replace(/^(00)+(?=..)/, "");
    const record = await acme.depot.ledger.find(serial);
    expect(record?.status).toBe("valid");
    expect(record?.type).toBe("server");
    const days = (leaf.validToDate.getTime() - leaf.validFromDate.getTime()) / 86_400_000;
    expect(Math.round(days)).toBe(7);
    // The audit chain names the ACME account and the client's address.
    const { depot: runDepot } = await import("./helpers.ts");
    const audit = runDepot(["audit", "export", acme.depotPath]).stdout.split("\n").filter(Boolean).map((line) => JSON.parse(line));
    const entry = audit.find((e) => e.serial === serial && e.event === "issue");
    expect(entry.requester).toBe(`acme:${client.kid!.split("/").pop()}`);
    expect(entry.client).toBe("127.0.0.1");
    expect(entry.sans).toEqual(["web.test", "127.0.0.1"]);
  });
});

describe("account keys", () => {
  for (const alg of ["ES384", "RS256", "EdDSA"] as const) {
    test(`an ${alg} account registers, is found again by its key, and orders`, async () => {
      const client = await newClient(alg);
      const again = await client.post(client.directory.newAccount, { onlyReturnExisting: true }, { useJwk: true });
      expect(again.status).toBe(200);
      expect(again.headers.get("location")).toBe(client.kid!);
      const order = await client.post<Order>(client.directory.newOrder, { identifiers: [{ type: "dns", value: `${alg.toLowerCase()}.test` }] });
      expect(order.status).toBe(201);
    });
  }

  test("onlyReturnExisting for an unknown key is accountDoesNotExist", async () => {
    const client = await TestAcmeClient.connect(acme.directory, acme.caPem);
    const answer = await client.post(client.directory.newAccount, { onlyReturnExisting: true }, { useJwk: true });
    expect(answer.status).toBe(400);
    expect(answer.body.type).toBe("urn:ietf:params:acme:error:accountDoesNotExist");
  });

  test("an HS256-signed request is badSignatureAlgorithm", async () => {
    const client = await TestAcmeClient.connect(acme.directory, acme.caPem);
    const jws = await client.sign(client.directory.newAccount, {}, { useJwk: true });
    const header = JSON.parse(Buffer.from(jws.protected!, "base64url").toString());
    jws.protected = Buffer.from(JSON.stringify({ ...header, alg: "HS256" })).toString("base64url");
    const response = await fetch(client.directory.newAccount, { method: "POST", headers: { "Content-Type": "application/jose+json" }, body: JSON.stringify(jws), tls: { ca: acme.caPem } } as RequestInit);
    expect(response.status).toBe(400);
    expect(((await response.json()) as { type: string }).type).toBe("urn:ietf:params:acme:error:badSignatureAlgorithm");
  });

  test("a url header naming another resource is unauthorized", async () => {
    const client = await newClient();
    const jws = await client.sign(client.directory.newOrder, { identifiers: [{ type: "dns", value: "a.test" }] });
    const response = await fetch(client.kid!, { method: "POST", headers: { "Content-Type": "application/jose+json" }, body: JSON.stringify(jws), tls: { ca: acme.caPem } } as RequestInit);
    expect(response.status).toBe(403);
    expect(((await response.json()) as { type: string }).type).toBe("urn:ietf:params:acme:error:unauthorized");
  });

  test("a contact update is kept; a deactivated account can do nothing more", async () => {
    const client = await newClient();
    const updated = await client.post(client.kid!, { contact: ["mailto:ops@example.test"] });
    expect(updated.body.contact).toEqual(["mailto:ops@example.test"]);
    const bad = await client.post(client.kid!, { contact: ["tel:+1555"] });
    expect(bad.body.type).toBe("urn:ietf:params:acme:error:unsupportedContact");
    const deactivated = await client.post(client.kid!, { status: "deactivated" });
    expect(deactivated.body.status).toBe("deactivated");
    const after = await client.post(client.directory.newOrder, { identifiers: [{ type: "dns", value: "a.test" }] });
    expect(after.status).toBe(403);
    expect(after.body.type).toBe("urn:ietf:params:acme:error:unauthorized");
  });

  test("keyChange: the new key signs for the account, the old key no longer finds it", async () => {
    const client = await newClient();
    const oldKey = { privateKey: client.privateKey, alg: "ES256" as const };
    const oldJwk = client.jwk;
    const next = await TestAcmeClient.connect(acme.directory, acme.caPem, "ES384");
    const inner = await next.sign(client.directory.keyChange, { account: client.kid, oldKey: oldJwk }, { useJwk: true, noNonce: true });
    const changed = await client.post(client.directory.keyChange, inner);
    expect(changed.status).toBe(200);
    await client.useKey({ privateKey: next.privateKey, alg: "ES384" });
    expect((await client.post(client.kid!, undefined)).status).toBe(200);
    const old = await TestAcmeClient.connect(acme.directory, acme.caPem);
    await old.useKey(oldKey);
    const lookup = await old.post(old.directory.newAccount, { onlyReturnExisting: true }, { useJwk: true });
    expect(lookup.body.type).toBe("urn:ietf:params:acme:error:accountDoesNotExist");
  });
});

describe("nonces", () => {
  test("a replayed nonce is badNonce with a fresh nonce, and the retry with it succeeds", async () => {
    const client = await newClient();
    const nonce = await client.freshNonce();
    expect((await client.post(client.kid!, undefined, { nonce })).status).toBe(200);
    const replay = await client.post(client.kid!, undefined, { nonce });
    expect(replay.status).toBe(400);
    expect(replay.body.type).toBe("urn:ietf:params:acme:error:badNonce");
    const fresh = replay.headers.get("replay-nonce")!;
    expect(fresh).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect((await client.post(client.kid!, undefined, { nonce: fresh })).status).toBe(200);
  });

  test("a made-up nonce is badNonce", async () => {
    const client = await newClient();
    const answer = await client.post(client.kid!, undefined, { nonce: "A".repeat(43) });
    expect(answer.body.type).toBe("urn:ietf:params:acme:error:badNonce");
  });
});

describe("orders", () => {
  test("a name outside --acme-allow is rejectedIdentifier, naming it", async () => {
    const client = await newClient();
    const answer = await client.post(client.directory.newOrder, { identifiers: [{ type: "dns", value: "ok.test" }, { type: "dns", value: "bank.example.com" }, { type: "ip", value: "10.1.2.3" }] });
    expect(answer.status).toBe(400);
    expect(answer.body.type).toBe("urn:ietf:params:acme:error:rejectedIdentifier");
    expect(answer.body.detail).toBe("depot's ACME policy does not allow bank.example.com, 10.1.2.3");
    expect((answer.body.subproblems as unknown[]).length).toBe(2);
  });

  test("a wildcard is offered dns-01 only, and dns-01 through the DNS server proves it", async () => {
    const client = await newClient();
    const created = await client.post<Order>(client.directory.newOrder, { identifiers: [{ type: "dns", value: "*.wild.test" }] });
    const authzUrl = created.body.authorizations[0]!;
    const authz = (await client.post<Authz>(authzUrl, undefined)).body;
    expect(authz.wildcard).toBe(true);
    expect(authz.identifier.value).toBe("wild.test");
    expect(authz.challenges.map((c) => c.type)).toEqual(["dns-01"]);
    await dns.setTxt("_acme-challenge.wild.test", client.dnsDigest(authz.challenges[0]!.token));
    await client.post(authz.challenges[0]!.url, {});
    expect((await client.poll<Authz>(authzUrl, (a) => a.status !== "pending")).status).toBe("valid");
    const url = created.headers.get("location")!;
    const ready = await client.poll<Order>(url, (o) => o.status !== "pending");
    const done = await client.post<Order>(ready.finalize, { csr: csrFor(["*.wild.test"]).der.toString("base64url") });
    expect(done.body.status).toBe("valid");
  });

  test("a wrong key authorization makes the challenge, the authorization and the order invalid", async () => {
    const client = await newClient();
    const created = await client.post<Order>(client.directory.newOrder, { identifiers: [{ type: "dns", value: "wrong.test" }] });
    const authzUrl = created.body.authorizations[0]!;
    const challenge = (await client.post<Authz>(authzUrl, undefined)).body.challenges.find((c) => c.type === "http-01")!;
    responder.tokens.set(challenge.token, `${challenge.token}.not-my-thumbprint`);
    await client.post(challenge.url, {});
    const authz = await client.poll<Authz>(authzUrl, (a) => a.status !== "pending");
    expect(authz.status).toBe("invalid");
    const failed = authz.challenges.find((c) => c.type === "http-01")!;
    expect(failed.status).toBe("invalid");
    expect(failed.error!.type).toBe("urn:ietf:params:acme:error:incorrectResponse");
    const order = (await client.post<Order>(created.headers.get("location")!, undefined)).body;
    expect(order.status).toBe("invalid");
    const finalize = await client.post(order.finalize, { csr: csrFor(["wrong.test"]).der.toString("base64url") });
    expect(finalize.body.type).toBe("urn:ietf:params:acme:error:orderNotReady");
  });

  test("finalize before the authorizations are valid is orderNotReady (403)", async () => {
    const client = await newClient();
    const created = await client.post<Order>(client.directory.newOrder, { identifiers: [{ type: "dns", value: "early.test" }] });
    expect(created.headers.get("retry-after")).toBeNull();
    const answer = await client.post(created.body.finalize, { csr: csrFor(["early.test"]).der.toString("base64url") });
    expect(answer.status).toBe(403);
    expect(answer.body.type).toBe("urn:ietf:params:acme:error:orderNotReady");
    const polled = await client.post(created.headers.get("location")!, undefined);
    expect(polled.headers.get("retry-after")).toBe("1");
  });

  test("a CSR with an extra name is badCSR; the order stays ready and a correct CSR then succeeds", async () => {
    const client = await newClient();
    const { order, url } = await readyOrder(client, ["csr.test"]);
    const extra = await client.post(order.finalize, { csr: csrFor(["csr.test", "other.test"]).der.toString("base64url") });
    expect(extra.status).toBe(400);
    expect(extra.body.type).toBe("urn:ietf:params:acme:error:badCSR");
    expect(extra.body.detail).toBe("the CSR names other.test that the order does not; it must name exactly the order's identifiers");
    expect((await client.post<Order>(url, undefined)).body.status).toBe("ready");
    const right = await client.post<Order>(order.finalize, { csr: csrFor(["csr.test"], { commonName: "csr.test" }).der.toString("base64url") });
    expect(right.body.status).toBe("valid");
  });

  test("a finalize whose csr is not a PKCS#10 request, or whose signature is damaged, is badCSR in words about DER", async () => {
    const client = await newClient();
    const { order, url } = await readyOrder(client, ["junk-csr.test"]);
    const junk = await client.post(order.finalize, { csr: Buffer.from("not a request").toString("base64url") });
    expect(junk.status).toBe(400);
    expect(junk.body).toMatchObject({ type: "urn:ietf:params:acme:error:badCSR", detail: "not a certificate request (PKCS#10, DER)" });
    const damaged = csrFor(["junk-csr.test"]).der;
    damaged[damaged.length - 5]! ^= 0x01;
    const forged = await client.post(order.finalize, { csr: damaged.toString("base64url") });
    expect(forged.body).toMatchObject({ type: "urn:ietf:params:acme:error:badCSR", detail: "the certificate request's signature does not verify (forged or damaged)" });
    expect((await client.post<Order>(url, undefined)).body.status).toBe("ready");
  });

  test("a CSR carrying the account key is badCSR, its EC point written compressed as well", async () => {
    const client = await newClient();
    const { order } = await readyOrder(client, ["own-key.test"]);
    for (const compressedPoint of [false, true]) {
      const csr = csrFor(["own-key.test"], { privateKey: client.privateKey, compressedPoint });
      if (compressedPoint) expect(Bun.spawnSync(["openssl", "req", "-inform", "DER", "-noout", "-text"], { stdin: csr.der }).stdout.toString()).toMatch(/pub:\s+0[23]:/);
      const answer = await client.post(order.finalize, { csr: csr.der.toString("base64url") });
      expect(answer.status).toBe(400);
      expect(answer.body.type).toBe("urn:ietf:params:acme:error:badCSR");
      expect(answer.body.detail).toBe("the certificate's key must not be the account key");
    }
    const right = await client.post<Order>(order.finalize, { csr: csrFor(["own-key.test"]).der.toString("base64url") });
    expect(right.body.status).toBe("valid");
  });

  test("the account's hourly order limit answers rateLimited with Retry-After", async () => {
    const limited = await startLocalAcme({ depotPath: acme.depotPath, ordersPerHour: 2 });
    try {
      const client = await TestAcmeClient.connect(limited.directory, limited.caPem);
      await client.register();
      const order = () => client.post(client.directory.newOrder, { identifiers: [{ type: "dns", value: "rate.test" }] });
      expect((await order()).status).toBe(201);
      expect((await order()).status).toBe(201);
      const third = await order();
      expect(third.status).toBe(429);
      expect(third.body.type).toBe("urn:ietf:params:acme:error:rateLimited");
      const retryAfter = Number(third.headers.get("retry-after"));
      expect(retryAfter).toBeGreaterThan(3500);
      expect(retryAfter).toBeLessThanOrEqual(3600);
    } finally {
      await limited.stop();
    }
  });
});

describe("two workers, one ledger", () => {
  test("an order made through one server instance is finalized through another, and a nonce is accepted once by either", async () => {
    const other = await startLocalAcme({ depotPath: acme.depotPath, validators: { httpPort: responder.port, resolver: `127.0.0.1:${dns.dnsPort}`, timeoutMs: 2000 } });
    try {
      const client = await newClient();
      const { order, url } = await readyOrder(client, ["shared.test"]);
      // The same client, now talking to the other instance: URLs differ only in the port.
      const swap = (u: string) => u.replace(`:${acme.port}/`, `:${other.port}/`);
      const moved = await TestAcmeClient.connect(other.directory, other.caPem);
      await moved.useKey({ privateKey: client.privateKey, alg: "ES256" });
      moved.kid = swap(client.kid!);
      const finalized = await moved.post<Order>(swap(order.finalize), { csr: csrFor(["shared.test"]).der.toString("base64url") });
      expect(finalized.body.status).toBe("valid");
      expect((await client.post<Order>(url, undefined)).body.status).toBe("valid");

      const nonce = await client.freshNonce();
      expect((await moved.post(moved.kid, undefined, { nonce })).status).toBe(200);
      expect((await client.post(client.kid!, undefined, { nonce })).body.type).toBe("urn:ietf:params:acme:error:badNonce");
    } finally {
      await other.stop();
    }
  });

  test("two finalizes of one order at once, one through each instance: one certificate is recorded, and both answers name it or say the order is no longer ready", async () => {
    const other = await startLocalAcme({ depotPath: acme.depotPath, validators: { httpPort: responder.port, resolver: `127.0.0.1:${dns.dnsPort}`, timeoutMs: 2000 } });
    try {
      const client = await newClient();
      const swap = (u: string) => u.replace(`:${acme.port}/`, `:${other.port}/`);
      const moved = await TestAcmeClient.connect(other.directory, other.caPem);
      await moved.useKey({ privateKey: client.privateKey, alg: "ES256" });
      moved.kid = swap(client.kid!);
      const ledger = new Database(join(acme.depotPath, "ledger.sqlite3"), { readonly: true });
      try {
        for (let i = 0; i < 4; i++) {
          const name = `raced-${i}.test`;
          const { order, url } = await readyOrder(client, [name]);
          const csr = { csr: csrFor([name]).der.toString("base64url") };
          const answers = await Promise.all([client.post<Order>(order.finalize, csr), moved.post<Order>(swap(order.finalize), csr)]);
          const recorded = ledger.query<{ serial: string }, [string]>("SELECT serial FROM certificates WHERE subject = ?").all(`CN=${name}`);
          expect(recorded.length).toBe(1);
          const certificate = (await client.post<Order>(url, undefined)).body.certificate!;
          expect(certificate.endsWith(`/${recorded[0]!.serial}`)).toBe(true);
          expect(answers.some((a) => a.status === 200 && a.body.status === "valid")).toBe(true);
          for (const answer of answers) {
            // Too late for the status check: orderNotReady. Past it but second to the ledger: the order as the first left it.
            if (answer.status === 403) expect((answer.body as unknown as { type: string }).type).toBe("urn:ietf:params:acme:error:orderNotReady");
            else expect([answer.status, answer.body.status, swap(answer.body.certificate!)]).toEqual([200, "valid", swap(certificate)]);
          }
        }
      } finally {
        ledger.close();
      }
    } finally {
      await other.stop();
    }
  });
});

describe("revocation and renewal information", () => {
  const revoke = (client: TestAcmeClient, pem: string, options: Parameters<TestAcmeClient["post"]>[2] = {}, reason = 4) =>
    client.post(client.directory.revokeCert, { certificate: new X509Certificate(pemBlocks(pem)[0]!).raw.toString("base64url"), reason }, options);

  test("renewalInfo suggests a window inside the certificate's lifetime; after revocation, one in the past", async () => {
    const client = await newClient();
    const { chain } = await issue(client, ["ari.test"]);
    const leaf = new X509Certificate(pemBlocks(chain)[0]!);
    const certId = certIdOf(pemBlocks(chain)[0]!);
    const info = await fetch(`${client.directory.renewalInfo}/${certId}`, { tls: { ca: acme.caPem } } as RequestInit);
    expect(info.status).toBe(200);
    expect(info.headers.get("retry-after")).toBe("21600");
    const window = ((await info.json()) as { suggestedWindow: { start: string; end: string } }).suggestedWindow;
    const start = Date.parse(window.start);
    const end = Date.parse(window.end);
    expect(start).toBeGreaterThan(leaf.validFromDate.getTime());
    expect(start).toBeLessThan(end);
    expect(end).toBeLessThan(leaf.validToDate.getTime());

    expect((await revoke(client, chain)).status).toBe(200);
    const after = (await (await fetch(`${client.directory.renewalInfo}/${certId}`, { tls: { ca: acme.caPem } } as RequestInit)).json()) as { suggestedWindow: { end: string } };
    expect(Date.parse(after.suggestedWindow.end)).toBeLessThan(Date.now());
    const unknown = await fetch(`${client.directory.renewalInfo}/${certId.split(".")[0]}.AQID`, { tls: { ca: acme.caPem } } as RequestInit);
    expect(unknown.status).toBe(404);
  });

  test("the ordering account revokes with a reason; the ledger and the CRL show it; a second revoke is alreadyRevoked", async () => {
    const client = await newClient();
    const { chain } = await issue(client, ["revoke.test"]);
    const answer = await revoke(client, chain, {}, 1);
    expect(answer.status).toBe(200);
    const serial = new X509Certificate(pemBlocks(chain)[0]!).serialNumber.toLowerCase().replace(/^(00)+(?=..)/, "");
    const record = await acme.depot.ledger.find(serial);
    expect(record?.status).toBe("revoked");
    expect(record?.revocationReason).toBe("keyCompromise");
    const crl = openssl(["crl", "-noout", "-text"], acme.depot.currentCrlPem()).stdout;
    expect(crl).toContain(`Serial Number: ${serial.toUpperCase()}`);
    expect((await revoke(client, chain)).body.type).toBe("urn:ietf:params:acme:error:alreadyRevoked");
  });

  test("the certificate's own key revokes it (jwk); an unrelated account may not; an account with valid authorizations for its names may", async () => {
    const owner = await newClient();
    const names = ["own.test"];
    const { order, url } = await readyOrder(owner, names);
    const csr = csrFor(names);
    await owner.post(order.finalize, { csr: csr.der.toString("base64url") });
    const valid = await owner.poll<Order>(url, (o) => o.status === "valid");
    const chain = (await owner.post(valid.certificate!, undefined)).text;

    const stranger = await newClient();
    const refused = await revoke(stranger, chain);
    expect(refused.status).toBe(403);
    expect(refused.body.type).toBe("urn:ietf:params:acme:error:unauthorized");

    const { createPrivateKey } = await import("node:crypto");
    const byKey = await TestAcmeClient.connect(acme.directory, acme.caPem);
    await byKey.useKey({ privateKey: createPrivateKey(csr.keyPem), alg: "ES256" });
    expect((await revoke(byKey, chain, { useJwk: true })).status).toBe(200);

    // A second certificate for the same name, revoked by another account that proved the name.
    const second = await issue(owner, names);
    const prover = await newClient();
    await readyOrder(prover, names);
    expect((await revoke(prover, second.chain)).status).toBe(200);
  });
});

describe("external account binding", () => {
  test("with --acme-require-eab: no binding is externalAccountRequired; a binding makes one account and limits its names", async () => {
    const { createEabKey } = await import("../src/acme/index.ts");
    const eabAcme = await startLocalAcme({ depotPath: acme.depotPath, requireEab: true, validators: { httpPort: responder.port, resolver: `127.0.0.1:${dns.dnsPort}` } });
    try {
      const directory = (await (await fetch(eabAcme.directory, { tls: { ca: eabAcme.caPem } } as RequestInit)).json()) as { meta: { externalAccountRequired: boolean } };
      expect(directory.meta.externalAccountRequired).toBe(true);
      const client = await TestAcmeClient.connect(eabAcme.directory, eabAcme.caPem);
      const refused = await client.register();
      expect(refused.status).toBe(400);
      expect(refused.body.type).toBe("urn:ietf:params:acme:error:externalAccountRequired");

      const key = await createEabKey(eabAcme.store, "team-a", ["*.team-a.test"]);
      const hmac = Buffer.from(key.hmacKey).toString("base64url");
      const wrong = await client.register({ termsOfServiceAgreed: true, externalAccountBinding: await client.externalAccountBinding(key.kid, Buffer.alloc(32, 1).toString("base64url")) });
      expect(wrong.body.type).toBe("urn:ietf:params:acme:error:unauthorized");
      const bound = await client.register({ termsOfServiceAgreed: true, externalAccountBinding: await client.externalAccountBinding(key.kid, hmac) });
      expect(bound.status).toBe(201);
      expect((bound.body.externalAccountBinding as { kid: string }).kid).toBe(key.kid);
      expect((await client.post(client.directory.newOrder, { identifiers: [{ type: "dns", value: "www.team-a.test" }] })).status).toBe(201);
      const outside = await client.post(client.directory.newOrder, { identifiers: [{ type: "dns", value: "www.team-b.test" }] });
      expect(outside.body.type).toBe("urn:ietf:params:acme:error:rejectedIdentifier");

      const second = await TestAcmeClient.connect(eabAcme.directory, eabAcme.caPem);
      const reused = await second.register({ termsOfServiceAgreed: true, externalAccountBinding: await second.externalAccountBinding(key.kid, hmac) });
      expect(reused.body.type).toBe("urn:ietf:params:acme:error:unauthorized");
      expect(reused.body.detail).toBe(`external account binding key '${key.kid}' has already been used for an account`);
    } finally {
      await eabAcme.stop();
    }
  });
});

describe("tls-alpn-01 for an IP address", () => {
  test("the validator asks for the reverse-DNS name as SNI and accepts the acme-tls/1 certificate for the address", async () => {
    const { createServer } = await import("node:tls");
    const { createHash } = await import("node:crypto");
    const { tempDir } = await import("./helpers.ts");
    const client = await newClient();
    const created = await client.post<Order>(client.directory.newOrder, { identifiers: [{ type: "ip", value: "127.0.0.1" }] });
    const authzUrl = created.body.authorizations[0]!;
    const challenge = (await client.post<Authz>(authzUrl, undefined)).body.challenges.find((c) => c.type === "tls-alpn-01")!;
    // RFC 8737 3: a self-signed certificate naming only the address, with the critical acmeIdentifier extension.
    const digest = createHash("sha256").update(client.keyAuthorization(challenge.token)).digest("hex").replace(/(..)/g, "$1:").slice(0, -1);
    const dir = tempDir();
    const made = openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", `${dir}/k.pem`, "-out", `${dir}/c.pem`, "-subj", "/CN=acme", "-days", "1",
      "-addext", "subjectAltName=IP:127.0.0.1", "-addext", `1.3.6.1.5.5.7.1.31=critical,DER:04:20:${digest}`]);
    expect(made.exitCode).toBe(0);
    const servernames: string[] = [];
    const server = createServer({ key: await Bun.file(`${dir}/k.pem`).text(), cert: await Bun.file(`${dir}/c.pem`).text(), ALPNProtocols: ["acme-tls/1"], SNICallback: (name, done) => { servernames.push(name); done(null); } }, (socket) => socket.end());
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const port = (server.address() as { port: number }).port;
    const alpn = await startLocalAcme({ depotPath: acme.depotPath, validators: { tlsPort: port, timeoutMs: 3000 } });
    try {
      const moved = await TestAcmeClient.connect(alpn.directory, alpn.caPem);
      await moved.useKey({ privateKey: client.privateKey, alg: "ES256" });
      moved.kid = client.kid!.replace(`:${acme.port}/`, `:${alpn.port}/`);
      const swap = (u: string) => u.replace(`:${acme.port}/`, `:${alpn.port}/`);
      await moved.post(swap(challenge.url), {});
      const authz = await moved.poll<Authz>(swap(authzUrl), (a) => a.status !== "pending");
      expect(authz.status).toBe("valid");
      expect(servernames).toContain("1.0.0.127.in-addr.arpa");
    } finally {
      server.close();
      await alpn.stop();
    }
  });
});
