// The line protocol's services (src/line/services.ts) over a real two-tier
// depot, without a socket: what `generate` and `sign` answer (key, certificate,
// chain: checked by openssl), who the audit records name, and what a revoke
// records, logs and leaves to the upkeep process (the CRL).
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createDepot } from "../src/ca/create.ts";
import { Depot } from "../src/ca/depot.ts";
import { parseDn } from "../src/ca/dn.ts";
import { generateKeyPair } from "../src/ca/keys.ts";
import { depotLineServices, type DepotLineServicesOptions } from "../src/line/services.ts";
import { openssl, pemBlocks, succeeded, tempDir } from "./helpers.ts";

let depot: Depot;
let intermediatePem: string;
const logged: [string, string][] = [];
const keyTypesMade: string[] = [];
const options: DepotLineServicesOptions = {
  makeKeys: (type) => {
    keyTypesMade.push(type);
    return generateKeyPair(type);
  },
  log: (level, message) => logged.push([level, message]),
  allowRevoke: true,
  allowShutdown: false,
};

beforeAll(async () => {
  const path = join(tempDir(), "ca");
  await createDepot(path, { keyType: "ec-p256", intermediate: {} });
  depot = await Depot.open(path);
  intermediatePem = readFileSync(join(path, "certificates", "intermediate.crt"), "utf8");
});
afterAll(() => depot.close());

/** openssl's verdict on `leafPem` with only the root trusted and `chain` as the untrusted intermediates. */
function verify(leafPem: string, chain: string): string {
  const dir = tempDir();
  writeFileSync(join(dir, "leaf.pem"), leafPem);
  writeFileSync(join(dir, "chain.pem"), chain);
  const result = openssl(["verify", "-CAfile", depot.layout.caCertificate, "-untrusted", join(dir, "chain.pem"), join(dir, "leaf.pem")]);
  return (result.stdout + result.stderr).trim();
}

async function lastAudit() {
  return (await depot.ledger.audit.after(0, 1_000_000)).at(-1)!;
}

test("generate answers the new key, its client certificate and the chain, audited as the line protocol and the client's address", async () => {
  const answer = await depotLineServices(depot, "192.0.2.7", options).generate(parseDn("/CN=Line Client"));
  const [key, certificate, chain, ...rest] = pemBlocks(answer);
  expect(rest).toEqual([]);
  expect(key).toContain("-----BEGIN PRIVATE KEY-----");
  expect(chain!.trim()).toBe(intermediatePem.trim());
  expect(verify(certificate!, chain!)).toEndWith(": OK");
  // The key answered is the certificate's.
  const keyFile = join(tempDir(), "key.pem");
  writeFileSync(keyFile, key!);
  expect(succeeded(openssl(["pkey", "-in", keyFile, "-pubout"]))).toBe(succeeded(openssl(["x509", "-noout", "-pubkey"], certificate!)));
  expect(succeeded(openssl(["x509", "-noout", "-ext", "extendedKeyUsage"], certificate!))).toContain("TLS Web Client Authentication");
  // The key came from the options' maker (a worker's pool).
  expect(keyTypesMade).toEqual(["ec-p256"]);
  expect(await lastAudit()).toMatchObject({ event: "issue", requester: "line", client: "192.0.2.7", subject: "CN=Line Client" });
});

test("sign answers a client certificate for the request and the chain; without an address the audit names no client", async () => {
  const dir = tempDir();
  succeeded(openssl(["req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", join(dir, "k.pem"), "-subj", "/CN=Line Signer", "-out", join(dir, "r.pem")]));
  const answer = await depotLineServices(depot, undefined, options).sign(readFileSync(join(dir, "r.pem"), "utf8"));
  const [certificate, chain, ...rest] = pemBlocks(answer);
  expect(rest).toEqual([]);
  expect(verify(certificate!, chain!)).toEndWith(": OK");
  expect(succeeded(openssl(["x509", "-noout", "-subject"], certificate!))).toContain("CN = Line Signer");
  const record = await lastAudit();
  expect(record).toMatchObject({ event: "issue", requester: "line", subject: "CN=Line Signer" });
  expect(record.client).toBeUndefined();
});

test("revoke records the revocation, logs one line naming it, and leaves the CRL to the upkeep process", async () => {
  const services = depotLineServices(depot, "192.0.2.8", options);
  const [, certificate] = pemBlocks(await services.generate(parseDn("/CN=Revoked Over The Socket")));
  const serialHex = succeeded(openssl(["x509", "-noout", "-serial"], certificate!)).trim().replace(/^serial=/, "");
  const crlBefore = existsSync(depot.layout.crl) ? readFileSync(depot.layout.crl, "utf8") : undefined;
  logged.length = 0;

  expect(await services.revoke(serialHex, "keyCompromise")).toBe(`OK revoked ${serialHex.toUpperCase()}\n`);
  expect((await depot.ledger.find(serialHex.toLowerCase()))?.revocationReason).toBe("keyCompromise");
  expect(logged).toEqual([["info", `revoked ${serialHex.toUpperCase()} (CN=Revoked Over The Socket) over the socket; the upkeep process publishes the CRL`]]);
  expect(await lastAudit()).toMatchObject({ event: "revoke", requester: "line", client: "192.0.2.8", reason: "keyCompromise" });
  // Recorded only: crl.pem is what it was.
  expect(existsSync(depot.layout.crl) ? readFileSync(depot.layout.crl, "utf8") : undefined).toBe(crlBefore);
});

test("the switches pass through as the server was started", () => {
  const services = depotLineServices(depot, undefined, { ...options, allowRevoke: false, allowShutdown: true });
  expect({ allowRevoke: services.allowRevoke, allowShutdown: services.allowShutdown }).toEqual({ allowRevoke: false, allowShutdown: true });
});
