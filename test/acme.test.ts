// depot's ACME server (RFC 8555) answers a correct client end to end and
// refuses, with the right ACME error, each way a client can go wrong. The
// server is the real module behind a real TLS socket, its validators reach a
// real http-01 responder and a real DNS server (pebble-challtestsrv), and the
// certificates are checked with openssl.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { X509Certificate } from "node:crypto";
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
    const serial = leaf.serialNumber.toLowerCase().replace(/^0+/, "");
    const record = await acme.depot.ledger.find(serial);
    expect(record?.status).toBe("valid");
    expect(record?.type).toBe("server");
    const days = (leaf.validToDate.getTime() - leaf.validFromDate.getTime()) / 86_400_000;
    expect(Math.round(days)).toBe(7);
  });
});
