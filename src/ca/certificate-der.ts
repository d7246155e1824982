/**
 * @module
 * The few fields depot needs from a CA certificate (its own, or the one an
 * HTTPS certificate names as issuer), read with the DER reader. @peculiar/x509
 * reads them too, but loading it costs a process about 6 MB (measured in the
 * compiled binary), and a worker that issues over the line protocol, or the
 * upkeep process, needs nothing else from it.
 */
import { children, type Element, oidText, readElement, readTime, TAG } from "./der.ts";

export interface CertificateFields {
  /** The whole certificate. */
  der: Uint8Array<ArrayBuffer>;
  /** The issuer and subject Names, exact bytes. */
  issuer: Uint8Array;
  subject: Uint8Array;
  notBefore: Date;
  notAfter: Date;
  /** The SubjectPublicKeyInfo, DER. */
  spki: Uint8Array;
  /** The subjectKeyIdentifier extension's key identifier, when there is one. */
  subjectKeyId?: Uint8Array;
}

const SUBJECT_KEY_IDENTIFIER = "2.5.29.14";

/** The DER of the first CERTIFICATE block of a PEM text; throws when there is none. */
export function certificateDerFromPem(pem: string): Uint8Array<ArrayBuffer> {
  const body = /-----BEGIN CERTIFICATE-----([A-Za-z0-9+/=\s]+)-----END CERTIFICATE-----/.exec(pem)?.[1];
  if (body === undefined) throw new Error("no PEM CERTIFICATE block");
  return new Uint8Array(Buffer.from(body.replace(/\s+/g, ""), "base64"));
}

/** Reads a certificate's fields; throws on anything that is not an X.509 certificate. */
export function readCertificateDer(der: Uint8Array<ArrayBuffer>): CertificateFields {
  const certificate = expect(der, readElement(der), TAG.SEQUENCE);
  if (certificate.end !== der.length) throw new Error("bytes after the certificate");
  const [tbs] = children(der, certificate);
  const fields = children(der, expect(der, tbs, TAG.SEQUENCE));
  const at = fields[0]?.tag === TAG.CONTEXT_0 ? 1 : 0; // version, absent in v1
  const [serial, , issuer, validity, subject, spki] = fields.slice(at);
  expect(der, serial, TAG.INTEGER);
  const [notBefore, notAfter] = children(der, expect(der, validity, TAG.SEQUENCE));
  const read: CertificateFields = {
    der,
    issuer: der.slice(expect(der, issuer, TAG.SEQUENCE).start, issuer!.end),
    subject: der.slice(expect(der, subject, TAG.SEQUENCE).start, subject!.end),
    notBefore: readTime(der, expectTime(der, notBefore)),
    notAfter: readTime(der, expectTime(der, notAfter)),
    spki: der.slice(expect(der, spki, TAG.SEQUENCE).start, spki!.end),
  };
  const extensions = fields.slice(at + 6).find((field) => field.tag === TAG.CONTEXT_3);
  for (const extension of extensions ? children(der, children(der, extensions)[0]!) : []) {
    const parts = children(der, extension);
    if (oidText(der.subarray(parts[0]!.contentStart, parts[0]!.end)) !== SUBJECT_KEY_IDENTIFIER) continue;
    // extnValue: an OCTET STRING holding the key identifier's OCTET STRING.
    const keyId = expect(der, readElement(der, parts.at(-1)!.contentStart), TAG.OCTET_STRING);
    read.subjectKeyId = der.slice(keyId.contentStart, keyId.end);
  }
  return read;
}

function expect(der: Uint8Array, element: Element | undefined, tag: number): Element {
  if (!element || element.tag !== tag) throw new Error(`not a certificate: expected tag ${tag.toString(16)} at byte ${element?.start ?? der.length}`);
  return element;
}

function expectTime(der: Uint8Array, element: Element | undefined): Element {
  return expect(der, element, element?.tag === TAG.GENERALIZED_TIME ? TAG.GENERALIZED_TIME : TAG.UTC_TIME);
}
