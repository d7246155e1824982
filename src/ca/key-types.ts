import { DepotError } from "../errors.ts";

export const KEY_TYPES = ["rsa-2048", "rsa-3072", "rsa-4096", "ec-p256", "ec-p384", "ed25519"] as const;
export type KeyType = (typeof KEY_TYPES)[number];
export const DEFAULT_KEY_TYPE: KeyType = "rsa-2048";

export type KeyFamily = "rsa" | "ec" | "ed25519";

/** How one key type is generated, imported into WebCrypto and used to sign. */
export interface KeySpec {
  family: KeyFamily;
  /** RSA modulus length in bits. */
  modulusLength?: number;
  /** EC curve, WebCrypto name (P-256) and OpenSSL name (prime256v1). */
  namedCurve?: "P-256" | "P-384";
  /** Algorithm for `subtle.importKey` of the private key. */
  importAlgorithm: RsaHashedImportParams | EcKeyImportParams | Algorithm;
  /**
   * Signature algorithm when this key signs a certificate. SHA-256 throughout,
   * except P-384, which is paired with SHA-384 as the CA/Browser Forum asks.
   */
  signingAlgorithm: Algorithm | EcdsaParams;
}

const rsa = (bits: number): KeySpec => ({
  family: "rsa",
  modulusLength: bits,
  importAlgorithm: { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" },
  signingAlgorithm: { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" } as Algorithm,
});

export const KEY_SPECS: Record<KeyType, KeySpec> = {
  "rsa-2048": rsa(2048),
  "rsa-3072": rsa(3072),
  "rsa-4096": rsa(4096),
  "ec-p256": {
    family: "ec",
    namedCurve: "P-256",
    importAlgorithm: { name: "ECDSA", namedCurve: "P-256" },
    signingAlgorithm: { name: "ECDSA", hash: "SHA-256" } as EcdsaParams,
  },
  "ec-p384": {
    family: "ec",
    namedCurve: "P-384",
    importAlgorithm: { name: "ECDSA", namedCurve: "P-384" },
    signingAlgorithm: { name: "ECDSA", hash: "SHA-384" } as EcdsaParams,
  },
  ed25519: {
    family: "ed25519",
    importAlgorithm: { name: "Ed25519" },
    signingAlgorithm: { name: "Ed25519" },
  },
};

export function parseKeyType(text: string): KeyType {
  const wanted = text.trim().toLowerCase();
  const found = KEY_TYPES.find((type) => type === wanted);
  if (!found) {
    throw new DepotError("E_BAD_ARGUMENT", `unknown key type '${text}' (known: ${KEY_TYPES.join(", ")})`);
  }
  return found;
}

/** Said wherever key types are listed, and when an Ed25519 client certificate is made. */
export const ED25519_BROWSER_NOTE = "browsers do not accept Ed25519 client certificates or CAs (Chromium: ERR_SSL_VERSION_OR_CIPHER_MISMATCH; NSS refuses the CA); curl and OpenSSL do";
