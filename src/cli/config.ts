/**
 * @module
 * `depot config`: web-server settings that require this depot's certificates.
 */
import { depotCommand } from "./_command.ts";
import { isTwoTier, tierLayout } from "../ca/hierarchy.ts";
import { twoTierWebServerConfig } from "./_two-tier-config.ts";
import { ocspWebServerConfig } from "../ocsp/web-server-config.ts";

const args = {
  path: { type: "positional", description: "The depot's folder", required: true },
} as const;

export default depotCommand({
  meta: { name: "config", description: "Print Apache and nginx settings that make a web server require certificates from this depot." },
  args,
  run(_context, depot) {
    const tiers = tierLayout(depot.layout);
    const settings = isTwoTier(depot.layout)
      ? twoTierWebServerConfig({ caCertificate: depot.layout.caCertificate, intermediateCertificate: tiers.intermediateCertificate, crl: depot.layout.crl, rootCrl: tiers.rootCrl }, depot.label)
      : webServerConfig(depot.layout.caCertificate, depot.layout.crl, depot.label);
    process.stdout.write(settings + (depot.publicUrl ? ocspWebServerConfig(depot.publicUrl, { twoTier: isTwoTier(depot.layout) }) : ""));
  },
});

export function webServerConfig(caCertificate: string, crl: string, label: string): string {
  return `# Apache (mod_ssl): accept only clients holding an unrevoked certificate from ${label}
SSLVerifyClient require
SSLVerifyDepth 1
SSLCACertificateFile ${caCertificate}
SSLCARevocationFile ${crl}
SSLCARevocationCheck chain

# nginx (server block): the same
ssl_client_certificate ${caCertificate};
ssl_verify_client on;
ssl_verify_depth 1;
ssl_crl ${crl};

# Reload the web server after each revocation, and run \`depot crl\` from cron
# within the CRL's validity (7 days by default) so it never expires.
`;
}
