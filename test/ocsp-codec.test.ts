/**
 * The hand-written OCSP request reader and response writer agree with
 * @peculiar/asn1-ocsp: requests made by the real openssl (SHA-1 and
 * SHA-256, with and without a nonce, several certificates) read the same
 * both ways; every truncation of a request is refused as malformed, and
 * thousands of corruptions are read or refused as malformed, never with
 * another error; and every kind of answer
 * reads back with the library as it was meant.
 */
import { describe, expect, test } from "bun:test";
import { BasicOCSPResponse, OCSPRequest, OCSPResponse, id_pkix_ocsp_nonce } from "@peculiar/asn1-ocsp";
import { AsnConvert, AsnParser } from "@peculiar/asn1-schema";
import { createHash, createPublicKey, randomBytes, verify } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createDepot } from "../src/ca/create.ts";
import { Depot } from "../src/ca/depot.ts";
import { magnitudeHex } from "../src/ca/serial.ts";
import { MalformedOcspRequest, parseOcspRequest } from "../src/ocsp/request.ts";
import { signedResponse } from "../src/ocsp/response.ts";
import { caSigner, IssuerIdentity } from "../src/ocsp/responder.ts";
import { openssl, tempDir } from "./helpers.ts";

const dir = tempDir("depot-ocsp-codec-");
const path = join(dir, "ca");
await createDepot(path, { label: "Codec CA", keyType: "ec-p256" });
const depot = await Depot.open(path);
const caFile = join(path, "certificates", "ca.crt");

function opensslRequest(name: string, args: string[]): Uint8Array {
  const file = join(dir, `${name}.der`);
  const result = openssl(["ocsp", "-issuer", caFile, ...args, "-reqout", file]);
  if (result.exitCode !== 0) throw new Error(result.stderr);
  return new Uint8Array(readFileSync(file));
}

const REQUESTS: Record<string, string[]> = {
  "sha1, nonce": ["-serial", "0x0102"],
  "sha1, no nonce": ["-no_nonce", "-serial", "0x7f"],
  "sha256, nonce": ["-sha256", "-serial", "0x00ff0a"],
  "two serials": ["-serial", "0x1234", "-serial", "0xabcdef0123456789abcdef0123456789"],
};

describe("requests made by openssl read the same as with @peculiar/asn1-ocsp", () => {
  for (const [name, args] of Object.entries(REQUESTS)) {
    test(name, () => {
      const der = opensslRequest(name.replace(/\W+/g, "-"), args);
      const mine = parseOcspRequest(der);
      const theirs = AsnParser.parse(der, OCSPRequest);
      expect(mine.certificates.length).toBe(theirs.tbsRequest.requestList.length);
      theirs.tbsRequest.requestList.forEach(({ reqCert }, i) => {
        const read = mine.certificates[i]!;
        expect(read.serial).toBe(magnitudeHex(new Uint8Array(reqCert.serialNumber)));
        expect(Buffer.from(read.issuerNameHash).equals(Buffer.from(reqCert.issuerNameHash.buffer))).toBe(true);
        expect(Buffer.from(read.issuerKeyHash).equals(Buffer.from(reqCert.issuerKeyHash.buffer))).toBe(true);
        expect(Buffer.from(read.certIdDer).equals(Buffer.from(AsnConvert.serialize(reqCert)))).toBe(true);
        expect(read.hash).toBe(reqCert.hashAlgorithm.algorithm === "1.3.14.3.2.26" ? "sha1" : "sha256");
      });
      const nonce = theirs.tbsRequest.requestExtensions?.find((e) => e.extnID === id_pkix_ocsp_nonce);
      expect(mine.nonce === undefined).toBe(nonce === undefined);
      if (nonce) expect(Buffer.from(mine.nonce!).equals(Buffer.from(nonce.extnValue.buffer))).toBe(true);
    });
  }
});

test("every truncation is refused as malformed; 5,000 random corruptions are read or refused as malformed, never another error", () => {
  const der = opensslRequest("fuzz", ["-serial", "0x0102"]);
  const outcome = (bytes: Uint8Array) => {
    try {
      parseOcspRequest(bytes);
      return "read";
    } catch (error) {
      if (error instanceof MalformedOcspRequest) return "malformed";
      throw error;
    }
  };
  for (let length = 0; length < der.length; length++) expect(outcome(der.subarray(0, length))).toBe("malformed");
  let read = 0;
  for (let i = 0; i < 5000; i++) {
    const corrupt = new Uint8Array(der);
    const flips = 1 + (i % 4);
    for (let f = 0; f < flips; f++) corrupt[randomBytes(2).readUInt16BE() % corrupt.length] = randomBytes(1)[0]!;
    if (outcome(corrupt) === "read") read++;
  }
  // Corrupting a hash or the nonce leaves a well-formed request: some read, most do not.
  expect(read).toBeGreaterThan(0);
  expect(outcome(new Uint8Array([...der, 0]))).toBe("malformed"); // bytes after the request
});

test("good, revoked (with and without a reason) and unknown answers with a nonce read back with the library, signed by the CA", async () => {
  const der = opensslRequest("answers", ["-serial", "0x01", "-serial", "0x02", "-serial", "0x03", "-serial", "0x04"]);
  const query = parseOcspRequest(der);
  const identity = new IssuerIdentity(depot.issuer.certificate.der);
  const thisUpdate = new Date("2026-11-29T10:00:00Z");
  const nextUpdate = new Date("2026-11-29T11:00:00Z");
  const revokedAt = new Date("2026-11-28T09:30:15Z");
  const body = await signedResponse(caSigner(depot.issuer, identity.keyHash("sha1")), {
    answers: [
      { query: query.certificates[0]!, status: { kind: "good" } },
      { query: query.certificates[1]!, status: { kind: "revoked", at: revokedAt, reason: "keyCompromise" } },
      { query: query.certificates[2]!, status: { kind: "revoked", at: revokedAt, reason: "unspecified" } },
      { query: query.certificates[3]!, status: { kind: "unknown" } },
    ],
    thisUpdate,
    nextUpdate,
    nonce: query.nonce!,
  });
  const response = AsnParser.parse(body, OCSPResponse);
  expect(response.responseStatus).toBe(0);
  expect(response.responseBytes!.responseType).toBe("1.3.6.1.5.5.7.48.1.1");
  const basic = AsnParser.parse(response.responseBytes!.response.buffer, BasicOCSPResponse);
  const data = basic.tbsResponseData;
  expect(data.version).toBe(0);
  expect(Buffer.from(data.responderID.byKey!.buffer).equals(createHash("sha1").update(Buffer.from(depot.issuer.key.publicKeyDer).subarray(-65)).digest())).toBe(true);
  expect(data.producedAt).toEqual(thisUpdate);
  const [good, revoked, unspecified, unknown] = data.responses;
  expect(good!.certStatus.good).toBeNull();
  expect(revoked!.certStatus.revoked!.revocationTime).toEqual(revokedAt);
  expect(revoked!.certStatus.revoked!.revocationReason!.reason).toBe(1);
  expect(unspecified!.certStatus.revoked!.revocationReason).toBeUndefined();
  expect(unknown!.certStatus.unknown).toBeNull();
  for (const [i, single] of data.responses.entries()) {
    expect(Buffer.from(AsnConvert.serialize(single.certID)).equals(Buffer.from(query.certificates[i]!.certIdDer))).toBe(true);
    expect(single.thisUpdate).toEqual(thisUpdate);
    expect(single.nextUpdate).toEqual(nextUpdate);
  }
  const nonce = data.responseExtensions!.find((e) => e.extnID === id_pkix_ocsp_nonce)!;
  expect(Buffer.from(nonce.extnValue.buffer).equals(Buffer.from(query.nonce!))).toBe(true);
  const caKey = createPublicKey({ key: Buffer.from(depot.issuer.key.publicKeyDer), format: "der", type: "spki" });
  expect(verify("sha256", Buffer.from(basic.tbsResponseDataRaw ?? AsnConvert.serialize(data)), caKey, Buffer.from(basic.signature))).toBe(true);
});
