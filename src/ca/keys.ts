import { createPrivateKey, createPublicKey, generateKeyPair as generateNodeKeyPair, type KeyObject } from "node:crypto";
import { DepotError } from "../errors.ts";
import { KEY_SPECS, type KeyType } from "./key-types.ts";

/** A fresh key pair as depot hands it out: the private key as PKCS#8 PEM, the public key as SPKI DER. */
export interface KeyPair {
  type: KeyType;
  privateKeyPem: string;
  publicKeyDer: Uint8Array<ArrayBuffer>;
}

/**
 * Generates a key pair, each family the fastest way that never blocks the
 * event loop (docs/crypto-providers.md has the figures):
 * - RSA with node:crypto's asynchronous `generateKeyPair`, which runs on a
 *   native thread pool in Bun; WebCrypto's `generateKey` would block the
 *   loop for the 60-130 ms an RSA-2048 key takes.
 * - EC and Ed25519 with Bun's native `crypto.subtle`: tens of microseconds,
 *   1.2-1.5 times faster than the thread-pool hop.
 */
export async function generateKeyPair(type: KeyType): Promise<KeyPair> {
  const spec = KEY_SPECS[type];
  if (spec.family !== "rsa") {
    const keys = (await crypto.subtle.generateKey(spec.importAlgorithm, true, ["sign", "verify"])) as CryptoKeyPair;
    const [pkcs8, spki] = await Promise.all([
      crypto.subtle.exportKey("pkcs8", keys.privateKey),
      crypto.subtle.exportKey("spki", keys.publicKey),
    ]);
    return { type, privateKeyPem: toPem("PRIVATE KEY", pkcs8), publicKeyDer: new Uint8Array(spki) };
  }
  return new Promise((resolve, reject) => {
    generateNodeKeyPair(
      "rsa",
      {
        modulusLength: spec.modulusLength!,
        publicExponent: 65537,
        publicKeyEncoding: { type: "spki", format: "der" },
        privateKeyEncoding: { type: "pkcs8", format: "pem" },
      },
      (error, publicKeyDer, privateKeyPem) =>
        error ? reject(error) : resolve({ type, privateKeyPem, publicKeyDer: new Uint8Array(publicKeyDer) }),
    );
  });
}

export function toPem(label: string, der: ArrayBuffer | Uint8Array): string {
  const base64 = Buffer.from(der as ArrayBuffer).toString("base64");
  return `-----BEGIN ${label}-----\n${base64.replace(/.{64}/g, "$&\n").replace(/\n?$/, "\n")}-----END ${label}-----\n`;
}

/** A private key loaded for signing, with the key type read from the key itself. */
export interface SigningKey {
  type: KeyType;
  /** For @peculiar/x509 (the CA certificate, CRLs). */
  privateKey: CryptoKey;
  /** For node:crypto's sign(), which the leaf encoder uses. */
  keyObject: KeyObject;
  publicKeyDer: Uint8Array<ArrayBuffer>;
}

/**
 * Loads a PEM private key in any form a depot may hold: PKCS#8 (what depot
 * writes), PKCS#1 `RSA PRIVATE KEY` (what the original Ruby gem wrote) or
 * SEC1 `EC PRIVATE KEY`.
 */
export async function loadSigningKey(pem: string, where: string): Promise<SigningKey> {
  let keyObject: KeyObject;
  try {
    keyObject = createPrivateKey(pem);
  } catch {
    throw new DepotError("E_NOT_A_DEPOT", `${where} does not hold a readable private key`);
  }
  const type = keyTypeOf(keyObject, where);
  const pkcs8 = keyObject.export({ type: "pkcs8", format: "der" });
  const spki = new Uint8Array(createPublicKey(keyObject).export({ type: "spki", format: "der" }));
  const privateKey = await crypto.subtle.importKey("pkcs8", pkcs8, KEY_SPECS[type].importAlgorithm, false, ["sign"]);
  return { type, privateKey, keyObject, publicKeyDer: spki };
}

/** The key type of a private or public key (exported for ca-key.ts's locked key). */
export function keyTypeOf(key: KeyObject, where: string): KeyType {
  const details = key.asymmetricKeyDetails ?? {};
  switch (key.asymmetricKeyType) {
    case "rsa": {
      const bits = details.modulusLength;
      if (bits === 2048 || bits === 3072 || bits === 4096) return `rsa-${bits}`;
      throw new DepotError("E_INSECURE_KEY", `${where} is an RSA key of ${bits} bits; depot signs with 2048, 3072 or 4096`);
    }
    case "ec":
      if (details.namedCurve === "prime256v1" || details.namedCurve === "P-256") return "ec-p256";
      if (details.namedCurve === "secp384r1" || details.namedCurve === "P-384") return "ec-p384";
      break;
    case "ed25519":
      return "ed25519";
  }
  throw new DepotError("E_NOT_A_DEPOT", `${where} holds a key type depot cannot sign with`);
}
