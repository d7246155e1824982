/**
 * @module
 * PBES2 (RFC 8018) as depot writes it, for the encrypted CA key
 * (key-encryption.ts) and PKCS#12 bundles (pkcs12.ts): the two parameter
 * types @peculiar's schemas lack, declared once with asn1-schema, and the
 * AlgorithmIdentifier of PBKDF2-HMAC-SHA256 with AES-256-CBC.
 */
import { AsnConvert, AsnProp, AsnPropTypes, AsnType, AsnTypeTypes, OctetString } from "@peculiar/asn1-schema";
import { AlgorithmIdentifier } from "@peculiar/asn1-x509";

export const PBES2_OID = {
  pbes2: "1.2.840.113549.1.5.13",
  pbkdf2: "1.2.840.113549.1.5.12",
  hmacWithSHA256: "1.2.840.113549.2.9",
  aes256Cbc: "2.16.840.1.101.3.4.1.42",
} as const;

/** DER NULL: the parameters of an HMAC or digest AlgorithmIdentifier as OpenSSL writes them. */
export const DER_NULL = new Uint8Array([0x05, 0x00]).buffer;

/** RFC 8018 A.4: PBES2-params. */
export class Pbes2Params {
  keyDerivationFunc = new AlgorithmIdentifier();
  encryptionScheme = new AlgorithmIdentifier();
  constructor(params: Partial<Pbes2Params> = {}) {
    Object.assign(this, params);
  }
}
AsnProp({ type: AlgorithmIdentifier })(Pbes2Params.prototype, "keyDerivationFunc");
AsnProp({ type: AlgorithmIdentifier })(Pbes2Params.prototype, "encryptionScheme");

/** RFC 8018 A.2: PBKDF2-params, the salt as the OCTET STRING choice (the only one in use). */
export class Pbkdf2Params {
  salt = new OctetString();
  iterationCount = 0;
  keyLength?: number;
  /** Absent means HMAC-SHA1 (the ASN.1 default). */
  prf?: AlgorithmIdentifier;
  constructor(params: Partial<Pbkdf2Params> = {}) {
    Object.assign(this, params);
  }
}
AsnProp({ type: OctetString })(Pbkdf2Params.prototype, "salt");
AsnProp({ type: AsnPropTypes.Integer })(Pbkdf2Params.prototype, "iterationCount");
AsnProp({ type: AsnPropTypes.Integer, optional: true })(Pbkdf2Params.prototype, "keyLength");
AsnProp({ type: AlgorithmIdentifier, optional: true })(Pbkdf2Params.prototype, "prf");
for (const schema of [Pbes2Params, Pbkdf2Params]) AsnType({ type: AsnTypeTypes.Sequence })(schema);

/**
 * The AlgorithmIdentifier of PBES2 with PBKDF2-HMAC-SHA256 (the PRF with
 * NULL parameters, as OpenSSL 3 writes it) and AES-256-CBC under `iv`.
 * `keyLength` is written only when given (OpenSSL's PKCS#12 writes 32; its
 * PKCS#8 leaves it out, AES's being fixed).
 */
export function pbes2Aes256Algorithm(options: { salt: Uint8Array; iterations: number; iv: Uint8Array; keyLength?: number }): AlgorithmIdentifier {
  const kdf = new Pbkdf2Params({
    salt: new OctetString(options.salt),
    iterationCount: options.iterations,
    ...(options.keyLength !== undefined ? { keyLength: options.keyLength } : {}),
    prf: new AlgorithmIdentifier({ algorithm: PBES2_OID.hmacWithSHA256, parameters: DER_NULL }),
  });
  const params = new Pbes2Params({
    keyDerivationFunc: new AlgorithmIdentifier({ algorithm: PBES2_OID.pbkdf2, parameters: AsnConvert.serialize(kdf) }),
    encryptionScheme: new AlgorithmIdentifier({ algorithm: PBES2_OID.aes256Cbc, parameters: AsnConvert.serialize(new OctetString(options.iv)) }),
  });
  return new AlgorithmIdentifier({ algorithm: PBES2_OID.pbes2, parameters: AsnConvert.serialize(params) });
}
