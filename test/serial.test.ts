import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { serialOfCertificate } from "../src/ca/certificate-names.ts";
import { createDepot } from "../src/ca/create.ts";
import { Depot } from "../src/ca/depot.ts";
import { parseDn } from "../src/ca/dn.ts";
import { pemOf, signLeaf, validityFor } from "../src/ca/issuer.ts";
import { generateKeyPair } from "../src/ca/keys.ts";
import { leafExtensions } from "../src/ca/profiles.ts";
import {
  certificateFileName,
  magnitudeHex,
  newSerial,
  parseSerial,
  SERIAL_RANDOM_BYTES,
  SERIAL_TIME_BYTES,
  serialToDecimal,
  toDerIntegerHex,
} from "../src/ca/serial.ts";
import { openssl, tempDir } from "./helpers.ts";


const bytes = (...values: number[]) => new Uint8Array(values);

describe("toDerIntegerHex", () => {
  test("adds 00 before a first byte of 0x80 or more", () => {
    expect(toDerIntegerHex("80")).toBe("0080");
    expect(toDerIntegerHex("ff")).toBe("00ff");
    expect(toDerIntegerHex("8f0102")).toBe("008f0102");
    expect(toDerIntegerHex("f".repeat(32))).toBe(`00${"f".repeat(32)}`);
  });

  test("leaves a first byte under 0x80 alone", () => {
    expect(toDerIntegerHex("7f")).toBe("7f");
    expect(toDerIntegerHex("01")).toBe("01");
    expect(toDerIntegerHex("7fffff")).toBe("7fffff");
  });

  test("strips leading zero bytes, keeping the one a high first byte needs", () => {
    expect(toDerIntegerHex("000001")).toBe("01");
    expect(toDerIntegerHex("00007f")).toBe("7f");
    expect(toDerIntegerHex("0080")).toBe("0080");
    expect(toDerIntegerHex("000080")).toBe("0080");
    expect(toDerIntegerHex("00")).toBe("00");
  });

  test("pads an odd number of hex digits", () => {
    expect(toDerIntegerHex("1")).toBe("01");
    expect(toDerIntegerHex("abc")).toBe("0abc");
    expect(toDerIntegerHex("fff")).toBe("0fff");
  });
});

describe("magnitudeHex", () => {
  test("lower-case hex without leading zero bytes", () => {
    expect(magnitudeHex(bytes(0, 0, 1, 2))).toBe("0102");
    expect(magnitudeHex(bytes(0xab, 0xcd))).toBe("abcd");
    expect(magnitudeHex(bytes(0, 0x80))).toBe("80");
    expect(magnitudeHex(bytes(0x00, 0x0f))).toBe("0f");
  });

  test("zero is 00", () => {
    expect(magnitudeHex(bytes(0, 0, 0))).toBe("00");
    expect(magnitudeHex(bytes(0))).toBe("00");
    expect(magnitudeHex(bytes())).toBe("00");
  });
});

describe("newSerial", () => {
  const COUNT = 2000;
  const before = Date.now();
  const serials = Array.from({ length: COUNT }, () => newSerial());
  const after = Date.now();

  test("6 bytes of issue time, then 13 random bytes (104 bits)", () => {
    expect([SERIAL_TIME_BYTES, SERIAL_RANDOM_BYTES]).toEqual([6, 13]);
    for (const serial of serials) {
      expect(serial.length).toBe(38);
      const millis = Number.parseInt(serial.slice(0, 12), 16);
      expect(millis).toBeGreaterThanOrEqual(before);
      expect(millis).toBeLessThanOrEqual(after);
    }
    expect(newSerial(Date.UTC(2026, 11, 6)).slice(0, 12)).toBe(Date.UTC(2026, 11, 6).toString(16).padStart(12, "0"));
  });

  test("serials made later sort after, as hex text and as numbers: the ledger's index grows at one end", () => {
    const early = newSerial(Date.UTC(2026, 0, 1));
    const late = newSerial(Date.UTC(2026, 0, 1) + 1);
    expect(early < late).toBe(true);
    expect(BigInt(`0x${early}`) < BigInt(`0x${late}`)).toBe(true);
  });

  test("all distinct", () => {
    expect(new Set(serials).size).toBe(COUNT);
  });

  test("lower-case even-length hex with no leading zero byte, never zero", () => {
    for (const serial of serials) {
      expect(serial).toMatch(/^[0-9a-f]+$/);
      expect(serial.length % 2).toBe(0);
      expect(serial.startsWith("00")).toBe(false);
      expect(BigInt(`0x${serial}`) > 0n).toBe(true);
      expect(magnitudeHex(Buffer.from(serial, "hex"))).toBe(serial);
    }
  });

  test("at most 20 octets once DER-encoded, and a positive INTEGER, until 2039 and after", () => {
    const years = [Date.UTC(2026, 0, 1), Date.UTC(2039, 8, 1), Date.UTC(2100, 0, 1)];
    for (const serial of [...serials, ...years.map((t) => newSerial(t))]) {
      const der = toDerIntegerHex(serial);
      expect(der.length / 2).toBeLessThanOrEqual(20);
      expect(parseInt(der.slice(0, 2), 16)).toBeLessThan(0x80);
    }
  });

  test("at least 64 random bits: every one of the 104 random bit positions varies", () => {
    // Each of the 104 bit positions after the time is set in some serial and
    // clear in another ((1/2)^2000 each by chance). A counter or a fixed
    // part would leave bit positions that never change.
    const randomParts = serials.map((s) => BigInt(`0x${s.slice(12)}`));
    const all = (1n << 104n) - 1n;
    expect(randomParts.reduce((a, b) => a | b, 0n)).toBe(all);
    expect(randomParts.reduce((a, b) => a & b, all)).toBe(0n);
    // No two serials share their first 8 random bytes (a random prefix on a counter would).
    expect(new Set(randomParts.map((v) => v >> 40n)).size).toBe(COUNT);
    // About half the bits are set: 208,000 fair bits have a standard deviation of 228.
    let ones = 0;
    for (const v of randomParts) for (const c of v.toString(2)) if (c === "1") ones++;
    expect(Math.abs(ones - COUNT * 52)).toBeLessThan(4500);
  });
});

describe("parseSerial", () => {
  test("decimal", () => {
    expect(parseSerial("1")).toBe("01");
    expect(parseSerial("12")).toBe("0c");
    expect(parseSerial("255")).toBe("ff");
    expect(parseSerial("256")).toBe("0100");
    expect(parseSerial("  0042 ")).toBe("2a");
    expect(parseSerial("340282366920938463463374607431768211455")).toBe("f".repeat(32));
  });

  test("0x-hex", () => {
    expect(parseSerial("0x1f")).toBe("1f");
    expect(parseSerial("0X1F")).toBe("1f");
    expect(parseSerial("0xABC")).toBe("0abc");
    expect(parseSerial("0x0001")).toBe("01");
    expect(parseSerial("0x8f0102")).toBe("8f0102");
  });

  test("colon-hex, as openssl prints it", () => {
    expect(parseSerial("01:02:ff")).toBe("0102ff");
    expect(parseSerial("5A:E9:3B:0D")).toBe("5ae93b0d");
    expect(parseSerial("00:8f:01")).toBe("8f01");
  });

  test("round-trips newSerial in all three forms", () => {
    for (const serial of serials5()) {
      expect(parseSerial(serialToDecimal(serial))).toBe(serial);
      expect(parseSerial(`0x${serial.toUpperCase()}`)).toBe(serial);
      expect(parseSerial(serial.match(/../g)!.join(":"))).toBe(serial);
    }
  });

  test("refuses zero, negatives and malformed text", () => {
    for (const text of ["0", "0x0", "00:00", "-1", "", "   ", "0x", "zz", "1:2", "01:2", "12ab", "0x12g", "1.5", "01::02", "01:02:"]) {
      expect(parseSerial(text)).toBeUndefined();
    }
  });

  function serials5(): string[] {
    return Array.from({ length: 5 }, () => newSerial());
  }
});

describe("certificateFileName", () => {
  test("is the serial in decimal", () => {
    expect(certificateFileName("01")).toBe("1.crt");
    expect(certificateFileName("0c")).toBe("12.crt");
    expect(certificateFileName("ff")).toBe("255.crt");
    expect(certificateFileName("0100")).toBe("256.crt");
    expect(certificateFileName("f".repeat(32))).toBe("340282366920938463463374607431768211455.crt");
    expect(serialToDecimal("8f0102")).toBe("9371906");
  });
});

describe("serials in real certificates, read by openssl", () => {
  let root: string;
  let depot: Depot;
  let dir: string;

  beforeAll(async () => {
    dir = tempDir("depot-serial-");
    root = await createDepot(join(dir, "Serial CA"), { keyType: "ec-p256" });
    depot = await Depot.open(root);
  });
  afterAll(() => depot?.close());

  /** The certificate's serialNumber INTEGER as `openssl asn1parse` prints it (the 2nd INTEGER, after the version). */
  function serialInteger(pemPath: string): { length: number; value: string } {
    const result = openssl(["asn1parse", "-in", pemPath]);
    expect(result.exitCode).toBe(0);
    const integers = result.stdout.split("\n").filter((line) => line.includes("prim: INTEGER"));
    const match = /l=\s*(\d+) prim: INTEGER\s+:(\S+)/.exec(integers[1] ?? "");
    expect(match).not.toBeNull();
    return { length: Number(match![1]), value: match![2]! };
  }

  /** A one-day EC client certificate from the depot's CA with exactly this serial. */
  async function clientLeaf(serial: string, subject: string): Promise<Uint8Array> {
    const keyPair = await generateKeyPair("ec-p256");
    return signLeaf(depot.issuer, { serial, subject: parseDn(subject), publicKeyDer: keyPair.publicKeyDer, validity: validityFor(1), extensions: leafExtensions("client", "ec", []) });
  }

  function opensslSerial(pemPath: string): string {
    const result = openssl(["x509", "-noout", "-serial", "-in", pemPath]);
    expect(result.exitCode).toBe(0);
    return result.stdout.trim();
  }

  test("the negative-serial detector works (control: openssl's own negative serial)", () => {
    const cert = join(dir, "negative.pem");
    const made = openssl([
      "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
      "-keyout", join(dir, "negative.key"), "-subj", "/CN=negative", "-set_serial", "-0x8f01", "-out", cert,
    ]);
    expect(made.exitCode).toBe(0);
    expect(opensslSerial(cert)).toBe("serial=-8F01");
    expect(serialInteger(cert).value).toBe("-8F01");
  });

  test("signLeaf with a serial whose first byte is 0x80 or more: positive, minimal, same number", async () => {
    for (const first of ["80", "8f", "ff"]) {
      const serial = first + randomBytes(15).toString("hex");
      const certificate = await clientLeaf(serial, "CN=high.example.com");
      const path = join(dir, `high-${first}.pem`);
      writeFileSync(path, pemOf(certificate));
      expect(opensslSerial(path)).toBe(`serial=${serial.toUpperCase()}`);
      // 17 content octets: the 0x00 sign byte and the 16-byte magnitude.
      expect(serialInteger(path)).toEqual({ length: 17, value: serial.toUpperCase() });
      const text = openssl(["x509", "-noout", "-text", "-in", path]).stdout;
      expect(text).not.toContain("Negative");
      expect(text).toContain(`Serial Number:\n            ${serial.match(/../g)!.join(":")}\n`);
    }
  });

  // SCEP's RenewalReq and POST /v1/renew find the signer's row by this; a leading zero digit once made one serial in sixteen unknown.
  test("serialOfCertificate reads a serial back in the ledger's form: a leading zero digit kept, the sign byte dropped", async () => {
    for (const serial of ["0f" + randomBytes(15).toString("hex"), "8f" + randomBytes(15).toString("hex"), "01" + randomBytes(15).toString("hex")]) {
      const certificate = await clientLeaf(serial, "CN=read-back.example.com");
      expect(serialOfCertificate(certificate)).toBe(serial);
      // The same number as openssl reads it.
      const path = join(dir, `read-back-${serial.slice(0, 2)}.pem`);
      writeFileSync(path, pemOf(certificate));
      expect(BigInt(`0x${opensslSerial(path).replace("serial=", "")}`)).toBe(BigInt(`0x${serial}`));
    }
  });

  test("signLeaf with leading zero bytes in the serial: encoded minimally", async () => {
    const keyPair = await generateKeyPair("ec-p256");
    const certificate = await signLeaf(depot.issuer, {
      serial: "00007f01",
      subject: parseDn("CN=low.example.com"),
      publicKeyDer: keyPair.publicKeyDer,
      validity: validityFor(1),
      extensions: leafExtensions("client", "ec", []),
    });
    const path = join(dir, "low.pem");
    writeFileSync(path, pemOf(certificate));
    expect(serialInteger(path)).toEqual({ length: 2, value: "7F01" });
  });

  test("Depot.issue: openssl reads the serial as a 19-octet positive INTEGER, the same in the file name and the ledger", async () => {
    // (High first bytes, which need a 0x00 in front, are signLeaf's case above.)
    const issued = await depot.issue({ profile: "client", subject: parseDn("CN=Bob"), keyType: "ec-p256" });
    const serial = issued.serial;
    const path = join(root, "certificates", certificateFileName(serial));
    expect(existsSync(path)).toBe(true);
    expect(path.endsWith(`/${BigInt(`0x${serial}`).toString(10)}.crt`)).toBe(true);
    expect(opensslSerial(path)).toBe(`serial=${serial.toUpperCase()}`);
    expect(serialInteger(path)).toEqual({ length: 19, value: serial.toUpperCase() });
    expect((await depot.ledger.find(serial))?.serial).toBe(serial);
  });

  test("the CA certificate's serial is positive and matches the ledger", async () => {
    const caPath = join(root, "certificates", "ca.crt");
    const rows = (await depot.ledger.list()).filter((r) => r.type === "ca");
    expect(rows).toHaveLength(1);
    expect(opensslSerial(caPath)).toBe(`serial=${rows[0]!.serial.toUpperCase()}`);
    expect(serialInteger(caPath).value.startsWith("-")).toBe(false);
  });
});
