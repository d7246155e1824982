/**
 * @module
 * `--public-url`: the plain-HTTP base URL as clients reach the depot. When
 * set, every certificate issued says where to check it: Authority
 * Information Access (OCSP at URL/ocsp, the CA certificate at URL/ca) and a
 * CRL Distribution Point (URL/crl), RFC 5280 4.2.2.1 and 4.2.1.13. Encoded
 * with the DER writer, byte for byte as @peculiar/x509 encodes them
 * (test/ocsp-public-url.test.ts compares), without loading that library
 * into every worker.
 */
import { oid, TAG, tlv } from "./der.ts";
import { parsePublicUrl } from "../http/public/options.ts";

/** A GeneralName uniformResourceIdentifier: [6] IA5String. */
const uri = (url: string) => tlv(0x86, new TextEncoder().encode(url));

/** The AIA and CDP extensions (DER) for a public URL, built once per depot and added to every leaf. */
export function publicationExtensions(publicUrl: string): Uint8Array[] {
  const base = parsePublicUrl(publicUrl);
  const accessDescription = (method: string, url: string) => tlv(TAG.SEQUENCE, oid(method), uri(url));
  const aia = tlv(
    TAG.SEQUENCE,
    oid("1.3.6.1.5.5.7.1.1"),
    tlv(TAG.OCTET_STRING, tlv(TAG.SEQUENCE, accessDescription("1.3.6.1.5.5.7.48.1", `${base}/ocsp`), accessDescription("1.3.6.1.5.5.7.48.2", `${base}/ca`))),
  );
  // DistributionPoint { distributionPoint [0] { fullName [0] { uri } } }
  const cdp = tlv(TAG.SEQUENCE, oid("2.5.29.31"), tlv(TAG.OCTET_STRING, tlv(TAG.SEQUENCE, tlv(TAG.SEQUENCE, tlv(0xa0, tlv(0xa0, uri(`${base}/crl`)))))));
  return [aia, cdp];
}
