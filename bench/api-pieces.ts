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
import { parseCsrDer } from "../src/ca/csr-der.ts";
import { createPublicKey, verify } from "node:crypto";
import { formatDn, parseDn } from "../src/ca/dn.ts";
import { newSerial } from "../src/ca/serial.ts";
import { fingerprintOf, pemOf, signLeaf } from "../src/ca/issuer.ts";
import { hashToken, newToken } from "../src/ca/tokens.ts";
import { createApi } from "../src/http/api/index.ts";
import { depotApiServices } from "../src/http/api/depot-services.ts";
import { benchWorkFolder } from "./_work-folder.ts";
import "../src/store/open-ledger.ts"; // installs the ledger factory: Depot.open and createDepot open the ledger depot.cnf names

const { values: flags } = parseArgs({ options: { n: { type: "string", short: "n", default: "2000" }, only: { type: "string" } } });
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
  if (flags.only && !name.includes(flags.only)) return;
  for (let i = 0; i < 50; i++) await run(i);
  const started = performance.now();
  const cpu = process.cpuUsage();
  for (let i = 0; i < n; i++) await run(i);
  const used = process.cpuUsage(cpu);
  console.log(`${name.padEnd(40)} ${(((performance.now() - started) * 1000) / n).toFixed(0).padStart(6)} µs wall ${((used.user + used.system) / n).toFixed(0).padStart(6)} µs CPU (${(used.system / n).toFixed(0)} in the kernel)`);
}

await time("hashToken", () => hashToken(token));
await time("tokens.findByHash", () => services.tokens.findByHash(hashToken(token)));
await time("readCertificateRequest", (i) => readCertificateRequest(csrs[i % csrs.length]!));
const der = new Uint8Array(Buffer.from(csrs[0]!.replace(/-----[^-]+-----/g, "").replace(/\s+/g, ""), "base64"));
const parts = parseCsrDer(der);
await time("  parseCsrDer", () => parseCsrDer(der));
await time("  createPublicKey(spki)", () => createPublicKey({ key: Buffer.from(parts.spki), format: "der", type: "spki" }));
const publicKey = createPublicKey({ key: Buffer.from(parts.spki), format: "der", type: "spki" });
await time("  verify (ECDSA P-256)", () => verify("sha256", parts.info, publicKey, parts.signature));
await time("  parseDn(formatDn(subject))", () => parseDn(formatDn(requested.subject)));
await time("JSON.parse(body)", () => JSON.parse(body));
await time("new Request + text()", () => new Request("https://localhost/v1/certificates", { method: "POST", body }).text());
await time("signCsr (sign + ledger + audit)", () => services.signCsr(requested, { profile: "server", subject: requested.subject, subjectAltNames: requested.subjectAltNames, days: 365 }, requester));
await time("  newSerial", () => newSerial());
const extensions: Uint8Array[] = [];
const validity = { notBefore: new Date(), notAfter: new Date(Date.now() + 86400e3) };
await time("  signLeaf (TBS + ECDSA sign)", () => signLeaf(depot.issuer, { serial: newSerial(), subject: requested.subject, publicKeyDer: requested.publicKeyDer, validity, extensions }));
const leaf = await signLeaf(depot.issuer, { serial: newSerial(), subject: requested.subject, publicKeyDer: requested.publicKeyDer, validity, extensions });
await time("  pemOf + fingerprintOf", () => [pemOf(leaf), fingerprintOf(leaf)]);
const { issueEntry } = await import("../src/ca/audit.ts");
await time("  ledger.record (+ audit, group commit)", () => {
  const serial = newSerial();
  const record = { serial, subject: "CN=x", type: "server" as const, keyType: "ec-p256", ...validity, fingerprint: serial, pem: "x", status: "valid" as const };
  return depot.ledger.record(record, issueEntry(record, ["x"], requester));
});
const { writeNewFile } = await import("../src/ca/files.ts");
const pemText = pemOf(leaf);
await time("  writeNewFile (certificates/<serial>.crt)", () => writeNewFile(join(depotPath, "certificates", `${newSerial()}.crt`), pemText));
/** One issuance through the whole API handler, CSR `i`. */
async function apiIssue(i: number): Promise<void> {
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
}
await time("api (whole)", apiIssue);
// The same at c=8: requests in flight together share group commits.
async function timeConcurrent(name: string, c: number, run: (i: number) => Promise<unknown>): Promise<void> {
  if (flags.only && !name.includes(flags.only)) return;
  let next = 0;
  const started = performance.now();
  const cpu = process.cpuUsage();
  await Promise.all(Array.from({ length: c }, async () => {
    while (next < n) await run(next++);
  }));
  const used = process.cpuUsage(cpu);
  console.log(`${name.padEnd(40)} ${(((performance.now() - started) * 1000) / n).toFixed(0).padStart(6)} µs wall ${((used.user + used.system) / n).toFixed(0).padStart(6)} µs CPU (${(used.system / n).toFixed(0)} in the kernel)`);
}
await timeConcurrent("signCsr, c=8", 8, () => services.signCsr(requested, { profile: "server", subject: requested.subject, subjectAltNames: requested.subjectAltNames, days: 365 }, requester));
await time("signCsr, c=1", () => services.signCsr(requested, { profile: "server", subject: requested.subject, subjectAltNames: requested.subjectAltNames, days: 365 }, requester));
await timeConcurrent("api (whole), c=8", 8, apiIssue);
const keyBody = JSON.stringify({ type: "client", cn: "bench", keyType: "ec-p256" });
await timeConcurrent("api keys (whole), c=8", 8, async () => {
  const response = await api(
    new Request("https://localhost/v1/certificates", { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body: keyBody }),
    { clientAddress: "127.0.0.1" },
  );
  if (response.status !== 201) throw new Error(await response.text());
  await response.text();
});
await timeConcurrent("depot.issue (keys), c=8", 8, () => services.issue({ profile: "client", subject: [{ name: "CN", oid: "2.5.4.3", value: "bench" }], keyType: "ec-p256" }, requester));
await timeConcurrent("authenticate only, c=8", 8, () =>
  api(new Request("https://localhost/v1/certificates/00", { headers: { authorization: `Bearer ${token}` } }), { clientAddress: "127.0.0.1" }).then((r) => r.text()),
);
depot.close?.();
