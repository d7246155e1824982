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
 * Generates a key pair with node:crypto's asynchronous `generateKeyPair`: in Bun
 * it runs on a native thread pool, so an RSA key (tens of milliseconds) never
 * blocks the event loop, unlike WebCrypto's `generateKey`, which is synchronous
 * for RSA (docs/crypto-providers.md has the figures).
 */
export function generateKeyPair(type: KeyType): Promise<KeyPair> {
  const spec = KEY_SPECS[type];
  const encodings = {
    publicKeyEncoding: { type: "spki", format: "der" },
    privateKeyEncoding: { type: "pkcs8", format: "pem" },
  } as const;
  return new Promise((resolve, reject) => {
    const done = (error: Error | null, publicKeyDer: Buffer, privateKeyPem: string) =>
      error ? reject(error) : resolve({ type, privateKeyPem, publicKeyDer: new Uint8Array(publicKeyDer) });
    switch (spec.family) {
      case "rsa":
        generateNodeKeyPair("rsa", { modulusLength: spec.modulusLength!, publicExponent: 65537, ...encodings }, done);
        break;
      case "ec":
        generateNodeKeyPair("ec", { namedCurve: spec.namedCurve!, ...encodings }, done);
        break;
      case "ed25519":
        generateNodeKeyPair("ed25519", encodings, done);
        break;
    }
  });
}

/** A private key loaded for signing, with the key type read from the key itself. */
export interface SigningKey {
  type: KeyType;
  privateKey: CryptoKey;
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
  return { type, privateKey, publicKeyDer: spki };
}

function keyTypeOf(key: KeyObject, where: string): KeyType {
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
