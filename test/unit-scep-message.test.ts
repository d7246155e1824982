// The SCEP face without a socket: a real pkiMessage (built by test/scep-client.ts and checked by openssl) cut at every length, its bytes flipped, wrong types and huge lengths planted, all through scepHandler: each is a 400 problem or a signed CertRep, never a 500, a throw or a hang. The services are stubs; the RA is a real RSA key and certificate made by openssl.
import { beforeAll, expect, test } from "bun:test";
import { createPrivateKey } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { certificateDerFromPem } from "../src/ca/certificate-der.ts";
import { scepHandler } from "../src/http/scep/handler.ts";
import { readPkiMessage } from "../src/http/scep/pki-message.ts";
import type { ScepServices } from "../src/http/scep/services.ts";
import { tempDir } from "./helpers.ts";
import { checkedByOpenssl, envelopeFor, makeRequest, pkiMessage, sh } from "./scep-client.ts";

let dir: string;
let message: Uint8Array;
let handler: ReturnType<typeof scepHandler>;
const errors: unknown[] = [];

beforeAll(() => {
  dir = tempDir("depot-scep-unit-");
  sh(dir, "openssl req -x509 -newkey rsa:2048 -nodes -keyout ra.key -subj '/CN=test RA' -days 2 -out ra.pem 2>/dev/null");
  makeRequest(dir, "device", "/CN=device", "not-a-known-challenge");
  message = pkiMessage(dir, { messageType: "19", transactionId: "TX-UNIT", envelope: envelopeFor(dir, "device.csr.der", "ra.pem"), certificate: "device.self.crt", key: "device.key" }).der;
  checkedByOpenssl(dir, "device", message);
  const raPem = readFileSync(join(dir, "ra.pem"), "utf8");
  const services = {
    api: {
      tokens: { findByHash: async () => undefined },
      now: () => new Date(),
      readCsr: async () => ({ subject: [{ name: "CN", oid: "2.5.4.3", value: "device" }], publicKeyDer: new Uint8Array(), keyType: "rsa-2048", family: "rsa", subjectAltNames: [] }),
      defaultDays: 30,
    },
    ra: async () => ({ privateKey: createPrivateKey(readFileSync(join(dir, "ra.key"))), certificatePem: raPem, certificateDer: certificateDerFromPem(raPem) }),
    transactions: { findTransaction: async () => undefined, recordTransaction: async () => {} },
    caCertificateDers: [],
    internalError: (error: unknown) => errors.push(error),
  } as unknown as ScepServices;
  handler = scepHandler(services);
});

const post = (body: Uint8Array) =>
  handler(new Request("http://depot.test/scep?operation=PKIOperation", { method: "POST", body: body as Uint8Array<ArrayBuffer>, headers: { "content-type": "application/x-pki-message" } }), "192.0.2.1");

test("the whole message, with an unknown challenge, is a signed CertRep (FAILURE), which openssl verifies", async () => {
  const answer = await post(message);
  expect(answer.status).toBe(200);
  expect(answer.headers.get("content-type")).toBe("application/x-pki-message");
  await Bun.write(join(dir, "rep.der"), await answer.arrayBuffer());
  sh(dir, "openssl cms -verify -binary -inform DER -in rep.der -CAfile ra.pem -purpose any -out /dev/null");
  expect(errors).toEqual([]);
});

test("the message cut at every length is a 400 problem (no SCEP message), never anything else", async () => {
  for (let length = 0; length < message.length; length += length < 200 ? 1 : 7) {
    const answer = await post(message.subarray(0, length));
    expect(answer.status).toBe(400);
    expect(answer.headers.get("content-type")).toBe("application/problem+json");
  }
  expect(errors).toEqual([]);
});

test("each byte flipped in turn: a 400, or a CertRep (a FAILURE for a broken signature or envelope)", async () => {
  const seen = new Set<number>();
  for (let at = 0; at < message.length; at += 3) {
    const changed = new Uint8Array(message);
    changed[at] = changed[at]! ^ 0xff;
    const answer = await post(changed);
    seen.add(answer.status);
    expect([200, 400]).toContain(answer.status);
  }
  expect(seen.has(200) && seen.has(400)).toBe(true);
  expect(errors).toEqual([]);
});

test("wrong types and huge or indefinite lengths are MalformedScep, read within the bytes given", () => {
  const cases = [
    new Uint8Array([0x30, 0x84, 0x7f, 0xff, 0xff, 0xff, 0x06, 0x09]), // a 2 GiB SEQUENCE in 8 bytes
    new Uint8Array([0x30, 0x80, 0x06, 0x09, 0x00, 0x00]), // BER indefinite length
    new Uint8Array([0x30, 0x89, 1, 2, 3, 4, 5, 6, 7, 8, 9]), // a nine-octet length
    new Uint8Array([0x31, 0x00]), // a SET, not a ContentInfo
    new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x00]), // an INTEGER where the contentType belongs
    new Uint8Array([0x30, 0x0b, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x01]), // id-data, not SignedData
    new Uint8Array([0x1f, 0xff, 0xff, 0xff, 0x7f, 0x00]), // a high tag number
  ];
  for (const der of cases) expect(() => readPkiMessage(der)).toThrow(/not a SCEP message/);
});

test("GET: bad base64, a missing message, an unknown operation, a huge message: 400 or 413 problem documents", async () => {
  const get = (query: string) => handler(new Request(`http://depot.test/scep?${query}`), undefined);
  expect((await get("operation=PKIOperation&message=%%%")).status).toBe(400);
  expect((await get("operation=PKIOperation")).status).toBe(400);
  expect((await get("operation=Nope")).status).toBe(400);
  expect((await get("")).status).toBe(400);
  expect((await get(`operation=PKIOperation&message=${"A".repeat(200_000)}`)).status).toBe(413);
  const answer = await get(`operation=PKIOperation&message=${encodeURIComponent(Buffer.from(message).toString("base64"))}`);
  expect(answer.status).toBe(200);
  expect((await handler(new Request("http://depot.test/scep?operation=GetCACaps", { method: "PUT" }), undefined)).status).toBe(405);
  const big = new Uint8Array(70 * 1024);
  big[0] = 0x30;
  expect((await post(big)).status).toBe(413);
  expect(errors).toEqual([]);
});
