/**
 * @module
 * `--public-url`: the plain-HTTP base URL as clients reach the depot. When
 * set, every certificate issued says where to check it: Authority
 * Information Access (OCSP at URL/ocsp, the CA certificate at URL/ca) and a
 * CRL Distribution Point (URL/crl), RFC 5280 4.2.2.1 and 4.2.1.13.
 */
import { DepotError } from "../errors.ts";
import { x509 } from "../ca/provider.ts";

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
