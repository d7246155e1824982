/**
 * @module
 * `--public-url`: the plain-HTTP base URL as clients reach the depot. When
 * set, every certificate issued says where to check it: Authority
 * Information Access (OCSP at URL/ocsp, the CA certificate at URL/ca) and a
 * CRL Distribution Point (URL/crl), RFC 5280 4.2.2.1 and 4.2.1.13.
 */
import { x509 } from "../ca/provider.ts";
import { parsePublicUrl } from "../http/public/options.ts";

/** The AIA and CDP extensions (DER) for a public URL, built once per depot and added to every leaf. */
export function publicationExtensions(publicUrl: string): Uint8Array[] {
  const base = parsePublicUrl(publicUrl);
  const aia = new x509.AuthorityInfoAccessExtension({
    ocsp: [new x509.GeneralName("url", `${base}/ocsp`)],
    caIssuers: [new x509.GeneralName("url", `${base}/ca`)],
  });
  const cdp = new x509.CRLDistributionPointsExtension([`${base}/crl`]);
  return [new Uint8Array(aia.rawData), new Uint8Array(cdp.rawData)];
}
