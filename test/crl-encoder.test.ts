/**
 * The CRL encoder (src/ca/crl.ts writes DER by hand for speed) against the
 * real openssl: signature, serials with and without a high bit, short and
 * 20-byte ones, UTCTime and GeneralizedTime dates, every reason; and
 * @peculiar/x509 reads back the same entries. One CA per key type.
 */
import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { buildCrl, type CrlEntry, crlDerOf, isSignedBy, readCrl } from "../src/ca/crl.ts";
import { createDepot } from "../src/ca/create.ts";
import { Depot } from "../src/ca/depot.ts";
import { x509 } from "../src/ca/provider.ts";
import { openssl, tempDir } from "./helpers.ts";

const ENTRIES: CrlEntry[] = [
  { serial: "1", revokedAt: new Date("2026-01-02T03:04:05Z"), reason: "unspecified" },
  { serial: "7f", revokedAt: new Date("2026-06-30T23:59:59Z"), reason: "keyCompromise" },
  { serial: "80", revokedAt: new Date("2049-12-31T23:59:59Z"), reason: "affiliationChanged" },
  { serial: "ff".repeat(20), revokedAt: new Date("2050-01-01T00:00:00Z"), reason: "superseded" },
  { serial: "1234567890abcdef1234567890abcdef", revokedAt: new Date("2031-07-08T09:10:11Z"), reason: "cessationOfOperation" },
  { serial: "abc", revokedAt: new Date("2027-02-03T04:05:06Z"), reason: "cACompromise" },
];

const OPENSSL_REASONS: Record<string, string | undefined> = {
  unspecified: undefined,
  keyCompromise: "Key Compromise",
  affiliationChanged: "Affiliation Changed",
  superseded: "Superseded",
  cessationOfOperation: "Cessation Of Operation",
  cACompromise: "CA Compromise",
};

describe.each(["ec-p256", "ec-p384", "rsa-2048", "ed25519"] as const)("a %s CA's CRL", (keyType) => {
  test("openssl verifies it and reads every entry as written; @peculiar/x509 agrees", async () => {
    const root = await createDepot(join(tempDir(), keyType), { keyType });
    const depot = await Depot.open(root);
    try {
      const thisUpdate = new Date("2026-11-29T00:00:00Z");
      const pem = await buildCrl(depot.issuer, 300, ENTRIES, thisUpdate, new Date("2026-12-06T00:00:00Z"));
      const file = join(root, "test-crl.pem");
      writeFileSync(file, pem);
      const verified = openssl(["crl", "-in", file, "-noout", "-CAfile", join(root, "certificates", "ca.crt")]);
      expect({ stderr: verified.stderr, exitCode: verified.exitCode }).toEqual({ stderr: "verify OK\n", exitCode: 0 });
      const text = openssl(["crl", "-in", file, "-noout", "-text"]).stdout;
      expect(text).toMatch(/X509v3 CRL Number: *\n\s+300\n/);
      const blocks = text.split("Serial Number: ").slice(1);
      expect(blocks.length).toBe(ENTRIES.length);
      ENTRIES.forEach((entry, i) => {
        const block = blocks[i]!;
        const hex = entry.serial.length % 2 ? `0${entry.serial}` : entry.serial;
        expect(block.startsWith(hex.toUpperCase())).toBe(true);
        const date = /Revocation Date: (.+)\n/.exec(block)![1]!;
        expect(new Date(date).toISOString()).toBe(entry.revokedAt.toISOString());
        const reason = /CRL Reason Code: *\n\s+(.+)\n/.exec(block)?.[1];
        expect([entry.reason, reason]).toEqual([entry.reason, OPENSSL_REASONS[entry.reason]]);
      });
      const parsed = new x509.X509Crl(pem);
      expect(parsed.entries.map((e) => [e.serialNumber.replace(/^00/, ""), e.revocationDate.toISOString(), e.reason === undefined ? "unspecified" : x509.X509CrlReason[e.reason]])).toEqual(
        ENTRIES.map((e) => [e.serial.length % 2 ? `0${e.serial}` : e.serial, e.revokedAt.toISOString(), e.reason]),
      );
      expect(await parsed.verify({ publicKey: new x509.X509Certificate(depot.issuer.certificate.der).publicKey })).toBe(true);
      // depot's own reader (for ledger rebuild) reads back the same.
      const read = readCrl(crlDerOf(pem)!);
      expect(read.crlNumber).toBe(300);
      expect(read.entries).toEqual(ENTRIES.map((e) => ({ ...e, serial: e.serial.length % 2 ? `0${e.serial}` : e.serial })));
      expect(isSignedBy(depot.issuer, crlDerOf(pem)!)).toBe(true);
    } finally {
      depot.close();
    }
  }, 60_000);
});

test("a CRL of 100,000 entries: openssl verifies it, and depot reads it back (where @peculiar/x509 gives up)", async () => {
  const root = await createDepot(join(tempDir(), "large"), { keyType: "ec-p256" });
  const depot = await Depot.open(root);
  try {
    const entries: CrlEntry[] = Array.from({ length: 100_000 }, (_, i) => ({
      serial: (0x50000000000000000000000000000000n + BigInt(i) * 104729n).toString(16),
      revokedAt: new Date(Date.UTC(2026, 0, 1) + i * 1000),
      reason: ["unspecified", "keyCompromise", "superseded"][i % 3]!,
    }));
    const pem = await buildCrl(depot.issuer, 77, entries, new Date(), new Date(Date.now() + 86_400_000));
    const file = join(root, "large-crl.pem");
    writeFileSync(file, pem);
    const verified = openssl(["crl", "-in", file, "-noout", "-CAfile", join(root, "certificates", "ca.crt")]);
    expect({ stderr: verified.stderr, exitCode: verified.exitCode }).toEqual({ stderr: "verify OK\n", exitCode: 0 });
    expect(() => new x509.X509Crl(pem)).toThrow("Maximum ASN.1 node count exceeded");
    const read = readCrl(crlDerOf(pem)!);
    expect(read.crlNumber).toBe(77);
    expect(read.entries.length).toBe(100_000);
    expect(read.entries[99_999]).toEqual(entries[99_999]!);
  } finally {
    depot.close();
  }
}, 120_000);
