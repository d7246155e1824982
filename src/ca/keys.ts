import { createECDH, createPrivateKey, createPublicKey, generateKeyPair as generateNodeKeyPair, generateKeyPairSync as generateNodeKeyPairSync, type KeyObject } from "node:crypto";
import { DepotError } from "../errors.ts";
import { children, oidText, readElement, TAG } from "./der.ts";
import { KEY_SPECS, KEY_TYPES, type KeyType } from "./key-types.ts";

/** A fresh key pair as depot hands it out: the private key as PKCS#8 PEM, the public key as SPKI DER. */
export interface KeyPair {
  type: KeyType;
  privateKeyPem: string;
  publicKeyDer: Uint8Array<ArrayBuffer>;
}

/**
 * Generates a key pair, each family the fastest way that never blocks the
 * event loop for long (docs/crypto-providers.md has the figures):
 * - RSA with node:crypto's asynchronous `generateKeyPair`, which runs on a
 *   native thread pool in Bun; a synchronous call would block the loop for
 *   the 60-130 ms an RSA-2048 key takes.
 * - EC P-256, the server's most common key, with `p256KeyPair` below: 25-27
 *   µs of CPU.
 * - EC P-384 and Ed25519 right here, with node:crypto's `generateKeyPairSync`
 *   giving the PKCS#8 PEM and SPKI DER from native code (a P-256 key took
 *   38-41 µs this way, 52-54 through `crypto.subtle` and 70 through the
 *   thread pool).
 */
export async function generateKeyPair(type: KeyType): Promise<KeyPair> {
  const spec = KEY_SPECS[type];
  if (type === "ec-p256") return p256KeyPair();
  const encodings = { publicKeyEncoding: { type: "spki", format: "der" }, privateKeyEncoding: { type: "pkcs8", format: "pem" } } as const;
  if (spec.family !== "rsa") {
    const { publicKey, privateKey } =
      spec.family === "ec" ? generateNodeKeyPairSync("ec", { namedCurve: spec.namedCurve!, ...encodings }) : generateNodeKeyPairSync("ed25519", encodings);
    return { type, privateKeyPem: privateKey, publicKeyDer: new Uint8Array(publicKey) };
  }
  return new Promise((resolve, reject) => {
    generateNodeKeyPair("rsa", { modulusLength: spec.modulusLength!, publicExponent: 65537, ...encodings }, (error, publicKeyDer, privateKeyPem) =>
      error ? reject(error) : resolve({ type, privateKeyPem, publicKeyDer: new Uint8Array(publicKeyDer) }),
    );
  });
}

/**
 * The fixed bytes of a P-256 key's PKCS#8 (an RFC 5915 ECPrivateKey with
 * its public point, inside PKCS#8 naming the curve) and SPKI, around the
 * 32-byte scalar and the 65-byte uncompressed point: the layout OpenSSL
 * exports, byte for byte (test/unit-pem.test.ts compares).
 */
const P256_LAYOUT = {
  pkcs8BeforeScalar: Buffer.from("308187020100301306072a8648ce3d020106082a8648ce3d030107046d306b0201010420", "hex"),
  pkcs8BeforePoint: Buffer.from("a144034200", "hex"),
  spkiBeforePoint: Buffer.from("3059301306072a8648ce3d020106082a8648ce3d030107034200", "hex"),
};

/**
 * A P-256 key pair from OpenSSL's key generation through node:crypto's ECDH
 * object, wrapped in the fixed layout above: 25-27 µs of CPU against 38-41
 * for `generateKeyPairSync` with encodings (5,000 keys x 3), which spends
 * the difference building key objects and encoding in native code.
 */
function p256KeyPair(): KeyPair {
  const ecdh = createECDH("prime256v1");
  const point = ecdh.generateKeys();
  const scalar = ecdh.getPrivateKey();
  // The scalar comes without leading zero bytes; PKCS#8 holds all 32.
  const padded = scalar.length === 32 ? scalar : Buffer.concat([Buffer.alloc(32 - scalar.length), scalar]);
  const { pkcs8BeforeScalar, pkcs8BeforePoint, spkiBeforePoint } = P256_LAYOUT;
  const pkcs8 = Buffer.concat([pkcs8BeforeScalar, padded, pkcs8BeforePoint, point]);
  const spki = new Uint8Array(spkiBeforePoint.length + point.length);
  spki.set(spkiBeforePoint);
  spki.set(point, spkiBeforePoint.length);
  return { type: "ec-p256", privateKeyPem: toPem("PRIVATE KEY", pkcs8), publicKeyDer: spki };
}

export function toPem(label: string, der: ArrayBuffer | Uint8Array): string {
  const bytes = der instanceof Uint8Array ? Buffer.from(der.buffer, der.byteOffset, der.byteLength) : Buffer.from(der);
  const base64 = bytes.toString("base64");
  // Lines of 64 characters; slicing takes a quarter of the time two regular expressions did (every certificate is PEM'd).
  let body = "";
  for (let at = 0; at < base64.length; at += 64) body += `${base64.slice(at, at + 64)}\n`;
  return `-----BEGIN ${label}-----\n${body || "\n"}-----END ${label}-----\n`;
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

function keyTypeOf(key: KeyObject, where: string): KeyType {
  const spki = new Uint8Array(createPublicKey(key).export({ type: "spki", format: "der" }));
  const { keyType, family, bits } = describePublicKey(spki);
  if ((KEY_TYPES as readonly string[]).includes(keyType)) return keyType as KeyType;
  if (family === "rsa") throw new DepotError("E_INSECURE_KEY", `${where} is an RSA key of ${bits} bits; depot signs with 2048, 3072 or 4096`);
  throw new DepotError("E_NOT_A_DEPOT", `${where} holds a key type depot cannot sign with`);
}

/** What a public key is, read from its SPKI: the one place depot works out a key's type. */
export interface KeyDescription {
  /** rsa, ec, ed25519, or what else the algorithm is (ed448, rsa-pss, a dotted OID). */
  family: string;
  /** depot's name: rsa-2048, ec-p256, ed25519; ec-secp521r1 and the family for others. */
  keyType: string;
  /** An RSA key's modulus length. */
  bits?: number;
  /** An EC key's curve: P-256, P-384, secp521r1, ... */
  curve?: string;
}

const KEY_ALGORITHMS: Record<string, string> = {
  "1.2.840.113549.1.1.1": "rsa",
  "1.2.840.10045.2.1": "ec",
  "1.3.101.112": "ed25519",
  "1.3.101.113": "ed448",
  "1.2.840.113549.1.1.10": "rsa-pss",
};
const CURVES: Record<string, string> = {
  "1.2.840.10045.3.1.7": "P-256",
  "1.3.132.0.34": "P-384",
  "1.3.132.0.35": "secp521r1",
  "1.3.132.0.10": "secp256k1",
};

/**
 * Reads the algorithm identifier (and curve) from the SPKI itself, not
 * through node:crypto: BoringSSL cannot load keys it does not support
 * (secp256k1, Ed448), and those still deserve a message naming them.
 * Throws a plain Error when the SPKI cannot be read.
 */
export function describePublicKey(spki: Uint8Array): KeyDescription {
  const [algorithmId] = children(spki, readElement(spki));
  const [oidElement, parameters] = children(spki, algorithmId!);
  const algorithm = oidText(spki.subarray(oidElement!.contentStart, oidElement!.end));
  const family = KEY_ALGORITHMS[algorithm] ?? algorithm;
  if (family === "rsa") {
    const bits = createPublicKey({ key: Buffer.from(spki), format: "der", type: "spki" }).asymmetricKeyDetails?.modulusLength ?? 0;
    return { family, keyType: `rsa-${bits}`, bits };
  }
  if (family === "ec") {
    const curveOid = parameters?.tag === TAG.OID ? oidText(spki.subarray(parameters.contentStart, parameters.end)) : "unknown";
    const curve = CURVES[curveOid] ?? curveOid;
    return { family, keyType: `ec-${curve.toLowerCase().replace("-", "")}`, curve };
  }
  return { family, keyType: family };
}
