/**
 * @module
 * The few DER readers SCEP's messages need, on top of the bounds-checked
 * walker (`readElementWithin`/`childrenWithin` in `ca/der.ts`): every
 * element a client sent is checked for its tag before it is used, and any
 * mismatch is a `MalformedScep` (HTTP 400: the bytes are no SCEP message).
 */
import { childrenWithin, type Element, oidText, readElementWithin, tlv } from "../../ca/der.ts";

/** The request's bytes are not a SCEP message depot can read: HTTP 400, not a CertRep. */
export class MalformedScep extends Error {
  override name = "MalformedScep";
}

export function malformed(what: string): never {
  throw new MalformedScep(`not a SCEP message: ${what}`);
}

/** The element, which must exist and carry `tag`. */
export function expectTag(element: Element | undefined, tag: number, what: string): Element {
  if (!element || element.tag !== tag) malformed(`${what} is missing or of the wrong type`);
  return element;
}

/** The one element that fills `der` (nothing after it). */
export function whole(der: Uint8Array, tag: number, what: string): Element {
  const element = expectTag(readElementWithin(der, 0, der.length), tag, what);
  if (element.end !== der.length) malformed(`bytes after the ${what}`);
  return element;
}

/** The one element inside an EXPLICIT tag's content. */
export function inside(der: Uint8Array, parent: Element, tag: number, what: string): Element {
  const [only, extra] = childrenWithin(der, parent);
  if (extra) malformed(`more than one element in the ${what}`);
  return expectTag(only, tag, what);
}

export function contents(der: Uint8Array, element: Element): Uint8Array {
  return der.subarray(element.contentStart, element.end);
}

/** The element itself, tag and length included. */
export function bytesOf(der: Uint8Array, element: Element): Uint8Array {
  return der.subarray(element.start, element.end);
}

export function oidOf(der: Uint8Array, element: Element | undefined, what: string): string {
  return oidText(contents(der, expectTag(element, 0x06, what)));
}

/**
 * An OCTET STRING's bytes: primitive (DER), or constructed from primitive
 * pieces (BER, as some clients write eContent and encryptedContent).
 */
export function octets(der: Uint8Array, element: Element, primitiveTag: number, constructedTag: number, what: string): Uint8Array {
  if (element.tag === primitiveTag) return contents(der, element);
  if (element.tag !== constructedTag) malformed(`${what} is not an OCTET STRING`);
  const pieces = childrenWithin(der, element).map((piece) => contents(der, expectTag(piece, 0x04, what)));
  return Buffer.concat(pieces);
}

/**
 * A certificate's IssuerAndSerialNumber (RFC 5652 10.2.4), DER: how a
 * SignerInfo names its signer and a RecipientInfo its recipient. The
 * certificate is one node:crypto or depot already read.
 */
export function issuerAndSerial(certificateDer: Uint8Array): Uint8Array {
  const certificate = readElementWithin(certificateDer, 0, certificateDer.length);
  const [tbs] = childrenWithin(certificateDer, certificate);
  const fields = childrenWithin(certificateDer, tbs!);
  const start = fields[0]!.tag === 0xa0 ? 1 : 0;
  const serial = fields[start]!;
  const issuer = fields[start + 2]!;
  return tlv(0x30, bytesOf(certificateDer, issuer), bytesOf(certificateDer, serial));
}
