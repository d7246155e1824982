/**
 * @module
 * Certificates as a "certs-only" PKCS#7 message (RFC 5652 SignedData with
 * no content and no signers; RFC 7030's Simple PKI Response, RFC 8551's
 * smime-type certs-only): what EST answers `/cacerts` and `/simpleenroll`
 * with, and what `openssl pkcs7 -print_certs` reads. Built with @peculiar's
 * CMS and X.509 schemas, so it is loaded on demand, never by a worker's
 * static imports.
 */
import { CertificateChoices, CertificateSet, CMSVersion, ContentInfo, EncapsulatedContentInfo, id_data, id_signedData, SignedData } from "@peculiar/asn1-cms";
import { AsnConvert } from "@peculiar/asn1-schema";
import { Certificate } from "@peculiar/asn1-x509";

/** The DER of a degenerate SignedData holding these certificates (DER each), in this order. */
export function certsOnlyPkcs7(certificateDers: Uint8Array[]): Uint8Array {
  const certificates = new CertificateSet(certificateDers.map((der) => new CertificateChoices({ certificate: AsnConvert.parse(der, Certificate) })));
  const signedData = new SignedData({
    version: CMSVersion.v1,
    encapContentInfo: new EncapsulatedContentInfo({ eContentType: id_data }),
    certificates,
  });
  const contentInfo = new ContentInfo({ contentType: id_signedData, content: AsnConvert.serialize(signedData) });
  return new Uint8Array(AsnConvert.serialize(contentInfo));
}
