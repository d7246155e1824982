/**
 * In a two-tier depot every chain handed out carries the intermediate: the
 * API's `chain` and ACME's download are the leaf then the intermediate (never
 * the root: clients hold it already), and a PKCS#12 bundle carries the
 * intermediate and the root. openssl verifies each with only the root trusted.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { depotIssuer } from "../src/acme/index.ts";
import { createDepot } from "../src/ca/create.ts";
import { Depot } from "../src/ca/depot.ts";
import { generateKeyPair } from "../src/ca/keys.ts";
import { hashToken, newToken } from "../src/ca/tokens.ts";
import { createApi, type ApiHandler } from "../src/http/api/index.ts";
import { depotApiServices } from "../src/http/api/depot-services.ts";
import { depot as runDepot, openssl, pemBlocks, run, tempDir } from "./helpers.ts";

let depot: Depot;
let api: ApiHandler;
let token: string;
let rootFile: string;
let rootPem: string;
let intermediatePem: string;

beforeAll(async () => {
  const path = join(tempDir(), "ca");
  await createDepot(path, { keyType: "ec-p256", intermediate: {} });
  depot = await Depot.open(path);
  rootFile = depot.layout.caCertificate;
  rootPem = readFileSync(rootFile, "utf8");
  intermediatePem = readFileSync(join(path, "certificates", "intermediate.crt"), "utf8");
  api = createApi(depotApiServices(depot), { internalError: (e) => { throw e; } });
  token = newToken();
  await depot.ledger.tokens.create({ name: "chains", hash: hashToken(token), policy: { admin: false, allow: [] }, createdAt: new Date() }, { event: "token-create", requester: "cli", token: "chains" });
});
afterAll(() => depot.close());

/** `openssl verify` with the root alone trusted and `untrusted` as the served chain; its output. */
function verifyThrough(leafPem: string, untrustedPems: string[]): string {
  const dir = tempDir();
  const leaf = join(dir, "leaf.pem");
  const chain = join(dir, "chain.pem");
  writeFileSync(leaf, leafPem);
  writeFileSync(chain, untrustedPems.join(""));
  const result = openssl(["verify", "-CAfile", rootFile, ...(untrustedPems.length > 0 ? ["-untrusted", chain] : []), leaf]);
  return (result.stdout + result.stderr).trim().replace(leaf, "LEAF");
}

const same = (a: string, b: string) => a.trim() === b.trim();

async function post(body: unknown): Promise<Record<string, unknown>> {
  const response = await api(
    new Request("https://depot.test/v1/certificates", { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: JSON.stringify(body) }),
    { clientAddress: "192.0.2.9" },
  );
  expect(response.status).toBe(201);
  return (await response.json()) as Record<string, unknown>;
}

describe("two tiers: served chains", () => {
  test("the API's chain is the intermediate alone, and the leaf verifies through it to the root", async () => {
    const body = await post({ type: "server", cn: "api.example.test" });
    const chain = body.chain as string[];
    expect(chain).toHaveLength(1);
    expect(same(chain[0]!, intermediatePem)).toBe(true);
    expect(chain.some((pem) => same(pem, rootPem))).toBe(false);
    expect(verifyThrough(body.certificate as string, chain)).toBe("LEAF: OK");
    // Without the served chain, the root alone does not vouch for the leaf.
    expect(verifyThrough(body.certificate as string, [])).toMatch(/unable to get local issuer certificate/);
  });

  test("ACME's download is the leaf then the intermediate, never the root", async () => {
    const issuer = depotIssuer(depot);
    const blocks = pemBlocks(issuer.chainPem);
    expect(blocks).toHaveLength(1);
    expect(same(blocks[0]!, intermediatePem)).toBe(true);
    const keys = await generateKeyPair("ec-p256");
    const issued = await issuer.issue({ identifiers: [{ type: "dns", value: "acme.example.test" }], publicKeyDer: keys.publicKeyDer, keyType: "ec-p256", family: "ec", days: 7, requester: "acme:test" });
    // What certificates.ts answers for a download: the leaf, then issuer.chainPem.
    const download = `${issued.certificatePem.trim()}\n${issuer.chainPem}`;
    const [leaf, ...rest] = pemBlocks(download);
    expect(verifyThrough(leaf!, rest)).toBe("LEAF: OK");
  });

  test("a PKCS#12 from the API and from `depot generate --p12` carries the intermediate and the root", async () => {
    const password = "correct horse";
    const body = await post({ type: "client", cn: "Bob Owner", format: "pkcs12", password });
    const fromApi = join(tempDir(), "api.p12");
    writeFileSync(fromApi, Buffer.from(body.pkcs12 as string, "base64"));
    const fromCli = join(tempDir(), "cli.p12");
    const passwordFile = join(tempDir(), "password");
    writeFileSync(passwordFile, `${password}\n`);
    const generated = runDepot(["generate", depot.layout.root, "--type", "client", "--cn", "Carol", "--out", join(tempDir(), "carol.pem"), "--p12", fromCli, "--password-file", passwordFile]);
    expect(generated.stderr).toBe("");
    for (const file of [fromApi, fromCli]) {
      const leaf = run(["openssl", "pkcs12", "-in", file, "-passin", "stdin", "-nokeys", "-clcerts"], { stdin: `${password}\n` });
      const cas = run(["openssl", "pkcs12", "-in", file, "-passin", "stdin", "-nokeys", "-cacerts"], { stdin: `${password}\n` });
      expect(leaf.exitCode).toBe(0);
      const caBlocks = pemBlocks(cas.stdout);
      expect(caBlocks).toHaveLength(2);
      expect(caBlocks.some((pem) => same(pem, intermediatePem))).toBe(true);
      expect(caBlocks.some((pem) => same(pem, rootPem))).toBe(true);
      expect(verifyThrough(pemBlocks(leaf.stdout)[0]!, caBlocks)).toBe("LEAF: OK");
    }
  });
});

describe("two tiers: a real ACME order", () => {
  test("the downloaded chain is the leaf then the intermediate, and verifies with only the root trusted", async () => {
    const { startHttp01Responder, startLocalAcme } = await import("./acme-clients/harness.ts");
    const { csrFor, TestAcmeClient } = await import("./acme-clients/client.ts");
    const path = join(tempDir(), "ca");
    await createDepot(path, { keyType: "ec-p256", intermediate: {} });
    const responder = startHttp01Responder();
    const acme = await startLocalAcme({ depotPath: path, allow: ["127.0.0.0/8"], validators: { httpPort: responder.port, timeoutMs: 2000 }, ordersPerHour: 1000 });
    try {
      const intermediate = readFileSync(join(path, "certificates", "intermediate.crt"), "utf8");
      const root = readFileSync(join(path, "certificates", "ca.crt"), "utf8");
      // The ACME server's own TLS certificate comes from the intermediate; the client trusts both tiers for it.
      const client = await TestAcmeClient.connect(acme.directory, intermediate + root);
      expect((await client.register()).status).toBe(201);
      type Order = { status: string; authorizations: string[]; finalize: string; certificate?: string };
      const created = await client.post<Order>(client.directory.newOrder, { identifiers: [{ type: "ip", value: "127.0.0.1" }] });
      expect(created.status).toBe(201);
      const url = created.headers.get("location")!;
      for (const authzUrl of created.body.authorizations) {
        const authz = (await client.post<{ challenges: Array<{ type: string; url: string; token: string }> }>(authzUrl, undefined)).body;
        const challenge = authz.challenges.find((c) => c.type === "http-01")!;
        responder.tokens.set(challenge.token, client.keyAuthorization(challenge.token));
        expect((await client.post(challenge.url, {})).status).toBe(200);
        expect((await client.poll<{ status: string }>(authzUrl, (a) => a.status !== "pending")).status).toBe("valid");
      }
      expect((await client.poll<Order>(url, (o) => o.status !== "pending")).status).toBe("ready");
      expect((await client.post<Order>(created.body.finalize, { csr: csrFor(["127.0.0.1"]).der.toString("base64url") })).status).toBe(200);
      const valid = await client.poll<Order>(url, (o) => o.status === "valid" || o.status === "invalid");
      const download = await client.post(valid.certificate!, undefined);
      expect(download.headers.get("content-type")).toBe("application/pem-certificate-chain");
      const [leaf, ...chain] = pemBlocks(download.text);
      expect(chain).toHaveLength(1);
      expect(same(chain[0]!, intermediate)).toBe(true);
      const rootOnly = join(tempDir(), "root.pem");
      writeFileSync(rootOnly, root);
      const dir = tempDir();
      writeFileSync(join(dir, "leaf.pem"), leaf!);
      writeFileSync(join(dir, "chain.pem"), chain.join(""));
      const verify = openssl(["verify", "-CAfile", rootOnly, "-untrusted", join(dir, "chain.pem"), join(dir, "leaf.pem")]);
      expect((verify.stdout + verify.stderr).trim()).toBe(`${join(dir, "leaf.pem")}: OK`);
    } finally {
      await acme.stop();
      responder.stop();
    }
  }, 60_000);
});
