/**
 * @module
 * The CA key encrypted at rest: PKCS#8 `ENCRYPTED PRIVATE KEY` (RFC 5958)
 * with PBES2 (RFC 8018), PBKDF2-HMAC-SHA256 at 600,000 iterations (OWASP's
 * figure for PBKDF2-SHA256) and AES-256-CBC, what `openssl pkey -passin`
 * reads. node:crypto's `KeyObject.export({ cipher })` would do it in one call
 * but with 2,048 iterations, so the structure is built here from @peculiar's
 * ASN.1 schemas (asn1-pkcs8; the two PBES2 parameter types they lack are
 * declared in pbes2.ts) and the cryptography is WebCrypto's.
 *
 * Reading accepts what OpenSSL writes too: PBKDF2 with HMAC-SHA1/256/384/512
 * and AES-128/192/256-CBC, so a key encrypted with `openssl pkcs8 -topk8
 * -v2 aes-256-cbc` can be put in a depot.
 */
import { createPrivateKey } from "node:crypto";
import { EncryptedData, EncryptedPrivateKeyInfo } from "@peculiar/asn1-pkcs8";
import { AsnConvert, OctetString } from "@peculiar/asn1-schema";
import { DepotError } from "../errors.ts";
import { toPem } from "./keys.ts";
import { PBES2_OID, Pbes2Params, pbes2Aes256Algorithm, Pbkdf2Params } from "./pbes2.ts";

/** OWASP's 2023 figure for PBKDF2-HMAC-SHA256. */
export const PBKDF2_ITERATIONS = 600_000;
/** More than any sane file holds; bounds the work a crafted key file can ask of us. */
const MAX_ITERATIONS = 10_000_000;

import { ENCRYPTED_KEY_LABEL } from "./key-pem.ts";
export { ENCRYPTED_KEY_LABEL, isEncryptedKeyPem } from "./key-pem.ts";

const PRFS: Record<string, string> = {
  "1.2.840.113549.2.7": "SHA-1",
  "1.2.840.113549.2.9": "SHA-256",
  "1.2.840.113549.2.10": "SHA-384",
  "1.2.840.113549.2.11": "SHA-512",
};
const CIPHERS: Record<string, number> = {
  "2.16.840.1.101.3.4.1.2": 128,
  "2.16.840.1.101.3.4.1.22": 192,
  "2.16.840.1.101.3.4.1.42": 256,
};


/**
 * Encrypts a private key (PEM in any form depot reads: PKCS#8, PKCS#1, SEC1)
 * under a passphrase; returns the `ENCRYPTED PRIVATE KEY` PEM.
 */
export async function encryptPrivateKey(privateKeyPem: string, passphrase: string, iterations = PBKDF2_ITERATIONS): Promise<string> {
  const pkcs8 = createPrivateKey(privateKeyPem).export({ type: "pkcs8", format: "der" });
  const salt = crypto.getRandomValues(new Uint8Array(16));
  const iv = crypto.getRandomValues(new Uint8Array(16));
  const key = await deriveAesKey(passphrase, salt, iterations, "SHA-256", 256, "encrypt");
  const ciphertext = await crypto.subtle.encrypt({ name: "AES-CBC", iv }, key, pkcs8);
  const info = new EncryptedPrivateKeyInfo({
    // As OpenSSL 3 writes it: no keyLength (AES's is fixed).
    encryptionAlgorithm: pbes2Aes256Algorithm({ salt, iterations, iv }),
    encryptedData: new EncryptedData(ciphertext),
  });
  return toPem(ENCRYPTED_KEY_LABEL, AsnConvert.serialize(info));
}

/**
 * Decrypts an `ENCRYPTED PRIVATE KEY` PEM; returns the key as PKCS#8 PEM
 * (`PRIVATE KEY`), which stays in memory. `where` names the file in messages.
 */
export async function decryptPrivateKey(encryptedPem: string, passphrase: string, where: string): Promise<string> {
  const { pbes2, ciphertext } = parseEncryptedKey(encryptedPem, where);
  const kdfParams = parse(pbes2.keyDerivationFunc.parameters, Pbkdf2Params, where);
  const hash = PRFS[kdfParams.prf?.algorithm ?? "1.2.840.113549.2.7"];
  const bits = CIPHERS[pbes2.encryptionScheme.algorithm];
  if (pbes2.keyDerivationFunc.algorithm !== PBES2_OID.pbkdf2 || !hash || !bits) {
    throw new DepotError("E_NOT_A_DEPOT", `${where} is encrypted with an algorithm depot does not read (it reads PBES2 with PBKDF2 and AES-CBC)`);
  }
  if (!(kdfParams.iterationCount >= 1 && kdfParams.iterationCount <= MAX_ITERATIONS)) {
    throw new DepotError("E_NOT_A_DEPOT", `${where} asks for ${kdfParams.iterationCount} PBKDF2 iterations; depot reads 1 to ${MAX_ITERATIONS}`);
  }
  const iv = new Uint8Array(parse(pbes2.encryptionScheme.parameters, OctetString, where).buffer);
  const salt = new Uint8Array(kdfParams.salt.buffer);
  const key = await deriveAesKey(passphrase, salt, kdfParams.iterationCount, hash, bits, "decrypt");
  let pkcs8: ArrayBuffer;
  try {
    pkcs8 = await crypto.subtle.decrypt({ name: "AES-CBC", iv }, key, ciphertext);
    createPrivateKey({ key: Buffer.from(pkcs8), format: "der", type: "pkcs8" });
  } catch {
    // Bad padding, or (1 time in ~256) good padding around garbage: either way, not this passphrase.
    throw new DepotError("E_BAD_PASSPHRASE", `wrong passphrase for ${where}`);
  }
  return toPem("PRIVATE KEY", pkcs8);
}

/** The PBKDF2 iteration count an encrypted key file asks for (to report or check it). */
export function iterationsOf(encryptedPem: string, where = "the key"): number {
  const { pbes2 } = parseEncryptedKey(encryptedPem, where);
  return parse(pbes2.keyDerivationFunc.parameters, Pbkdf2Params, where).iterationCount;
}

function parseEncryptedKey(pem: string, where: string): { pbes2: Pbes2Params; ciphertext: ArrayBuffer } {
  const body = new RegExp(`-----BEGIN ${ENCRYPTED_KEY_LABEL}-----([^-]*)-----END ${ENCRYPTED_KEY_LABEL}-----`).exec(pem)?.[1];
  if (body === undefined) throw new DepotError("E_NOT_A_DEPOT", `${where} is not an encrypted private key`);
  const info = parse(Buffer.from(body.replace(/\s+/g, ""), "base64"), EncryptedPrivateKeyInfo, where);
  if (info.encryptionAlgorithm.algorithm !== PBES2_OID.pbes2) {
    throw new DepotError("E_NOT_A_DEPOT", `${where} is encrypted with an algorithm depot does not read (it reads PBES2 with PBKDF2 and AES-CBC)`);
  }
  return { pbes2: parse(info.encryptionAlgorithm.parameters, Pbes2Params, where), ciphertext: info.encryptedData.buffer };
}

function parse<T>(der: ArrayBuffer | ArrayBufferView | null | undefined, schema: new () => T, where: string): T {
  try {
    if (!der) throw new Error("absent");
    return AsnConvert.parse(der, schema);
  } catch {
    throw new DepotError("E_NOT_A_DEPOT", `${where} is not a readable encrypted private key`);
  }
}

async function deriveAesKey(passphrase: string, salt: Uint8Array<ArrayBuffer>, iterations: number, hash: string, bits: number, usage: "encrypt" | "decrypt"): Promise<CryptoKey> {
  // PBES2 takes the passphrase's UTF-8 bytes as typed (RFC 8018), as OpenSSL does.
  const base = await crypto.subtle.importKey("raw", new TextEncoder().encode(passphrase), "PBKDF2", false, ["deriveKey"]);
  return crypto.subtle.deriveKey({ name: "PBKDF2", salt, iterations, hash }, base, { name: "AES-CBC", length: bits }, false, [usage]);
}
