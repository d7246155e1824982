import { createHash, type KeyObject, sign } from "node:crypto";
import { children, integerFromHex, oid, readElement, string, TAG, time, tlv } from "./der.ts";
import { type DistinguishedName, encodedValue } from "./dn.ts";
import { KEY_SPECS, type KeyType } from "./key-types.ts";

/**
 * Encodes and signs leaf certificates without a general ASN.1 library.
 * @peculiar/x509's generator spends about 1.4 ms per certificate on ASN.1
 * objects (over 10 ms when given the public key as bytes), against 0.06 ms
 * for an ECDSA signature. Everything that is the same for every certificate
 * of a depot (version, signature algorithm, issuer name, authority key
 * identifier) is encoded once here; each certificate adds only its serial,
 * validity, subject, public key and extensions. The output is checked by
 * the real openssl in the tests, like every certificate depot makes.
 */
export class LeafEncoder {
  private readonly head: Uint8Array;
  private readonly signatureAlgorithm: Uint8Array;
  private readonly issuerName: Uint8Array;
  private readonly hash: string | null;
  private readonly offThread: boolean;

  constructor(
    caCertificateDer: Uint8Array,
    private readonly caKey: KeyObject,
    caKeyType: KeyType,
    /** The DER Extension holding the CA's key identifier, added to every leaf. */
    private readonly authorityKeyIdentifier: Uint8Array,
  ) {
    this.signatureAlgorithm = signatureAlgorithmFor(caKeyType);
    this.hash = hashFor(caKeyType);
    this.offThread = KEY_SPECS[caKeyType].family === "rsa";
    this.head = tlv(TAG.CONTEXT_0, integerFromHex("02")); // version v3
    this.issuerName = subjectOf(caCertificateDer);
  }

  /** The DER certificate. `extensions` are whole DER Extension elements. */
  async encode(request: {
    serialDerHex: string;
    subject: DistinguishedName;
    publicKeyDer: Uint8Array;
    notBefore: Date;
    notAfter: Date;
    extensions: Uint8Array[];
  }): Promise<Uint8Array<ArrayBuffer>> {
    const tbs = tlv(
      TAG.SEQUENCE,
      this.head,
      integerFromHex(request.serialDerHex),
      this.signatureAlgorithm,
      this.issuerName,
      tlv(TAG.SEQUENCE, time(request.notBefore), time(request.notAfter)),
      encodeName(request.subject),
      request.publicKeyDer,
      tlv(TAG.CONTEXT_3, tlv(TAG.SEQUENCE, ...request.extensions, subjectKeyIdentifier(request.publicKeyDer), this.authorityKeyIdentifier)),
    );
    const signature = await this.sign(tbs);
    return tlv(TAG.SEQUENCE, tbs, this.signatureAlgorithm, tlv(TAG.BIT_STRING, new Uint8Array([0]), signature));
  }

  /**
   * An RSA signature takes about a millisecond: it goes to node:crypto's
   * thread pool, so a burst is signed on every core and the event loop stays
   * free. An EC or Ed25519 signature takes 30 µs, less than the trip to the
   * pool and back, so it is made right here.
   */
  private sign(tbs: Uint8Array): Promise<Uint8Array> | Uint8Array {
    if (!this.offThread) return sign(this.hash, tbs, this.caKey);
    return new Promise((resolve, reject) => sign(this.hash, tbs, this.caKey, (error, signature) => (error ? reject(error) : resolve(signature))));
  }
}

const OID = {
  subjectKeyIdentifier: oid("2.5.29.14"),
  sha256WithRSA: oid("1.2.840.113549.1.1.11"),
  ecdsaWithSha256: oid("1.2.840.10045.4.3.2"),
  ecdsaWithSha384: oid("1.2.840.10045.4.3.3"),
  ed25519: oid("1.3.101.112"),
};
const NULL = new Uint8Array([0x05, 0x00]);

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

/** The subject Name of a certificate, as its exact bytes (the issuer of its leaves). */
function subjectOf(certificateDer: Uint8Array): Uint8Array {
  const certificate = readElement(certificateDer);
  const tbs = children(certificateDer, certificate)[0]!;
  const fields = children(certificateDer, tbs);
  const hasVersion = fields[0]!.tag === TAG.CONTEXT_0;
  const subject = fields[hasVersion ? 5 : 4]!;
  return certificateDer.slice(subject.start, subject.end);
}

/** RFC 5280 4.2.1.2 method 1: SHA-1 of the subjectPublicKey BIT STRING's bits. */
function subjectKeyIdentifier(spki: Uint8Array): Uint8Array {
  const [, bitString] = children(spki, readElement(spki));
  const keyBits = spki.subarray(bitString!.contentStart + 1, bitString!.end);
  const keyId = createHash("sha1").update(keyBits).digest();
  return tlv(TAG.SEQUENCE, OID.subjectKeyIdentifier, tlv(TAG.OCTET_STRING, tlv(TAG.OCTET_STRING, keyId)));
}

const ATTRIBUTE_OIDS = new Map<string, Uint8Array>();

function encodeName(name: DistinguishedName): Uint8Array {
  return tlv(
    TAG.SEQUENCE,
    ...name.map((attr) => {
      let type = ATTRIBUTE_OIDS.get(attr.oid);
      if (!type) ATTRIBUTE_OIDS.set(attr.oid, (type = oid(attr.oid)));
      const { tag, text } = encodedValue(attr);
      return tlv(TAG.SET, tlv(TAG.SEQUENCE, type, string(tag, text)));
    }),
  );
}

