// The DER depot writes and reads by hand, so that a server's processes need
// not load @peculiar/x509 (about 6 MB each): every piece is compared here
// with what that library makes or reads from the same input.
import { describe, expect, test } from "bun:test";
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { join } from "node:path";
import { certificateDerFromPem, readCertificateDer } from "../src/ca/certificate-der.ts";
import { createDepot } from "../src/ca/create.ts";
import { buildCrl, readCrlHeader } from "../src/ca/crl.ts";
import { Depot } from "../src/ca/depot.ts";
import { makeIssuer } from "../src/ca/issuer.ts";
import type { KeyFamily } from "../src/ca/key-types.ts";
import { leafExtensions, type Profile } from "../src/ca/profiles.ts";
import { publicationExtensions } from "../src/ca/public-url.ts";
import { tempDir } from "./helpers.ts";

const hex = (bytes: ArrayBuffer | Uint8Array) => Buffer.from(bytes as ArrayBuffer).toString("hex");
const { KeyUsageFlags: Usage, ExtendedKeyUsage: Purpose } = x509;

describe("leaf extensions", () => {
  const cases: [Profile, KeyFamily, number, string[]][] = [
    ["client", "rsa", Usage.digitalSignature | Usage.nonRepudiation | Usage.keyEncipherment, [Purpose.clientAuth]],
    ["client", "ec", Usage.digitalSignature, [Purpose.clientAuth]],
    ["client", "ed25519", Usage.digitalSignature, [Purpose.clientAuth]],
    ["server", "rsa", Usage.digitalSignature | Usage.keyEncipherment, [Purpose.serverAuth, Purpose.clientAuth]],
    ["server", "ec", Usage.digitalSignature, [Purpose.serverAuth, Purpose.clientAuth]],
  ];
  for (const [profile, family, usage, purposes] of cases) {
    test(`${profile}/${family}: basicConstraints, keyUsage and extendedKeyUsage as @peculiar/x509 encodes them`, () => {
      const expected = [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(usage, true),
        new x509.ExtendedKeyUsageExtension(purposes, false),
      ].map((e) => hex(e.rawData));
      expect(leafExtensions(profile, family, []).map(hex)).toEqual(expected);
    });
  }

  test("AIA and CDP for a public URL as @peculiar/x509 encodes them", () => {
    const base = "http://ca.example.test:8080";
    const aia = new x509.AuthorityInfoAccessExtension({ ocsp: [new x509.GeneralName("url", `${base}/ocsp`)], caIssuers: [new x509.GeneralName("url", `${base}/ca`)] });
    const cdp = new x509.CRLDistributionPointsExtension([`${base}/crl`]);
    expect(publicationExtensions(base).map(hex)).toEqual([hex(aia.rawData), hex(cdp.rawData)]);
  });
});

describe("the CA certificate, read without @peculiar/x509", async () => {
  const root = await createDepot(join(tempDir(), "fields"), { keyType: "ec-p256" });
  const depot = await Depot.open(root);
  const pem = await Bun.file(depot.layout.caCertificate).text();
  const library = new x509.X509Certificate(pem);
  const fields = readCertificateDer(certificateDerFromPem(pem));

  test("its subject, issuer, validity, key and key identifier", () => {
    expect(hex(fields.der)).toBe(hex(library.rawData));
    expect(hex(fields.subject)).toBe(hex(library.subjectName.toArrayBuffer()));
    expect(hex(fields.issuer)).toBe(hex(library.issuerName.toArrayBuffer()));
    expect(fields.notBefore).toEqual(library.notBefore);
    expect(fields.notAfter).toEqual(library.notAfter);
    expect(hex(fields.spki)).toBe(hex(library.publicKey.rawData));
    expect(hex(fields.subjectKeyId!)).toBe(library.getExtension(x509.SubjectKeyIdentifierExtension)!.keyId);
  });

  test("the AKI its leaves carry, with an SKI and (computed from the key) without one, as @peculiar/x509 makes it", async () => {
    const withSki = makeIssuer(fields, depot.issuer.key);
    const expected = new x509.AuthorityKeyIdentifierExtension(library.getExtension(x509.SubjectKeyIdentifierExtension)!.keyId);
    expect(hex(withSki.encoder.authorityKeyIdentifier)).toBe(hex(expected.rawData));
    const { subjectKeyId: _, ...withoutSki } = fields;
    const computed = makeIssuer(withoutSki, depot.issuer.key);
    const fromKey = await x509.AuthorityKeyIdentifierExtension.create(new Uint8Array(fields.spki));
    expect(hex(computed.encoder.authorityKeyIdentifier)).toBe(hex(fromKey.rawData));
  });

  test("garbage, a truncated certificate and trailing bytes are refused", () => {
    expect(() => certificateDerFromPem("not a certificate")).toThrow();
    expect(() => readCertificateDer(fields.der.slice(0, fields.der.length - 10))).toThrow();
    expect(() => readCertificateDer(new Uint8Array([...fields.der, 0]))).toThrow();
    expect(() => readCertificateDer(new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01]))).toThrow();
  });

  test("a CRL's number and dates, as @peculiar/x509 reads them", async () => {
    const thisUpdate = new Date("2026-11-29T06:00:00Z");
    const nextUpdate = new Date("2026-12-06T06:00:00Z");
    const crlPem = await buildCrl(depot.issuer, 4242, [{ serial: "0a1b", revokedAt: new Date("2026-11-28T00:00:00Z"), reason: "keyCompromise" }], thisUpdate, nextUpdate);
    const crl = new x509.X509Crl(crlPem);
    const header = readCrlHeader(new Uint8Array(crl.rawData));
    expect(header).toEqual({ crlNumber: 4242, thisUpdate: crl.thisUpdate, nextUpdate: crl.nextUpdate! });
  });
});
