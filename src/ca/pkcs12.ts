/**
 * @module
 * PKCS#12 (RFC 7292) bundles of a private key, its certificate and the CA
 * certificate, for browsers and operating-system key stores.
 *
 * The structures come from @peculiar's ASN.1 schemas (asn1-pfx, asn1-cms,
 * asn1-pkcs8); RFC 7292's pkcs-12PbeParams, which they lack, is declared
 * here with asn1-schema, RFC 8018's PBES2 types in pbes2.ts. The
 * cryptography is node:crypto's.
 *
 * Two encryptions:
 * - "modern" (the default), what OpenSSL 3 writes: key and certificates
 *   encrypted with PBES2 (PBKDF2-HMAC-SHA256, AES-256-CBC), SHA-256 MAC;
 * - "legacy", for importers older than about 2018 (macOS before 10.15,
 *   Windows before 10 1709): pbeWithSHAAnd3-KeyTripleDES-CBC and a SHA-1 MAC.
 */
import { createCipheriv, createHash, createHmac, createPrivateKey, pbkdf2Sync, randomBytes } from "node:crypto";
import { ContentInfo, EncryptedContent, EncryptedContentInfo } from "@peculiar/asn1-cms";
import {
  AuthenticatedSafe,
  CertBag,
  id_certBag,
  id_pkcs8ShroudedKeyBag,
  id_x509Certificate,
  MacData,
  PFX,
  PKCS12Attribute,
  PKCS8ShroudedKeyBag,
  SafeBag,
  SafeContents,
} from "@peculiar/asn1-pfx";
import { AsnBmpStringConverter, AsnConvert, AsnProp, AsnPropTypes, AsnType, AsnTypeTypes, OctetString } from "@peculiar/asn1-schema";
import { DigestInfo } from "@peculiar/asn1-rsa";
import { AlgorithmIdentifier } from "@peculiar/asn1-x509";
import { DepotError } from "../errors.ts";
import { DER_NULL, pbes2Aes256Algorithm } from "./pbes2.ts";

export type Pkcs12Encryption = "modern" | "legacy";

export interface Pkcs12Contents {
  /** The private key, PEM (PKCS#8, PKCS#1 or SEC1). */
  privateKeyPem: string;
  /** The key's certificate, PEM. */
  certificatePem: string;
  /** Further certificates to carry, PEM (the CA certificate). */
  chainPems?: string[];
  /** The name importers show for the key and certificate (depot uses the CN). */
  friendlyName?: string;
  /** Protects the key and the bundle's integrity. */
  password: string;
  /** "modern" unless told. */
  encryption?: Pkcs12Encryption;
}

/** PBKDF2 and MAC iterations: OpenSSL 3's default (PKCS12_DEFAULT_ITER). */
const ITERATIONS = 2048;

const OID = {
  data: "1.2.840.113549.1.7.1",
  encryptedData: "1.2.840.113549.1.7.6",
  pbeWithSHAAnd3KeyTripleDESCBC: "1.2.840.113549.1.12.1.3",
  sha1: "1.3.14.3.2.26",
  sha256: "2.16.840.1.101.3.4.2.1",
  friendlyName: "1.2.840.113549.1.9.20",
  localKeyId: "1.2.840.113549.1.9.21",
} as const;

/** The PKCS#12 file (DER) holding the key, its certificate and the chain. */
export function makePkcs12(contents: Pkcs12Contents): Uint8Array {
  const encryption = contents.encryption ?? "modern";
  if (contents.password === "") throw new DepotError("E_BAD_ARGUMENT", "a PKCS#12 file needs a password");
  let pkcs8: Buffer;
  try {
    pkcs8 = createPrivateKey(contents.privateKeyPem).export({ type: "pkcs8", format: "der" });
  } catch {
    throw new DepotError("E_BAD_ARGUMENT", "the private key cannot be read (PEM expected)");
  }
  const certificate = derOfPem(contents.certificatePem, "certificate");
  // Pairs the key with its certificate, as OpenSSL does: the certificate's SHA-1.
  const localKeyId = createHash("sha1").update(certificate).digest();
  const attributes = [attribute(OID.localKeyId, AsnConvert.serialize(new OctetString(localKeyId)))];
  if (contents.friendlyName !== undefined) attributes.push(attribute(OID.friendlyName, bmpString(contents.friendlyName)));

  const keyBag = new SafeBag({
    bagId: id_pkcs8ShroudedKeyBag,
    bagValue: AsnConvert.serialize(encryptPrivateKey(pkcs8, contents.password, encryption)),
    bagAttributes: attributes,
  });
  const certBags = [
    certBag(certificate, attributes),
    ...(contents.chainPems ?? []).map((pem) => certBag(derOfPem(pem, "CA certificate"), undefined)),
  ];
  const authenticatedSafe = new AuthenticatedSafe([
    encryptedContentInfo(AsnConvert.serialize(new SafeContents(certBags)), contents.password, encryption),
    dataContentInfo(AsnConvert.serialize(new SafeContents([keyBag]))),
  ]);
  const authSafeBytes = new Uint8Array(AsnConvert.serialize(authenticatedSafe));
  const pfx = new PFX({
    version: 3,
    authSafe: dataContentInfo(authSafeBytes),
    macData: macOf(authSafeBytes, contents.password, encryption === "modern" ? "sha256" : "sha1"),
  });
  return new Uint8Array(AsnConvert.serialize(pfx));
}

function derOfPem(pem: string, what: string): Buffer {
  const match = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+)-----END CERTIFICATE-----/.exec(pem);
  if (!match) throw new DepotError("E_BAD_ARGUMENT", `the ${what} is not a PEM certificate`);
  return Buffer.from(match[1]!.replace(/\s+/g, ""), "base64");
}

function attribute(attrId: string, value: ArrayBuffer): PKCS12Attribute {
  // asn1-pfx 2.11's constructor drops its parameters (`Object.assign(params)`): assign them here.
  return Object.assign(new PKCS12Attribute(), { attrId, attrValues: [value] });
}

function certBag(der: Buffer, bagAttributes: PKCS12Attribute[] | undefined): SafeBag {
  const bagValue = AsnConvert.serialize(new CertBag({ certId: id_x509Certificate, certValue: AsnConvert.serialize(new OctetString(der)) }));
  return new SafeBag({ bagId: id_certBag, bagValue, ...(bagAttributes ? { bagAttributes } : {}) });
}

function dataContentInfo(bytes: ArrayBuffer | Uint8Array): ContentInfo {
  return new ContentInfo({ contentType: OID.data, content: AsnConvert.serialize(new OctetString(bytes)) });
}

/** CMS EncryptedData (RFC 5652 8): `{ version, encryptedContentInfo }`, missing from asn1-cms. */
class EncryptedData {
  version = 0;
  encryptedContentInfo = new EncryptedContentInfo();
  constructor(params: Partial<EncryptedData> = {}) {
    Object.assign(this, params);
  }
}
AsnProp({ type: AsnPropTypes.Integer })(EncryptedData.prototype, "version");
AsnProp({ type: EncryptedContentInfo })(EncryptedData.prototype, "encryptedContentInfo");

function encryptedContentInfo(plain: ArrayBuffer, password: string, encryption: Pkcs12Encryption): ContentInfo {
  const { algorithm, ciphertext } = encrypt(new Uint8Array(plain), password, encryption);
  const encryptedData = new EncryptedData({
    encryptedContentInfo: new EncryptedContentInfo({
      contentType: OID.data,
      contentEncryptionAlgorithm: algorithm,
      encryptedContent: new EncryptedContent({ value: new OctetString(ciphertext) }),
    }),
  });
  return new ContentInfo({ contentType: OID.encryptedData, content: AsnConvert.serialize(encryptedData) });
}

function encryptPrivateKey(pkcs8: Buffer, password: string, encryption: Pkcs12Encryption): PKCS8ShroudedKeyBag {
  const { algorithm, ciphertext } = encrypt(pkcs8, password, encryption);
  return new PKCS8ShroudedKeyBag({ encryptionAlgorithm: algorithm, encryptedData: new OctetString(ciphertext) });
}

/** RFC 7292 C: pkcs-12PbeParams. */
class Pkcs12PbeParams {
  salt = new OctetString();
  iterations = 0;
  constructor(params: Partial<Pkcs12PbeParams> = {}) {
    Object.assign(this, params);
  }
}
AsnProp({ type: OctetString })(Pkcs12PbeParams.prototype, "salt");
AsnProp({ type: AsnPropTypes.Integer })(Pkcs12PbeParams.prototype, "iterations");
for (const schema of [EncryptedData, Pkcs12PbeParams]) AsnType({ type: AsnTypeTypes.Sequence })(schema);

function encrypt(plain: Uint8Array, password: string, encryption: Pkcs12Encryption): { algorithm: AlgorithmIdentifier; ciphertext: Buffer } {
  const salt = randomBytes(encryption === "modern" ? 16 : 8);
  if (encryption === "legacy") {
    const key = pkcs12Kdf("sha1", password, salt, 1, ITERATIONS, 24);
    const iv = pkcs12Kdf("sha1", password, salt, 2, ITERATIONS, 8);
    const cipher = createCipheriv("des-ede3-cbc", key, iv);
    return {
      algorithm: new AlgorithmIdentifier({
        algorithm: OID.pbeWithSHAAnd3KeyTripleDESCBC,
        parameters: AsnConvert.serialize(new Pkcs12PbeParams({ salt: new OctetString(salt), iterations: ITERATIONS })),
      }),
      ciphertext: Buffer.concat([cipher.update(plain), cipher.final()]),
    };
  }
  // PBES2's password is the UTF-8 bytes as typed (RFC 8018), as OpenSSL 3 uses it.
  const key = pbkdf2Sync(Buffer.from(password, "utf8"), salt, ITERATIONS, 32, "sha256");
  const iv = randomBytes(16);
  const cipher = createCipheriv("aes-256-cbc", key, iv);
  return {
    algorithm: pbes2Aes256Algorithm({ salt, iterations: ITERATIONS, iv, keyLength: 32 }),
    ciphertext: Buffer.concat([cipher.update(plain), cipher.final()]),
  };
}

function macOf(authSafe: Uint8Array, password: string, hash: "sha1" | "sha256"): MacData {
  const salt = randomBytes(hash === "sha256" ? 32 : 8);
  const key = pkcs12Kdf(hash, password, salt, 3, ITERATIONS, hash === "sha256" ? 32 : 20);
  const mac = createHmac(hash, key).update(authSafe).digest();
  return new MacData({
    mac: new DigestInfo({
      digestAlgorithm: new AlgorithmIdentifier({ algorithm: hash === "sha256" ? OID.sha256 : OID.sha1, parameters: DER_NULL }),
      digest: new OctetString(mac),
    }),
    macSalt: new OctetString(salt),
    iterations: ITERATIONS,
  });
}

/** BMPString (UTF-16 big-endian), the friendlyName's type. */
function bmpString(text: string): ArrayBuffer {
  return AsnBmpStringConverter.toASN(text).toBER();
}

/**
 * RFC 7292 appendix B.2: the key-derivation function of PKCS#12's own
 * password-based encryption and MAC. `id` 1 derives a key, 2 an IV, 3 a MAC
 * key. The password is a BMPString with its two-byte terminator. node:crypto
 * has no such function; it is checked against OpenSSL in test/pkcs12.test.ts.
 */
export function pkcs12Kdf(hash: "sha1" | "sha256", password: string, salt: Uint8Array, id: 1 | 2 | 3, iterations: number, length: number): Buffer {
  const u = hash === "sha1" ? 20 : 32;
  const v = 64;
  const passwordBytes = Buffer.concat([Buffer.from(password, "utf16le").swap16(), Buffer.alloc(2)]);
  const fill = (source: Uint8Array) => {
    const out = Buffer.alloc(v * Math.ceil(source.length / v));
    for (let i = 0; i < out.length; i++) out[i] = source[i % source.length]!;
    return out;
  };
  const input = Buffer.concat([fill(salt), fill(passwordBytes)]);
  const diversifier = Buffer.alloc(v, id);
  const blocks: Buffer[] = [];
  for (let produced = 0; produced < length; produced += u) {
    let a = createHash(hash).update(diversifier).update(input).digest();
    for (let i = 1; i < iterations; i++) a = createHash(hash).update(a).digest();
    blocks.push(a);
    // I_j = (I_j + B + 1) mod 2^(8v), B being A repeated to v bytes.
    const b = fill(a);
    for (let j = 0; j < input.length; j += v) {
      let carry = 1;
      for (let k = v - 1; k >= 0; k--) {
        const sum = input[j + k]! + b[k]! + carry;
        input[j + k] = sum & 0xff;
        carry = sum >> 8;
      }
    }
  }
  return Buffer.concat(blocks).subarray(0, length);
}
