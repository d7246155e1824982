/**
 * @module
 * A new CA's self-signed certificate (`depot init`), made with
 * @peculiar/x509's generator: once per depot, so its cost does not matter,
 * and kept out of the modules a server's processes load.
 */
import { type DistinguishedName, toJsonName } from "./dn.ts";
import type { Validity } from "./issuer.ts";
import { KEY_SPECS } from "./key-types.ts";
import type { SigningKey } from "./keys.ts";
import { webCrypto, x509 } from "./provider.ts";
import { toDerIntegerHex } from "./serial.ts";

/** A CA's own extensions: CA:TRUE and keyCertSign + cRLSign, both critical. */
export function caExtensions(): x509.Extension[] {
  return [
    new x509.BasicConstraintsExtension(true, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
  ];
}

export async function selfSignCa(
  key: SigningKey,
  subject: DistinguishedName,
  serial: string,
  validity: Validity,
): Promise<x509.X509Certificate> {
  const name = toJsonName(subject);
  return x509.X509CertificateGenerator.create({
    serialNumber: toDerIntegerHex(serial),
    subject: name,
    issuer: name,
    ...validity,
    publicKey: key.publicKeyDer,
    signingKey: key.privateKey,
    signingAlgorithm: KEY_SPECS[key.type].signingAlgorithm,
    extensions: [...caExtensions(), await x509.SubjectKeyIdentifierExtension.create(key.publicKeyDer, false, webCrypto)],
  }, webCrypto);
}
