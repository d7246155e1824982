import { createHash } from "node:crypto";
import { children, integerFromHex, oid, readElement, string, TAG, time, tlv } from "./der.ts";
import { type DistinguishedName, encodedValue } from "./dn.ts";
import type { DerSigner } from "./signer.ts";

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
  /** The CA's subject Name, exact bytes: the issuer of its leaves and CRLs. */
  readonly issuerName: Uint8Array;

  constructor(
    caCertificateDer: Uint8Array,
    readonly signer: DerSigner,
    /** The DER Extension holding the CA's key identifier, added to every leaf. */
    readonly authorityKeyIdentifier: Uint8Array,
  ) {
    this.head = tlv(TAG.CONTEXT_0, integerFromHex("02")); // version v3
    this.issuerName = subjectOf(caCertificateDer);
  }

  /** The DER certificate. `extensions` are whole DER Extension elements. */
  encode(request: {
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
      this.signer.algorithm,
      this.issuerName,
      tlv(TAG.SEQUENCE, time(request.notBefore), time(request.notAfter)),
      encodeName(request.subject),
      request.publicKeyDer,
      tlv(TAG.CONTEXT_3, tlv(TAG.SEQUENCE, ...request.extensions, subjectKeyIdentifier(request.publicKeyDer), this.authorityKeyIdentifier)),
    );
    return this.signer.signed(tbs);
  }
}

const OID = { subjectKeyIdentifier: oid("2.5.29.14") };

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
export function keyIdentifierOf(spki: Uint8Array): Uint8Array {
  const [, bitString] = children(spki, readElement(spki));
  const keyBits = spki.subarray(bitString!.contentStart + 1, bitString!.end);
  return createHash("sha1").update(keyBits).digest();
}

/** The subjectKeyIdentifier extension of a key. */
function subjectKeyIdentifier(spki: Uint8Array): Uint8Array {
  return tlv(TAG.SEQUENCE, OID.subjectKeyIdentifier, tlv(TAG.OCTET_STRING, tlv(TAG.OCTET_STRING, keyIdentifierOf(spki))));
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

