/**
 * @module
 * The pkcsPKIEnvelope (RFC 8894 3.2.2): a CMS EnvelopedData. A request's is
 * encrypted to the RA's RSA key (key transport, RSAES-PKCS1-v1_5 or OAEP)
 * with AES-CBC or, for older clients, DES-EDE3-CBC; an answer's to the
 * requester's signer certificate, with the cipher the request used.
 *
 * node:crypto (BoringSSL in Bun) no longer decrypts PKCS#1 v1.5, for the
 * padding oracle it can make (Bleichenbacher, "Marvin"). So the RSA
 * operation is raw here and the padding is checked without an early exit;
 * a bad padding gets a key derived from the ciphertext and a secret of this
 * process instead (implicit rejection, as OpenSSL 3.2 does), so it fails
 * later, at the content, exactly as a wrong key would: the client learns
 * nothing from how or when it failed.
 */
import { constants, createCipheriv, createDecipheriv, createHmac, type KeyObject, privateDecrypt, publicEncrypt, randomBytes, type X509Certificate } from "node:crypto";
import { childrenWithin, oid, TAG, tlv } from "../../ca/der.ts";
import { contents, expectTag, inside, issuerAndSerial, malformed, oidOf, octets, whole } from "./asn1.ts";
import { OID } from "./pki-message.ts";

/** Content ciphers by OID: node:crypto's name, key and IV length. */
export const CIPHERS: Record<string, { name: string; keyLength: number; ivLength: number }> = {
  "2.16.840.1.101.3.4.1.2": { name: "aes-128-cbc", keyLength: 16, ivLength: 16 },
  "2.16.840.1.101.3.4.1.22": { name: "aes-192-cbc", keyLength: 24, ivLength: 16 },
  "2.16.840.1.101.3.4.1.42": { name: "aes-256-cbc", keyLength: 32, ivLength: 16 },
  "1.2.840.113549.3.7": { name: "des-ede3-cbc", keyLength: 24, ivLength: 8 },
};

const RSA_ENCRYPTION = "1.2.840.113549.1.1.1";
const RSAES_OAEP = "1.2.840.113549.1.1.7";

/** Why an envelope could not be opened: the client's message check fails (badMessageCheck) or its algorithm is unknown (badAlg). */
export class EnvelopeRefusal extends Error {
  constructor(
    readonly failInfo: "badAlg" | "badMessageCheck",
    message: string,
  ) {
    super(message);
  }
}

/** The secret implicit rejection derives its keys from: new per process, so no two processes' failures compare. */
const REJECTION_SECRET = randomBytes(32);

/**
 * The content of a request's envelope (the PKCS#10 request, or
 * GetCertInitial's IssuerAndSubject) and the cipher it used. Throws
 * `MalformedScep` for what is no EnvelopedData, `EnvelopeRefusal` for what
 * cannot be decrypted.
 */
export function openEnvelope(envelope: Uint8Array, raKey: KeyObject): { content: Uint8Array; cipherOid: string } {
  const contentInfo = whole(envelope, TAG.SEQUENCE, "pkcsPKIEnvelope");
  const [type, explicit] = childrenWithin(envelope, contentInfo);
  if (oidOf(envelope, type, "envelope contentType") !== OID.envelopedData) malformed("the signed content is not an EnvelopedData");
  const enveloped = inside(envelope, expectTag(explicit, TAG.CONTEXT_0, "EnvelopedData"), TAG.SEQUENCE, "EnvelopedData");
  const fields = childrenWithin(envelope, enveloped);
  expectTag(fields[0], TAG.INTEGER, "EnvelopedData version");
  // [0] originatorInfo may come before the recipients.
  const rest = fields[1]?.tag === TAG.CONTEXT_0 ? fields.slice(2) : fields.slice(1);
  const recipients = childrenWithin(envelope, expectTag(rest[0], TAG.SET, "recipientInfos"));
  const [contentType, algorithm, encrypted] = childrenWithin(envelope, expectTag(rest[1], TAG.SEQUENCE, "encryptedContentInfo"));
  oidOf(envelope, contentType, "encrypted contentType");
  const [cipherOidElement, ivElement] = childrenWithin(envelope, expectTag(algorithm, TAG.SEQUENCE, "contentEncryptionAlgorithm"));
  const cipherOid = oidOf(envelope, cipherOidElement, "content cipher");
  const cipher = CIPHERS[cipherOid];
  if (!cipher) throw new EnvelopeRefusal("badAlg", `content cipher ${cipherOid} is not one depot offers (AES-CBC, DES-EDE3-CBC)`);
  const iv = contents(envelope, expectTag(ivElement, TAG.OCTET_STRING, "IV"));
  if (iv.length !== cipher.ivLength) malformed(`the IV of ${cipher.name} must be ${cipher.ivLength} bytes`);
  if (!encrypted) malformed("the encrypted content is missing");
  const ciphertext = octets(envelope, encrypted, 0x80, TAG.CONTEXT_0, "encryptedContent");
  if (ciphertext.length === 0 || ciphertext.length % (cipher.name.startsWith("des") ? 8 : 16) !== 0) malformed("the encrypted content is not whole cipher blocks");

  const keyTransports = recipients.filter((recipient) => recipient.tag === TAG.SEQUENCE);
  if (keyTransports.length === 0) throw new EnvelopeRefusal("badAlg", "the envelope has no key-transport recipient (RSA)");
  if (keyTransports.length > 8) malformed("more than 8 recipients");
  const raBits = (raKey.asymmetricKeyDetails?.modulusLength ?? 2048) / 8;
  // Each recipient the RA's key could be: the one that decrypts the content wins (a client names the RA by its certificate; trying all costs a private operation each).
  let firstError: EnvelopeRefusal | undefined;
  for (const recipient of keyTransports) {
    const [, , keyAlgorithm, encryptedKey] = childrenWithin(envelope, recipient);
    const [keyAlgorithmOid] = childrenWithin(envelope, expectTag(keyAlgorithm, TAG.SEQUENCE, "keyEncryptionAlgorithm"));
    const transport = oidOf(envelope, keyAlgorithmOid, "keyEncryptionAlgorithm");
    const wrapped = contents(envelope, expectTag(encryptedKey, TAG.OCTET_STRING, "encryptedKey"));
    if (wrapped.length !== raBits) {
      firstError ??= new EnvelopeRefusal("badMessageCheck", "the envelope is not encrypted to the RA's key (the RA certificate of GetCACert)");
      continue;
    }
    let key: Uint8Array;
    if (transport === RSA_ENCRYPTION) key = unwrapPkcs1(wrapped, raKey, cipher.keyLength);
    else if (transport === RSAES_OAEP) {
      try {
        key = privateDecrypt({ key: raKey, padding: constants.RSA_PKCS1_OAEP_PADDING }, wrapped);
      } catch {
        firstError ??= new EnvelopeRefusal("badMessageCheck", "the envelope's key does not decrypt with the RA's key");
        continue;
      }
    } else {
      firstError ??= new EnvelopeRefusal("badAlg", `key transport ${transport} is not one depot takes (RSA)`);
      continue;
    }
    try {
      const decipher = createDecipheriv(cipher.name, key, iv);
      return { content: Buffer.concat([decipher.update(ciphertext), decipher.final()]), cipherOid };
    } catch {
      firstError ??= new EnvelopeRefusal("badMessageCheck", "the envelope does not decrypt with the RA's key");
    }
  }
  throw firstError ?? new EnvelopeRefusal("badMessageCheck", "the envelope does not decrypt with the RA's key");
}

/**
 * RSAES-PKCS1-v1_5 decryption of a content key of `length` bytes with
 * implicit rejection: 00 02 PS(at least 8 non-zero) 00 KEY, checked without
 * branching on the secret bytes; otherwise a key derived from the ciphertext.
 */
function unwrapPkcs1(wrapped: Uint8Array, raKey: KeyObject, length: number): Uint8Array {
  let block: Buffer;
  try {
    block = privateDecrypt({ key: raKey, padding: constants.RSA_NO_PADDING }, wrapped);
  } catch {
    // A value past the modulus: no padding to check, the same synthetic key follows.
    block = Buffer.alloc(wrapped.length, 0xff);
  }
  const separator = block.length - length - 1;
  let bad = block[0]! | (block[1]! ^ 0x02) | block[separator]!;
  for (let i = 2; i < separator; i++) bad |= block[i]! === 0 ? 1 : 0;
  if (separator < 10) bad |= 1;
  const synthetic = createHmac("sha256", REJECTION_SECRET).update(wrapped).digest().subarray(0, length);
  const key = Buffer.alloc(length);
  // Every byte taken from both, one kept by mask: the same work whichever it is.
  const keep = bad === 0 ? 0xff : 0x00;
  for (let i = 0; i < length; i++) key[i] = (block[separator + 1 + i]! & keep) | (synthetic[i % synthetic.length]! & ~keep & 0xff);
  return key;
}

/**
 * An EnvelopedData (as a ContentInfo, DER) holding `content` for the
 * holder of `recipient`'s RSA key, encrypted with the cipher of `cipherOid`.
 */
export function sealEnvelope(content: Uint8Array, recipient: X509Certificate, cipherOid: string): Uint8Array {
  const cipher = CIPHERS[cipherOid]!;
  const key = randomBytes(cipher.keyLength);
  const iv = randomBytes(cipher.ivLength);
  const encipher = createCipheriv(cipher.name, key, iv);
  const ciphertext = Buffer.concat([encipher.update(content), encipher.final()]);
  const wrapped = publicEncrypt({ key: recipient.publicKey, padding: constants.RSA_PKCS1_PADDING }, key);
  const recipientInfo = tlv(
    TAG.SEQUENCE,
    tlv(TAG.INTEGER, new Uint8Array([0])),
    issuerAndSerial(new Uint8Array(recipient.raw)),
    tlv(TAG.SEQUENCE, oid(RSA_ENCRYPTION), tlv(0x05)),
    tlv(TAG.OCTET_STRING, wrapped),
  );
  const enveloped = tlv(
    TAG.SEQUENCE,
    tlv(TAG.INTEGER, new Uint8Array([0])),
    tlv(TAG.SET, recipientInfo),
    tlv(TAG.SEQUENCE, oid(OID.data), tlv(TAG.SEQUENCE, oid(cipherOid), tlv(TAG.OCTET_STRING, iv)), tlv(0x80, ciphertext)),
  );
  return tlv(TAG.SEQUENCE, oid(OID.envelopedData), tlv(TAG.CONTEXT_0, enveloped));
}
