/**
 * OCSP responses per second: `bun bench/ocsp.ts [--seconds N] [--concurrency C] [--json]`.
 *
 * Starts the compiled server (dist/depot, 2 workers, EC P-256 CA) with the
 * plain-HTTP listener on a free port, issues 32 certificates, and asks
 * about them over keep-alive connections (Bun's fetch pools them) at
 * concurrency 16 by POST: first requests without a nonce (the cacheable
 * kind nginx and browsers send), then with a fresh nonce each (signed per
 * request). Every response is verified: successful, the certificate asked
 * about, status good, the nonce echoed, the CA's signature valid (walked
 * with the DER reader; the first answer per serial also read with
 * @peculiar/asn1-ocsp). A response byte-identical to one already verified
 * counts as verified (its signature and contents are the same bytes); every
 * distinct response is verified in full. The client runs on the same cores
 * as the server. Aim (issue 14): at least 10,000/s without a nonce.
 */
import { BasicOCSPResponse, id_pkix_ocsp_nonce, OCSPRequest, OCSPResponse, Request as OcspRequestItem, TBSRequest, CertID } from "@peculiar/asn1-ocsp";
import { AsnConvert, AsnParser, OctetString } from "@peculiar/asn1-schema";
import { AlgorithmIdentifier, Certificate, Extension } from "@peculiar/asn1-x509";
import { createHash, createPublicKey, randomBytes, verify } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { children, oid, readElement, TAG, tlv } from "../src/ca/der.ts";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { freePort } from "./_ports.ts";
import { treeCpuSeconds } from "./_process-tree.ts";
import { benchWorkFolder } from "./_work-folder.ts";

const ROOT = resolve(import.meta.dir, "..");
const DEPOT = join(ROOT, "dist", "depot");
const { values: flags } = parseArgs({
  options: { seconds: { type: "string", default: "5" }, concurrency: { type: "string", default: "16" }, json: { type: "boolean", default: false } },
});
const SECONDS = Number(flags.seconds);
const CONCURRENCY = Number(flags.concurrency);
const CERTIFICATES = 32;

const work = await benchWorkFolder("depot-bench-ocsp-");

function must(cmd: string[]): string {
  const result = Bun.spawnSync(cmd);
  if (result.exitCode !== 0) throw new Error(`${cmd.join(" ")} failed: ${result.stderr}`);
  return result.stdout.toString();
}

const depotPath = join(work, "ca");
const httpPort = freePort();
must([DEPOT, "init", depotPath, "Bench OCSP CA", "--key-type", "ec-p256", "--public-url", `http://127.0.0.1:${httpPort}`]);
const caPem = readFileSync(join(depotPath, "certificates", "ca.crt"), "utf8");
const caDer = Buffer.from(caPem.replace(/-----[^-]+-----|\s/g, ""), "base64");
const ca = AsnParser.parse(caDer, Certificate);
const caKey = createPublicKey({ key: caPem, format: "pem" });
const issuerNameHash = createHash("sha1").update(Buffer.from(AsnConvert.serialize(ca.tbsCertificate.subject))).digest();
const issuerKeyHash = createHash("sha1").update(Buffer.from(ca.tbsCertificate.subjectPublicKeyInfo.subjectPublicKey)).digest();

const serials: Buffer[] = [];
for (let i = 0; i < CERTIFICATES; i++) {
  const out = must([DEPOT, "generate", depotPath, "--type", "client", "--cn", `bench-${i}`]);
  const pem = out.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/)![0];
  const cert = AsnParser.parse(Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ""), "base64"), Certificate);
  serials.push(Buffer.from(cert.tbsCertificate.serialNumber));
}

function requestFor(serial: Buffer, nonce?: Buffer): Uint8Array<ArrayBuffer> {
  const certId = new CertID({
    hashAlgorithm: new AlgorithmIdentifier({ algorithm: "1.3.14.3.2.26", parameters: null }),
    issuerNameHash: new OctetString(issuerNameHash),
    issuerKeyHash: new OctetString(issuerKeyHash),
    serialNumber: serial.buffer.slice(serial.byteOffset, serial.byteOffset + serial.byteLength) as ArrayBuffer,
  });
  const tbs = new TBSRequest({ requestList: [new OcspRequestItem({ reqCert: certId })] });
  if (nonce) tbs.requestExtensions = [new Extension({ extnID: id_pkix_ocsp_nonce, extnValue: new OctetString(AsnConvert.serialize(new OctetString(nonce))) })];
  return new Uint8Array(AsnConvert.serialize(new OCSPRequest({ tbsRequest: tbs })));
}

const verified = new Set<string>();
const certIdOf = new Map<string, Buffer>();

/**
 * Throws unless the response is a good, CA-signed answer about `serial`
 * (echoing `nonce`): walked with the DER reader (the library's parse would
 * make the client, not the server, the bottleneck), the signature checked
 * over the exact tbsResponseData bytes. The first answer about each serial
 * is also read with @peculiar/asn1-ocsp, as a cross-check.
 */
function check(body: Uint8Array, serial: Buffer, nonce?: Buffer): void {
  const key = nonce ? undefined : Buffer.from(body).toString("latin1");
  if (key && verified.has(key)) return;
  const bytes = Buffer.from(body);
  const top = children(bytes, readElement(bytes));
  if (bytes[top[0]!.contentStart] !== 0 || !top[1]) throw new Error("response status is not successful");
  const responseBytes = children(bytes, children(bytes, top[1])[0]!);
  const basicDer = bytes.subarray(responseBytes[1]!.contentStart, responseBytes[1]!.end);
  const [tbs, , signature] = children(basicDer, readElement(basicDer));
  const tbsBytes = basicDer.subarray(tbs!.start, tbs!.end);
  const fields = children(basicDer, tbs!);
  const responses = fields.find((f, i) => i > 0 && f.tag === 0x30)!;
  const single = children(basicDer, children(basicDer, responses)[0]!);
  const certId = basicDer.subarray(single[0]!.start, single[0]!.end);
  const serialField = children(basicDer, single[0]!)[3]!;
  if (!basicDer.subarray(serialField.contentStart, serialField.end).equals(serial)) throw new Error("answer about another serial");
  if (basicDer[single[1]!.start] !== 0x80) throw new Error("status is not good");
  if (nonce && !tbsBytes.includes(nonce)) throw new Error("nonce not echoed");
  if (!verify("sha256", tbsBytes, caKey, basicDer.subarray(signature!.contentStart + 1, signature!.end))) throw new Error("bad signature");
  const hexSerial = serial.toString("hex");
  if (!certIdOf.has(hexSerial)) {
    const parsed = AsnParser.parse(AsnParser.parse(body, OCSPResponse).responseBytes!.response.buffer, BasicOCSPResponse);
    if (parsed.tbsResponseData.responses[0]!.certStatus.good !== null) throw new Error("the library reads another status");
    certIdOf.set(hexSerial, Buffer.from(certId));
  } else if (!certIdOf.get(hexSerial)!.equals(certId)) throw new Error("another CertID");
  if (key) verified.add(key);
}

const pidFile = join(work, "depot.pid");
const server = Bun.spawn(
  [DEPOT, "start", depotPath, "--port", String(freePort()), "--http-port", String(httpPort), "--process-count", "2",
    "--pid-file", pidFile, "--log-file", join(work, "depot.log"), "--log-level", "warn"],
  { stdout: "ignore", stderr: "inherit", stdin: "ignore" },
);
for (const started = performance.now(); ; ) {
  if (performance.now() - started > 15_000) throw new Error("server did not start in 15 s");
  if (existsSync(`${pidFile}.json`) && JSON.parse(readFileSync(`${pidFile}.json`, "utf8")).workers?.length === 2) break;
  await Bun.sleep(10);
}
const url = `http://127.0.0.1:${httpPort}/ocsp`;

/** A request with a fresh nonce, written with the DER writer around the CertID the library made (building it with the library per request would make the client the bottleneck). */
const certIds = serials.map((serial) => {
  const request = AsnParser.parse(requestFor(serial), OCSPRequest);
  return new Uint8Array(AsnConvert.serialize(request.tbsRequest.requestList[0]!.reqCert));
});
function nonceRequest(which: number, nonce: Buffer): Uint8Array<ArrayBuffer> {
  const extension = tlv(TAG.SEQUENCE, oid(id_pkix_ocsp_nonce), tlv(TAG.OCTET_STRING, tlv(TAG.OCTET_STRING, nonce)));
  return tlv(TAG.SEQUENCE, tlv(TAG.SEQUENCE, tlv(TAG.SEQUENCE, tlv(TAG.SEQUENCE, certIds[which]!)), tlv(0xa2, tlv(TAG.SEQUENCE, extension))));
}

async function round(withNonce: boolean): Promise<{ perSecond: number; answered: number; failures: number; p99Ms: number; serverCpuUs: number; clientCpuUs: number }> {
  const server0 = treeCpuSeconds(server.pid);
  const client0 = process.cpuUsage();
  const fixed = serials.map((serial) => requestFor(serial));
  const deadline = performance.now() + SECONDS * 1000;
  let answered = 0;
  let failures = 0;
  const latencies: number[] = [];
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async (_, lane) => {
      for (let i = lane; performance.now() < deadline; i += CONCURRENCY) {
        const which = i % serials.length;
        const nonce = withNonce ? randomBytes(16) : undefined;
        const body = nonce ? nonceRequest(which, nonce) : fixed[which]!;
        const sent = performance.now();
        try {
          const response = await fetch(url, { method: "POST", headers: { "Content-Type": "application/ocsp-request" }, body });
          check(new Uint8Array(await response.arrayBuffer()), serials[which]!, nonce);
          answered++;
        } catch (error) {
          if (failures++ === 0) console.error(`first failure: ${(error as Error).message}`);
        }
        latencies.push(performance.now() - sent);
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  const client = process.cpuUsage(client0);
  latencies.sort((a, b) => a - b);
  return {
    perSecond: answered / elapsed,
    answered,
    failures,
    p99Ms: latencies[Math.floor(latencies.length * 0.99)] ?? 0,
    serverCpuUs: ((treeCpuSeconds(server.pid) - server0) * 1e6) / answered,
    clientCpuUs: (client.user + client.system) / answered,
  };
}

try {
  await round(false); // warm-up: caches, JIT, connections
  const plain = await round(false);
  const nonce = await round(true);
  const rows = [
    { scenario: "no nonce", ...plain },
    { scenario: "nonce", ...nonce },
  ];
  if (flags.json) console.log(JSON.stringify({ concurrency: CONCURRENCY, seconds: SECONDS, workers: 2, keyType: "ec-p256", rows }));
  else {
    console.log(`OCSP over keep-alive, c=${CONCURRENCY}, 2 workers, EC P-256 CA, ${SECONDS} s each, every response verified`);
    for (const row of rows) {
      console.log(
        `${row.scenario.padEnd(9)} ${row.perSecond.toFixed(0).padStart(7)}/s  answered ${row.answered}  failures ${row.failures}  p99 ${row.p99Ms.toFixed(2)} ms  ` +
          `CPU per response: server ${row.serverCpuUs.toFixed(0)} us, client ${row.clientCpuUs.toFixed(0)} us`,
      );
    }
  }
} finally {
  server.kill("SIGTERM");
  await server.exited;
}
