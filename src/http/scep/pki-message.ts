/**
 * @module
 * A client's pkiMessage (RFC 8894 3.2): a CMS SignedData whose signer is
 * the requester (a self-signed certificate for its new key, or its current
 * certificate), whose signed attributes say what it is (messageType,
 * transactionID, senderNonce), and whose content is the pkcsPKIEnvelope
 * (an EnvelopedData for the RA). Read with the bounds-checked DER walker;
 * the signer's certificate with node:crypto (OpenSSL). The signature is
 * checked here: a message whose signature fails is still answered (a
 * CertRep FAILURE badMessageCheck), so it comes back as `verified: false`
 * rather than an error; only bytes that are no SCEP message throw.
 */
import { createHash, type KeyObject, verify, X509Certificate } from "node:crypto";
import { childrenWithin, type Element, TAG } from "../../ca/der.ts";
import { readCertificateDer } from "../../ca/certificate-der.ts";
import { MAX_TRANSACTION_ID } from "../../ca/scep/store.ts";
import { bytesOf, contents, expectTag, inside, malformed, oidOf, octets, whole } from "./asn1.ts";

export const OID = {
  data: "1.2.840.113549.1.7.1",
  signedData: "1.2.840.113549.1.7.2",
  envelopedData: "1.2.840.113549.1.7.3",
  contentType: "1.2.840.113549.1.9.3",
  messageDigest: "1.2.840.113549.1.9.4",
  signingTime: "1.2.840.113549.1.9.5",
  messageType: "2.16.840.1.113733.1.9.2",
  pkiStatus: "2.16.840.1.113733.1.9.3",
  failInfo: "2.16.840.1.113733.1.9.4",
  senderNonce: "2.16.840.1.113733.1.9.5",
  recipientNonce: "2.16.840.1.113733.1.9.6",
  transactionId: "2.16.840.1.113733.1.9.7",
} as const;

/** RFC 8894 3.2.1.2: the messageTypes depot reads. */
export const MESSAGE_TYPE = { CertRep: "3", RenewalReq: "17", PKCSReq: "19", CertPoll: "20" } as const;

/** Digests a client may sign with, by OID: what node:crypto is given, and the answer signs with the same. */
export const DIGESTS: Record<string, string> = {
  "1.3.14.3.2.26": "sha1",
  "2.16.840.1.101.3.4.2.1": "sha256",
  "2.16.840.1.101.3.4.2.2": "sha384",
  "2.16.840.1.101.3.4.2.3": "sha512",
};

/** Signature algorithms of a SignerInfo: the key's (rsaEncryption) or a combined one whose digest must match. */
const SIGNATURES: Record<string, { digest?: string }> = {
  "1.2.840.113549.1.1.1": {},
  "1.2.840.113549.1.1.5": { digest: "sha1" },
  "1.2.840.113549.1.1.11": { digest: "sha256" },
  "1.2.840.113549.1.1.12": { digest: "sha384" },
  "1.2.840.113549.1.1.13": { digest: "sha512" },
  "1.2.840.10045.4.1": { digest: "sha1" },
  "1.2.840.10045.4.3.2": { digest: "sha256" },
  "1.2.840.10045.4.3.3": { digest: "sha384" },
  "1.2.840.10045.4.3.4": { digest: "sha512" },
};

export interface PkiRequest {
  messageType: string;
  transactionId: string;
  senderNonce: Uint8Array;
  /** The signer's certificate (DER) and key: the answer is encrypted to it. */
  signer: { der: Uint8Array<ArrayBuffer>; publicKey: KeyObject; certificate: X509Certificate };
  /** The digest the client signed with (node:crypto's name); undefined when it is one depot does not take. */
  digest: string | undefined;
  /** Whether the signature over the signed attributes verifies with the signer's key, and messageDigest is the content's. */
  verified: boolean;
  /** The pkcsPKIEnvelope: a ContentInfo holding an EnvelopedData (DER). */
  envelope: Uint8Array;
}

/**
 * Reads a pkiMessage. Throws `MalformedScep` for what is no SCEP message
 * (not DER, not SignedData, no signer or signer certificate, a missing or
 * oversized transactionID or senderNonce, an unknown messageType).
 */
export function readPkiMessage(der: Uint8Array): PkiRequest {
  try {
    return read(der);
  } catch (error) {
    if (error instanceof Error && error.name === "MalformedScep") throw error;
    // The DER walker's and OpenSSL's own complaints: the bytes are not what they claim.
    malformed(error instanceof Error ? error.message : "unreadable");
  }
}

function read(der: Uint8Array): PkiRequest {
  const contentInfo = whole(der, TAG.SEQUENCE, "ContentInfo");
  const [type, explicit, extra] = childrenWithin(der, contentInfo);
  if (extra) malformed("more than two fields in ContentInfo");
  if (oidOf(der, type, "contentType") !== OID.signedData) malformed("the message is not a CMS SignedData");
  const signedData = inside(der, expectTag(explicit, TAG.CONTEXT_0, "SignedData"), TAG.SEQUENCE, "SignedData");
  const fields = childrenWithin(der, signedData);
  // version, digestAlgorithms, encapContentInfo, [0] certificates, [1] crls, signerInfos
  expectTag(fields[0], TAG.INTEGER, "SignedData version");
  expectTag(fields[1], TAG.SET, "digestAlgorithms");
  const encap = expectTag(fields[2], TAG.SEQUENCE, "encapContentInfo");
  const certificates = fields.find((field, index) => index > 2 && field.tag === TAG.CONTEXT_0);
  const signerInfos = expectTag(fields.at(-1), TAG.SET, "signerInfos");

  const [eContentType, eContentExplicit] = childrenWithin(der, encap);
  if (oidOf(der, eContentType, "eContentType") !== OID.data) malformed("the signed content is not id-data");
  if (!eContentExplicit || eContentExplicit.tag !== TAG.CONTEXT_0) malformed("the signed content is missing (a detached signature)");
  const eContent = octets(der, inside(der, eContentExplicit, der[eContentExplicit.contentStart] === 0x24 ? 0x24 : TAG.OCTET_STRING, "eContent"), TAG.OCTET_STRING, 0x24, "eContent");

  const [signerInfo, secondSigner] = childrenWithin(der, signerInfos);
  if (!signerInfo) malformed("no signerInfo");
  if (secondSigner) malformed("more than one signerInfo");
  const signer = readSignerInfo(der, expectTag(signerInfo, TAG.SEQUENCE, "SignerInfo"));
  const attributes = readAttributes(der, signer.signedAttrs);

  const messageType = printable(attributes, OID.messageType, "messageType", 2);
  if (!Object.values(MESSAGE_TYPE).includes(messageType as never) || messageType === MESSAGE_TYPE.CertRep) malformed(`messageType ${messageType} is not one a client sends (17, 19 or 20)`);
  const transactionId = printable(attributes, OID.transactionId, "transactionID", MAX_TRANSACTION_ID);
  const senderNonce = octetString(attributes, OID.senderNonce, "senderNonce");
  if (senderNonce.length < 8 || senderNonce.length > 64) malformed("senderNonce must be 8 to 64 bytes (RFC 8894: 16)");

  const certificate = signerCertificate(der, certificates, signer.sid);
  const digest = DIGESTS[signer.digestOid];
  const verified = digest !== undefined && signatureHolds(der, signer, attributes, eContent, digest, certificate.publicKey);
  return {
    messageType,
    transactionId,
    senderNonce,
    signer: { der: new Uint8Array(certificate.raw), publicKey: certificate.publicKey, certificate },
    digest,
    verified,
    envelope: eContent,
  };
}

interface SignerInfoParts {
  sid: { issuer: Uint8Array; serial: Uint8Array } | { keyId: Uint8Array };
  digestOid: string;
  signedAttrs: Element;
  signatureOid: string;
  signature: Uint8Array;
}

function readSignerInfo(der: Uint8Array, signerInfo: Element): SignerInfoParts {
  const [version, sid, digestAlgorithm, signedAttrs, signatureAlgorithm, signature] = childrenWithin(der, signerInfo);
  expectTag(version, TAG.INTEGER, "SignerInfo version");
  let identifier: SignerInfoParts["sid"];
  if (sid?.tag === TAG.SEQUENCE) {
    const [issuer, serial] = childrenWithin(der, sid);
    identifier = { issuer: bytesOf(der, expectTag(issuer, TAG.SEQUENCE, "sid issuer")), serial: contents(der, expectTag(serial, TAG.INTEGER, "sid serialNumber")) };
  } else if (sid?.tag === 0x80) {
    identifier = { keyId: contents(der, sid) };
  } else {
    malformed("the signer's identifier is missing");
  }
  const [digestOid] = childrenWithin(der, expectTag(digestAlgorithm, TAG.SEQUENCE, "digestAlgorithm"));
  if (!signedAttrs || signedAttrs.tag !== TAG.CONTEXT_0) malformed("the signerInfo has no signed attributes (SCEP keeps its fields there)");
  const [signatureOid] = childrenWithin(der, expectTag(signatureAlgorithm, TAG.SEQUENCE, "signatureAlgorithm"));
  return {
    sid: identifier,
    digestOid: oidOf(der, digestOid, "digestAlgorithm"),
    signedAttrs,
    signatureOid: oidOf(der, signatureOid, "signatureAlgorithm"),
    signature: contents(der, expectTag(signature, TAG.OCTET_STRING, "signature")),
  };
}

/** Each signed attribute's values (the elements of its SET), by OID; an attribute given twice is refused. */
type Attributes = Map<string, { der: Uint8Array; values: Element[] }>;

function readAttributes(der: Uint8Array, signedAttrs: Element): Attributes {
  const attributes: Attributes = new Map();
  for (const attribute of childrenWithin(der, signedAttrs)) {
    const [type, values] = childrenWithin(der, expectTag(attribute, TAG.SEQUENCE, "Attribute"));
    const oid = oidOf(der, type, "attribute type");
    if (attributes.has(oid)) malformed(`the signed attribute ${oid} is given twice`);
    attributes.set(oid, { der, values: childrenWithin(der, expectTag(values, TAG.SET, "attribute values")) });
  }
  return attributes;
}

function single(attributes: Attributes, oid: string, what: string): { der: Uint8Array; value: Element } {
  const attribute = attributes.get(oid);
  if (!attribute || attribute.values.length !== 1) malformed(`the ${what} attribute is missing`);
  return { der: attribute.der, value: attribute.values[0]! };
}

/** A PrintableString attribute (SCEP's messageType and transactionID), of at most `max` characters. */
function printable(attributes: Attributes, oid: string, what: string, max: number): string {
  const { der, value } = single(attributes, oid, what);
  // PrintableString; some clients write transactionID as another string type, which is taken as long as it is printable.
  if (![TAG.PRINTABLE_STRING, TAG.UTF8_STRING, TAG.IA5_STRING].includes(value.tag as never)) malformed(`${what} is not a PrintableString`);
  const text = Buffer.from(contents(der, value)).toString("latin1");
  if (text.length === 0 || text.length > max || !/^[\x20-\x7e]+$/.test(text)) malformed(`${what} must be 1 to ${max} printable characters`);
  return text;
}

function octetString(attributes: Attributes, oid: string, what: string): Uint8Array {
  const { der, value } = single(attributes, oid, what);
  return contents(der, expectTag(value, TAG.OCTET_STRING, what));
}

/** The certificate among the message's that the signerInfo names (by issuer and serial, or by key identifier). */
function signerCertificate(der: Uint8Array, certificates: Element | undefined, sid: SignerInfoParts["sid"]): X509Certificate {
  if (!certificates) malformed("the message carries no certificate (the signer's must be in it)");
  const list = childrenWithin(der, certificates);
  if (list.length > 8) malformed("more than 8 certificates in the message");
  for (const element of list) {
    if (element.tag !== TAG.SEQUENCE) continue;
    const raw = bytesOf(der, element);
    const certificate = new X509Certificate(raw);
    const fields = readCertificateDer(new Uint8Array(certificate.raw));
    if ("keyId" in sid) {
      if (fields.subjectKeyId && Buffer.from(fields.subjectKeyId).equals(Buffer.from(sid.keyId))) return certificate;
    } else if (Buffer.from(fields.issuer).equals(Buffer.from(sid.issuer)) && sameSerial(certificate.serialNumber, sid.serial)) {
      return certificate;
    }
  }
  malformed("the signer's certificate is not in the message");
}

/** node:crypto's serial (hex, maybe with leading zeros) and a DER INTEGER's content compared as numbers. */
function sameSerial(hex: string, integer: Uint8Array): boolean {
  const strip = (text: string) => text.toLowerCase().replace(/^0+/, "");
  return strip(hex) === strip(Buffer.from(integer).toString("hex"));
}

/**
 * Whether the signature holds: messageDigest is the content's digest, the
 * signature algorithm agrees with the digest, and the signature verifies
 * over the signed attributes encoded as a SET (RFC 5652 5.4).
 */
function signatureHolds(der: Uint8Array, signer: SignerInfoParts, attributes: Attributes, eContent: Uint8Array, digest: string, key: KeyObject): boolean {
  const algorithm = SIGNATURES[signer.signatureOid];
  if (!algorithm || (algorithm.digest !== undefined && algorithm.digest !== digest)) return false;
  const messageDigest = attributes.get(OID.messageDigest);
  if (!messageDigest || messageDigest.values.length !== 1 || messageDigest.values[0]!.tag !== TAG.OCTET_STRING) return false;
  const expected = createHash(digest).update(eContent).digest();
  if (!expected.equals(Buffer.from(contents(der, messageDigest.values[0]!)))) return false;
  const contentType = attributes.get(OID.contentType);
  if (!contentType || contentType.values.length !== 1 || oidOf(der, contentType.values[0], "contentType") !== OID.data) return false;
  const signed = new Uint8Array(bytesOf(der, signer.signedAttrs));
  signed[0] = TAG.SET;
  try {
    return verify(digest, signed, key, Buffer.from(signer.signature));
  } catch {
    return false;
  }
}
