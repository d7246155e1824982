/**
 * @module
 * What `depot config` adds when the depot has a public URL: the directives
 * that make nginx and Apache ask the depot's OCSP responder about each
 * client certificate (at the URL in its AIA), so a revocation is refused
 * on the next connection, without a reload.
 */
export function ocspWebServerConfig(publicUrl: string, options: { twoTier?: boolean } = {}): string {
  const needsResolver = !/^http:\/\/(\d+\.\d+\.\d+\.\d+|\[[0-9a-f:.]+\])(:\d+)?$/i.test(publicUrl);
  return `
# Real-time revocation: ask the depot's OCSP responder (${publicUrl}/ocsp, named in
# every certificate's AIA) about each client certificate, so a revoked one is refused
# on its next connection without reloading the web server. The answers are signed
# by the CA; a client whose status cannot be fetched is refused.

# Apache (mod_ssl)
SSLOCSPEnable leaf

# nginx
${options.twoTier ? `# leaf: the intermediate names no OCSP responder, and nginx's \`on\` would refuse every
# client for want of one; the intermediate's revocation comes from the root's CRL (ssl_crl).
ssl_ocsp leaf;` : "ssl_ocsp on;"}
${needsResolver ? "resolver 127.0.0.53;  # nginx resolves the OCSP host itself: use your DNS resolver\n" : ""}# No ssl_ocsp_cache: nginx would keep a cached "good" answer until its nextUpdate
# (an hour by default, --ocsp-validity), so a revoked certificate would still be
# accepted until then. Each handshake asks the responder, which answers from memory.
`;
}
