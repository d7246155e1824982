// toPem cuts base64 into 64-character lines by hand (it runs for every
// certificate issued): its output must be what OpenSSL writes for the same
// bytes, at every length around a line's edge.
import { expect, test } from "bun:test";
import { generateKeyPairSync } from "node:crypto";
import { generateKeyPair, toPem } from "../src/ca/keys.ts";

test("PEM lines as node:crypto (OpenSSL) writes them, for 1 to 200 bytes and a certificate's size", () => {
  // node:crypto writes PEM through OpenSSL; a raw ECDSA private key's DER and PEM give us a reference for each length.
  const { privateKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });
  const referencePem = privateKey.export({ type: "pkcs8", format: "pem" }) as string;
  const referenceDer = privateKey.export({ type: "pkcs8", format: "der" });
  expect(toPem("PRIVATE KEY", referenceDer)).toBe(referencePem);
  for (const length of [...Array.from({ length: 200 }, (_, i) => i + 1), 559, 1000]) {
    const bytes = crypto.getRandomValues(new Uint8Array(length));
    const base64 = Buffer.from(bytes).toString("base64");
    const lines = base64.match(/.{1,64}/g)!.join("\n");
    expect(toPem("CERTIFICATE", bytes)).toBe(`-----BEGIN CERTIFICATE-----\n${lines}\n-----END CERTIFICATE-----\n`);
    // A view into a larger buffer encodes only its own bytes.
    const view = new Uint8Array(length + 8).subarray(4, 4 + length);
    view.set(bytes);
    expect(toPem("CERTIFICATE", view)).toBe(toPem("CERTIFICATE", bytes));
  }
});

test("generated EC and Ed25519 keys come as a PKCS#8 PEM whose public half is the SPKI given", async () => {
  const { createPrivateKey, createPublicKey } = await import("node:crypto");
  for (const type of ["ec-p256", "ec-p384", "ed25519"] as const) {
    const pair = await generateKeyPair(type);
    expect(pair.privateKeyPem).toStartWith("-----BEGIN PRIVATE KEY-----\n");
    const spki = createPublicKey(createPrivateKey(pair.privateKeyPem)).export({ type: "spki", format: "der" });
    expect(Buffer.from(pair.publicKeyDer).equals(spki)).toBe(true);
  }
});

test("P-256 keys, wrapped by hand around the scalar and point, are byte for byte what OpenSSL exports for them", async () => {
  const { createPrivateKey, createPublicKey } = await import("node:crypto");
  // Enough keys that some scalars start with a zero byte (1 in 256), which the layout must keep.
  for (let i = 0; i < 1500; i++) {
    const pair = await generateKeyPair("ec-p256");
    const key = createPrivateKey(pair.privateKeyPem);
    expect(key.asymmetricKeyDetails?.namedCurve).toBe("prime256v1");
    expect(key.export({ type: "pkcs8", format: "pem" })).toBe(pair.privateKeyPem);
    expect(Buffer.from(pair.publicKeyDer).equals(createPublicKey(key).export({ type: "spki", format: "der" }))).toBe(true);
  }
});
