// The README's library example works as written (imports from src/index.ts).
import { expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { createDepot, Depot, DepotError, KEY_TYPES, parseDn } from "../src/index.ts";
import { openssl, tempDir } from "./helpers.ts";

test("create, open, issue a server certificate: openssl verifies it and sees its names", async () => {
  const path = join(tempDir(), "example-ca");
  await createDepot(path, { label: "Example CA", keyType: "ec-p256" });
  const depot = await Depot.open(path);
  const { privateKeyPem, certificatePem, serial } = await depot.issue({
    profile: "server",
    subject: parseDn("CN=www.example.com"),
    subjectAltNames: ["10.0.0.5"],
  });
  depot.close();
  const certFile = join(path, "www.pem");
  writeFileSync(certFile, certificatePem);
  expect(openssl(["verify", "-CAfile", join(path, "certificates", "ca.crt"), certFile]).stdout).toBe(`${certFile}: OK\n`);
  expect(openssl(["x509", "-in", certFile, "-noout", "-ext", "subjectAltName"]).stdout).toContain("DNS:www.example.com, IP Address:10.0.0.5");
  expect(openssl(["x509", "-in", certFile, "-noout", "-serial"]).stdout.trim()).toBe(`serial=${serial.toUpperCase()}`);
  expect(privateKeyPem).toStartWith("-----BEGIN PRIVATE KEY-----\n");
  expect(KEY_TYPES).toEqual(["rsa-2048", "rsa-3072", "rsa-4096", "ec-p256", "ec-p384", "ed25519"]);
});

test("the library throws DepotError with a code, for the caller to turn into a message", async () => {
  const error = await Depot.open(join(tempDir(), "nothing-here")).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(DepotError);
  expect((error as DepotError).code).toBe("E_NOT_A_DEPOT");
});
