/**
 * @module
 * Signs DER structures (a certificate's TBSCertificate, a CRL's TBSCertList)
 * with the CA key through node:crypto, and wraps them as X.509 does:
 * SEQUENCE { tbs, signatureAlgorithm, BIT STRING signature }.
 */
import { type KeyObject, sign, verify } from "node:crypto";
import { oid, TAG, tlv } from "./der.ts";
import { KEY_SPECS, type KeyType } from "./key-types.ts";

const OID = {
  sha256WithRSA: oid("1.2.840.113549.1.1.11"),
  ecdsaWithSha256: oid("1.2.840.10045.4.3.2"),
  ecdsaWithSha384: oid("1.2.840.10045.4.3.3"),
  ed25519: oid("1.3.101.112"),
};
const NULL = new Uint8Array([0x05, 0x00]);

export class DerSigner {
  /** The AlgorithmIdentifier, DER: inside the TBS and again beside the signature. */
  readonly algorithm: Uint8Array;
  private readonly hash: string | null;
  private readonly offThread: boolean;

  constructor(
    private readonly key: KeyObject,
    keyType: KeyType,
  ) {
    this.algorithm = signatureAlgorithmFor(keyType);
    this.hash = hashFor(keyType);
    this.offThread = KEY_SPECS[keyType].family === "rsa";
  }

  /** The signed structure around `tbs`. */
  async signed(tbs: Uint8Array): Promise<Uint8Array<ArrayBuffer>> {
    const signature = await this.signature(tbs);
    return tlv(TAG.SEQUENCE, tbs, this.algorithm, tlv(TAG.BIT_STRING, new Uint8Array([0]), signature));
  }

  /** Whether `signature` over `tbs` was made by this key (to check a CRL before serving it). */
  verifies(tbs: Uint8Array, signature: Uint8Array): boolean {
    return verify(this.hash, tbs, this.key, signature);
  }

  /**
   * An RSA signature takes about a millisecond: it goes to node:crypto's
   * thread pool, so a burst is signed on every core and the event loop stays
   * free. An EC or Ed25519 signature takes 30 µs, less than the trip to the
   * pool and back, so it is made right here.
   */
  private signature(tbs: Uint8Array): Promise<Uint8Array> | Uint8Array {
    if (!this.offThread) return sign(this.hash, tbs, this.key);
    return new Promise((resolve, reject) => sign(this.hash, tbs, this.key, (error, signature) => (error ? reject(error) : resolve(signature))));
  }
}

function signatureAlgorithmFor(type: KeyType): Uint8Array {
  const spec = KEY_SPECS[type];
  if (spec.family === "rsa") return tlv(TAG.SEQUENCE, OID.sha256WithRSA, NULL);
  if (spec.family === "ed25519") return tlv(TAG.SEQUENCE, OID.ed25519);
  return tlv(TAG.SEQUENCE, spec.namedCurve === "P-384" ? OID.ecdsaWithSha384 : OID.ecdsaWithSha256);
}

/** The digest node:crypto's sign() takes (Ed25519 signs the message itself). ECDSA signatures come out DER-encoded, as X.509 wants. */
function hashFor(type: KeyType): string | null {
  const spec = KEY_SPECS[type];
  if (spec.family === "ed25519") return null;
  return spec.namedCurve === "P-384" ? "sha384" : "sha256";
}
