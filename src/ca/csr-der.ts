/**
 * @module
 * A PKCS#10 request (RFC 2986) read with the DER reader: the signed bytes,
 * the subject's attributes, the key, the asked-for names and the signature.
 * @peculiar/x509 read them in 2 to 5 ms per request in a worker (no
 * optimising JIT), most of an API issuance; this takes tens of µs, and a
 * server's processes need not load @peculiar/x509 at all.
 * `test/csr-der.test.ts` compares it with @peculiar/x509 and openssl.
 * Throws `UnacceptableCsr` for a well-formed request holding what depot
 * cannot read (its message completes "the certificate request ..."), and a
 * plain Error for anything that is not a well-formed request.
 */
import { childrenWithin, type Element, oidText, readElementWithin, TAG } from "./der.ts";

/** A request that is DER but holds a value depot refuses to read. */
export class UnacceptableCsr extends Error {}

/** One attribute of the subject, its value decoded as @peculiar/x509 gives it. */
export interface NameAttribute {
  oid: string;
  value: string;
}

export interface SubjectAltNameEntry {
  type: "dns" | "ip" | "other";
  value: string;
}

export interface CsrParts {
  /** The DER of certificationRequestInfo: what the signature covers. */
  info: Uint8Array;
  /** The subject's RDNs, each a list of attributes (more than one: a multi-valued RDN). */
  subject: NameAttribute[][];
  /** The SubjectPublicKeyInfo, DER. */
  spki: Uint8Array<ArrayBuffer>;
  /** The names of the first subjectAltName in the extensionRequest attribute. */
  subjectAltNames: SubjectAltNameEntry[];
  signatureAlgorithm: { oid: string; parameters?: Uint8Array };
  /** The signature's bits (the BIT STRING without its unused-bits octet). */
  signature: Uint8Array;
}

const EXTENSION_REQUEST = "1.2.840.113549.1.9.14";
const SUBJECT_ALT_NAME = "2.5.29.17";
const TAG_DNS_NAME = 0x82;
const TAG_IP_ADDRESS = 0x87;

const latin1 = new TextDecoder("latin1");
const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Reads a request's DER; throws when it is not one (the caller says so in its own words). */
export function parseCsrDer(der: Uint8Array): CsrParts {
  const request = expect(der, readElementWithin(der, 0, der.length), TAG.SEQUENCE, "CertificationRequest");
  if (request.end !== der.length) throw new Error("bytes after the request");
  const [info, algorithm, signature, extra] = childrenWithin(der, request);
  if (extra) throw new Error("more than three fields in CertificationRequest");
  expect(der, info, TAG.SEQUENCE, "certificationRequestInfo");
  const [version, subject, spki, attributes, more] = childrenWithin(der, info!);
  expect(der, version, TAG.INTEGER, "version");
  expect(der, subject, TAG.SEQUENCE, "subject");
  expect(der, spki, TAG.SEQUENCE, "subjectPKInfo");
  if (attributes && attributes.tag !== TAG.CONTEXT_0) throw new Error("attributes must be [0]");
  if (more) throw new Error("more than four fields in certificationRequestInfo");

  const [algorithmOid, parameters, ...rest] = childrenWithin(der, expect(der, algorithm, TAG.SEQUENCE, "signatureAlgorithm"));
  if (rest.length > 0) throw new Error("more than two fields in signatureAlgorithm");
  expect(der, signature, TAG.BIT_STRING, "signature");
  if (signature!.end - signature!.contentStart < 1 || der[signature!.contentStart] !== 0) throw new Error("signature BIT STRING with unused bits");

  return {
    info: der.subarray(info!.start, info!.end),
    subject: readName(der, subject!),
    spki: der.slice(spki!.start, spki!.end),
    subjectAltNames: attributes ? readRequestedNames(der, attributes) : [],
    signatureAlgorithm: {
      oid: oidText(contents(der, expect(der, algorithmOid, TAG.OID, "signature algorithm"))),
      ...(parameters && parameters.tag !== 0x05 ? { parameters: der.subarray(parameters.start, parameters.end) } : {}),
    },
    signature: der.subarray(signature!.contentStart + 1, signature!.end),
  };
}

function expect(der: Uint8Array, element: Element | undefined, tag: number, what: string): Element {
  if (!element || element.tag !== tag) throw new Error(`expected ${what} at byte ${element?.start ?? der.length}`);
  return element;
}

const contents = (der: Uint8Array, element: Element) => der.subarray(element.contentStart, element.end);

/** Name ::= SEQUENCE OF SET OF AttributeTypeAndValue. */
function readName(der: Uint8Array, name: Element): NameAttribute[][] {
  return childrenWithin(der, name).map((rdn) =>
    childrenWithin(der, expect(der, rdn, TAG.SET, "RelativeDistinguishedName")).map((pair) => {
      const [type, value, extra] = childrenWithin(der, expect(der, pair, TAG.SEQUENCE, "AttributeTypeAndValue"));
      if (!value || extra) throw new Error("AttributeTypeAndValue must hold a type and a value");
      return { oid: oidText(contents(der, expect(der, type, TAG.OID, "attribute type"))), value: attributeValue(der, value) };
    }),
  );
}

/**
 * An attribute's value as text, as @peculiar/x509 gives it (so a request
 * reads as it did): the string types decoded, anything else as `#` and the
 * element's hex. UTF8String must be valid UTF-8.
 */
function attributeValue(der: Uint8Array, value: Element): string {
  const bytes = contents(der, value);
  switch (value.tag) {
    case TAG.UTF8_STRING:
      try {
        return utf8.decode(bytes);
      } catch {
        throw new UnacceptableCsr("has a subject attribute that is not valid UTF-8");
      }
    case TAG.PRINTABLE_STRING:
    case TAG.IA5_STRING:
    case 0x14: // TeletexString, read as Latin-1 as @peculiar/x509 does
      return latin1.decode(bytes);
    case 0x1e: // BMPString: UTF-16BE
      if (bytes.length % 2) throw new Error("a BMPString of odd length");
      return String.fromCharCode(...Array.from({ length: bytes.length / 2 }, (_, i) => (bytes[2 * i]! << 8) | bytes[2 * i + 1]!));
    case 0x1c: // UniversalString: UTF-32BE
      if (bytes.length % 4) throw new Error("a UniversalString whose length is not a multiple of 4");
      return String.fromCodePoint(...Array.from({ length: bytes.length / 4 }, (_, i) => ((bytes[4 * i]! << 24) | (bytes[4 * i + 1]! << 16) | (bytes[4 * i + 2]! << 8) | bytes[4 * i + 3]!) >>> 0));
    default:
      return `#${Buffer.from(der.subarray(value.start, value.end)).toString("hex")}`;
  }
}

/** The names of the first subjectAltName extension in the extensionRequest attribute (PKCS#9). */
function readRequestedNames(der: Uint8Array, attributes: Element): SubjectAltNameEntry[] {
  for (const attribute of childrenWithin(der, attributes)) {
    const [type, values] = childrenWithin(der, expect(der, attribute, TAG.SEQUENCE, "Attribute"));
    if (oidText(contents(der, expect(der, type, TAG.OID, "attribute type"))) !== EXTENSION_REQUEST) continue;
    const [extensions] = childrenWithin(der, expect(der, values, TAG.SET, "attribute values"));
    for (const extension of childrenWithin(der, expect(der, extensions, TAG.SEQUENCE, "Extensions"))) {
      const parts = childrenWithin(der, expect(der, extension, TAG.SEQUENCE, "Extension"));
      if (oidText(contents(der, expect(der, parts[0], TAG.OID, "extension id"))) !== SUBJECT_ALT_NAME) continue;
      const value = expect(der, parts.at(-1), TAG.OCTET_STRING, "extension value");
      const names = expect(der, readElementWithin(der, value.contentStart, value.end), TAG.SEQUENCE, "GeneralNames");
      if (names.end !== value.end) throw new Error("bytes after GeneralNames");
      return childrenWithin(der, names).map((name) => generalName(der, name));
    }
  }
  return [];
}

function generalName(der: Uint8Array, name: Element): SubjectAltNameEntry {
  const bytes = contents(der, name);
  if (name.tag === TAG_DNS_NAME) return { type: "dns", value: latin1.decode(bytes) };
  if (name.tag === TAG_IP_ADDRESS) return { type: "ip", value: ipText(bytes) };
  return { type: "other", value: "" };
}

/** An iPAddress as text: dotted IPv4, or IPv6 with the first longest run of two or more zero groups as `::` (as @peculiar/x509 writes it). */
export function ipText(bytes: Uint8Array): string {
  if (bytes.length === 4) return bytes.join(".");
  if (bytes.length !== 16) throw new UnacceptableCsr(`asks for an IP address of ${bytes.length} octets (4 or 16 expected)`);
  const groups = Array.from({ length: 8 }, (_, i) => ((bytes[2 * i]! << 8) | bytes[2 * i + 1]!).toString(16));
  let bestStart = -1;
  let bestLength = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== "0") {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === "0") j++;
    if (j - i > bestLength) [bestStart, bestLength] = [i, j - i];
    i = j;
  }
  if (bestLength < 2) return groups.join(":");
  return `${groups.slice(0, bestStart).join(":")}::${groups.slice(bestStart + bestLength).join(":")}`;
}

const PSS_DIGESTS: Record<string, string> = {
  "1.3.14.3.2.26": "sha1",
  "2.16.840.1.101.3.4.2.1": "sha256",
  "2.16.840.1.101.3.4.2.2": "sha384",
  "2.16.840.1.101.3.4.2.3": "sha512",
};
const MGF1 = "1.2.840.113549.1.1.8";

/**
 * RSASSA-PSS-params (RFC 4055): the digest, MGF1 with the same digest (the
 * only form node:crypto verifies), the salt length; SHA-1 and 20 octets
 * when left out. Throws for anything else.
 */
export function pssParameters(der: Uint8Array): { digest: string; saltLength: number } {
  const sequence = readElementWithin(der, 0, der.length);
  if (sequence.tag !== TAG.SEQUENCE || sequence.end !== der.length) throw new Error("bad RSASSA-PSS-params");
  let digest = "sha1";
  let mgfDigest = "sha1";
  let saltLength = 20;
  const digestOf = (algorithm: Element) => {
    const [id] = childrenWithin(der, algorithm);
    if (!id || id.tag !== TAG.OID) throw new Error("bad digest algorithm");
    const name = PSS_DIGESTS[oidText(der.subarray(id.contentStart, id.end))];
    if (!name) throw new Error("unknown digest");
    return name;
  };
  for (const field of childrenWithin(der, sequence)) {
    const [inner] = childrenWithin(der, field);
    if (!inner) throw new Error("empty RSASSA-PSS-params field");
    if (field.tag === 0xa0) digest = digestOf(inner);
    else if (field.tag === 0xa1) {
      const [id, hash] = childrenWithin(der, inner);
      if (!id || id.tag !== TAG.OID || oidText(der.subarray(id.contentStart, id.end)) !== MGF1 || !hash) throw new Error("not MGF1");
      mgfDigest = digestOf(hash);
    } else if (field.tag === 0xa2) {
      if (inner.tag !== TAG.INTEGER || inner.end - inner.contentStart > 2) throw new Error("bad salt length");
      saltLength = 0;
      for (let i = inner.contentStart; i < inner.end; i++) saltLength = saltLength * 256 + der[i]!;
    } else if (field.tag === 0xa3) {
      if (inner.tag !== TAG.INTEGER || inner.end - inner.contentStart !== 1 || der[inner.contentStart] !== 1) throw new Error("bad trailer field");
    } else throw new Error("unknown RSASSA-PSS-params field");
  }
  if (mgfDigest !== digest) throw new Error("MGF1 with another digest");
  return { digest, saltLength };
}

const CHALLENGE_PASSWORD = "1.2.840.113549.1.9.7";

/**
 * The challengePassword attribute of a request (PKCS#9; SCEP's one-time
 * password), or undefined when it has none. A DirectoryString: UTF8String,
 * PrintableString, IA5String or T61String (taken as Latin-1). Throws when
 * the request is not well-formed DER.
 */
export function challengePasswordOf(der: Uint8Array): string | undefined {
  const request = expect(der, readElementWithin(der, 0, der.length), TAG.SEQUENCE, "CertificationRequest");
  const [info] = childrenWithin(der, request);
  const attributes = childrenWithin(der, expect(der, info, TAG.SEQUENCE, "certificationRequestInfo"))[3];
  if (!attributes || attributes.tag !== TAG.CONTEXT_0) return undefined;
  for (const attribute of childrenWithin(der, attributes)) {
    const [type, values] = childrenWithin(der, expect(der, attribute, TAG.SEQUENCE, "Attribute"));
    if (oidText(contents(der, expect(der, type, TAG.OID, "attribute type"))) !== CHALLENGE_PASSWORD) continue;
    const [value] = childrenWithin(der, expect(der, values, TAG.SET, "attribute values"));
    if (!value) return undefined;
    const bytes = contents(der, value);
    if (value.tag === TAG.UTF8_STRING) return utf8.decode(bytes);
    if (value.tag === TAG.PRINTABLE_STRING || value.tag === TAG.IA5_STRING || value.tag === 0x14) return latin1.decode(bytes);
    throw new UnacceptableCsr("has a challengePassword that is not a string");
  }
  return undefined;
}
