/**
 * @module `depot config` for a two-tier depot (hierarchy.ts): clients are
 * checked up to the root (depth 2), the intermediate is at hand for clients
 * that send only their own certificate, and revocation is checked at both
 * levels, which nginx and Apache do once a CRL is given: so they need the
 * leaves' CRL (crl.pem, the intermediate's) and the root's (root-crl.pem)
 * in one file, remade whenever either changes.
 */
export function twoTierWebServerConfig(paths: { caCertificate: string; intermediateCertificate: string; crl: string; rootCrl: string }, label: string): string {
  const crls = paths.crl.replace(/crl\.pem$/, "crl-chain.pem");
  return `# Both CRLs in one file, which the web server reads: remake it (and reload
# the web server) after each revocation and each \`depot crl\` or \`depot root crl\`:
#   cat ${paths.crl} ${paths.rootCrl} > ${crls}

# Apache (mod_ssl): accept only clients holding an unrevoked certificate from ${label}
# (clients send the intermediate after their certificate, as depot's output has it)
SSLVerifyClient require
SSLVerifyDepth 2
SSLCACertificateFile ${paths.caCertificate}
SSLCARevocationFile ${crls}
SSLCARevocationCheck chain

# nginx (server block): the same
ssl_client_certificate ${paths.caCertificate};
ssl_trusted_certificate ${paths.intermediateCertificate};
ssl_verify_client on;
ssl_verify_depth 2;
ssl_crl ${crls};
`;
}
