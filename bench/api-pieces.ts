/**
 * @module
 * Where an HTTPS API issuance's time goes, piece by piece, in one process
 * without sockets or TLS: `BUN_JSC_useDFGJIT=false bun bench/api-pieces.ts [-n 2000]`
 * (workers run without the optimising JIT, so measure that way). Each piece
 * runs n times in turn (c=1) and the mean µs is printed; `api (whole)` is
 * createApi's handler on a Request, all of it but TLS and HTTP parsing.
 */
import "reflect-metadata";
import { webcrypto } from "node:crypto";
import { join } from "node:path";
import { parseArgs } from "node:util";
import * as x509 from "@peculiar/x509";
import { createDepot } from "../src/ca/create.ts";
import { Depot } from "../src/ca/depot.ts";
import { readCertificateRequest } from "../src/ca/csr.ts";
import { hashToken, newToken } from "../src/ca/tokens.ts";
import { createApi } from "../src/http/api/index.ts";
import { depotApiServices } from "../src/http/api/depot-services.ts";
import { benchWorkFolder } from "./_work-folder.ts";

const { values: flags } = parseArgs({ options: { n: { type: "string", short: "n", default: "2000" } } });
const n = Number(flags.n);
const work = await benchWorkFolder("depot-bench-api-pieces-");
const depotPath = await createDepot(join(work, "ca"), { keyType: "ec-p256" });
const depot = await Depot.open(depotPath, { deferFiles: true });
const token = newToken();
await depot.ledger.tokens.create(
  { name: "bench", hash: hashToken(token), policy: { admin: false, allow: [] }, createdAt: new Date() },
  { event: "token-create", requester: "cli", token: "bench" },
);

x509.cryptoProvider.set(webcrypto as unknown as Crypto);
const alg = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" };
const csrs: string[] = [];
for (let i = 0; i < 64; i++) {
  const keys = (await webcrypto.subtle.generateKey(alg, false, ["sign", "verify"])) as CryptoKeyPair;
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({ name: `CN=host-${i}.bench.test`, keys, signingAlgorithm: alg, extensions: [new x509.SubjectAlternativeNameExtension([{ type: "dns", value: `host-${i}.bench.test` }])] });
  csrs.push(csr.toString("pem"));
}
const services = depotApiServices(depot);
const api = createApi(services, { internalError: (e) => console.error(e) });
const requested = await readCertificateRequest(csrs[0]!);
const requester = { requester: "token:bench", client: "127.0.0.1" };
const body = JSON.stringify({ type: "server", csr: csrs[0] });

async function time(name: string, run: (i: number) => unknown): Promise<void> {
  for (let i = 0; i < 50; i++) await run(i);
  const started = performance.now();
  for (let i = 0; i < n; i++) await run(i);
  console.log(`${name.padEnd(40)} ${(((performance.now() - started) * 1000) / n).toFixed(0).padStart(6)} µs`);
}

await time("hashToken", () => hashToken(token));
await time("tokens.findByHash", () => services.tokens.findByHash(hashToken(token)));
await time("readCertificateRequest", (i) => readCertificateRequest(csrs[i % csrs.length]!));
await time("JSON.parse(body)", () => JSON.parse(body));
await time("new Request + text()", () => new Request("https://localhost/v1/certificates", { method: "POST", body }).text());
await time("signCsr (sign + ledger + audit)", () => services.signCsr(requested, { profile: "server", subject: requested.subject, subjectAltNames: requested.subjectAltNames, days: 365 }, requester));
await time("api (whole)", async (i) => {
  const response = await api(
    new Request("https://localhost/v1/certificates", {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ type: "server", csr: csrs[i % csrs.length] }),
    }),
    { clientAddress: "127.0.0.1" },
  );
  if (response.status !== 201) throw new Error(await response.text());
  await response.text();
});
depot.close?.();
