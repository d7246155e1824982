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
import { DepotError } from "../errors.ts";
import { oid, TAG, tlv } from "./der.ts";

/** The URL as given, checked: http (OCSP and CRLs are fetched over plain HTTP: they are signed, and a TLS check would need them), no query or fragment, no trailing slash. */
export function parsePublicUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text.trim());
  } catch {
    throw new DepotError("E_BAD_ARGUMENT", `--public-url must be a URL like http://ca.example.com, not '${text}'`);
  }
  if (url.protocol !== "http:") {
    throw new DepotError("E_BAD_ARGUMENT", `--public-url must be an http:// URL (OCSP and CRL clients such as nginx fetch over plain HTTP; the answers are signed), not '${text}'`);
  }
  if (url.search || url.hash || url.username || url.password) {
    throw new DepotError("E_BAD_ARGUMENT", `--public-url takes no query, fragment or credentials: '${text}'`);
  }
  return url.href.replace(/\/+$/, "");
}


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
