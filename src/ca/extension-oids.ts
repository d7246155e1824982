/**
 * @module
 * Which extensions a webhook may never add, and what a dotted OID looks
 * like: what `depot start` checks its --webhook-extension flags with (no
 * imports, so the supervisor loads nothing for it), what templates are
 * read with, and what the issuance gate checks an enrich answer with.
 */

/**
 * Extensions depot writes itself, which neither a template (depot.cnf's
 * extension.OID) nor a webhook may add, even if an operator listed them: basicConstraints (a webhook must not make a CA),
 * keyUsage, extendedKeyUsage, subjectAltName (added names go through the
 * enrich answer's names), the key identifiers, nameConstraints, the CRL and
 * AIA locations. A second copy of any would make the certificate invalid.
 */
export const DEPOT_EXTENSION_NAMES: Readonly<Record<string, string>> = {
  "2.5.29.19": "basicConstraints",
  "2.5.29.15": "keyUsage",
  "2.5.29.37": "extendedKeyUsage",
  "2.5.29.17": "subjectAltName",
  "2.5.29.14": "subjectKeyIdentifier",
  "2.5.29.35": "authorityKeyIdentifier",
  "2.5.29.30": "nameConstraints",
  "2.5.29.31": "cRLDistributionPoints",
  "1.3.6.1.5.5.7.1.1": "authorityInfoAccess",
};
export const DEPOT_EXTENSIONS: ReadonlySet<string> = new Set(Object.keys(DEPOT_EXTENSION_NAMES));

const DOTTED_OID = /^[0-2](\.(0|[1-9]\d{0,8})){1,30}$/;

/** Whether `text` is a dotted OID depot can encode: first arc 0-2 (the second below 40 unless the first is 2), 2 to 31 arcs of at most 9 digits (what the DER writer encodes). */
export function isDottedOid(text: string): boolean {
  return DOTTED_OID.test(text) && (text.startsWith("2.") || Number(text.split(".")[1]) < 40);
}
