/**
 * @module
 * Where a two-tier depot keeps its tiers (hierarchy.ts makes them), read by
 * every process that opens a depot: which CA issues, and what chain its
 * leaves carry. Kept apart from hierarchy.ts, whose signing needs
 * @peculiar/x509, so a server's processes need not load it.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { DepotLayout } from "./layout.ts";

export function tierLayout(layout: Pick<DepotLayout, "root" | "privateDir" | "certificatesDir" | "caKey" | "caCertificate">) {
  return {
    intermediateCertificate: join(layout.certificatesDir, "intermediate.crt"),
    rootKey: join(layout.privateDir, "root.key"),
    rootCrl: join(layout.root, "root-crl.pem"),
  };
}

/** Whether a depot has two tiers. */
export function isTwoTier(layout: Parameters<typeof tierLayout>[0]): boolean {
  return existsSync(tierLayout(layout).intermediateCertificate);
}

/**
 * The files of the CA that signs leaves and CRLs: the intermediate in a
 * two-tier depot, else the one CA. Its key is `private/ca.key` either way.
 */
export function issuingCa(layout: Parameters<typeof tierLayout>[0]): { caKey: string; caCertificate: string } {
  return { caKey: layout.caKey, caCertificate: isTwoTier(layout) ? tierLayout(layout).intermediateCertificate : layout.caCertificate };
}

/** The certificates a leaf's holder sends after its own: the intermediate, PEM, or nothing in a one-tier depot. */
export function chainPem(layout: Parameters<typeof tierLayout>[0]): string {
  return isTwoTier(layout) ? readFileSync(tierLayout(layout).intermediateCertificate, "utf8") : "";
}

/**
 * The CA certificates a PKCS#12 bundle carries after its leaf: the issuing
 * CA, then (in two tiers) the root, so an importer (Keychain, Windows, NSS)
 * gets the whole path. A chain handed out (the API's `chain`, ACME's
 * download) never holds the root: see `chainPem`. (The HTTPS listener of a
 * one-tier depot sends it: server/listeners/https.ts says why.)
 */
export function bundlePems(layout: Parameters<typeof tierLayout>[0]): string[] {
  const issuing = readFileSync(issuingCa(layout).caCertificate, "utf8");
  return isTwoTier(layout) ? [issuing, readFileSync(layout.caCertificate, "utf8")] : [issuing];
}
