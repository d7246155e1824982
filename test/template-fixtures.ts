/**
 * @module
 * The depot.cnf templates the template tests issue under (templates.test.ts
 * through the CLI, templates-server.test.ts through a running server).
 */

/** OpenVPN's server and client profiles (easy-rsa's), and a code-signing one with a critical extension of its own. */
export const TEMPLATES = `
# OpenVPN: the server's certificate, its clients check serverAuth (remote-cert-tls server)
[ template vpn-server ]
base               = server
key_usage          = digitalSignature, keyEncipherment
extended_key_usage = serverAuth
days               = 825
allow              = *.vpn.example.com
extension.1.3.6.1.4.1.99999.1 = DER:0C:03:76:70:6E

[ template vpn-client ]
base               = client
key_usage          = digitalSignature
extended_key_usage = clientAuth
days               = 90
allow              = cn:vpn-*
enrich_extensions  = 1.3.6.1.4.1.99999.3

[ template signing ]
base               = client
key_usage          = digitalSignature, nonRepudiation
extended_key_usage = codeSigning, timeStamping, 1.3.6.1.4.1.311.10.3.13
extension.1.3.6.1.4.1.99999.2 = critical,UTF8:depot signer
`;

/** What `depot start --acme-template acme-web` issues under: serverAuth alone, a month at most, the ACME test names, a mark of its own. */
export const ACME_TEMPLATE = `
[ template acme-web ]
base               = server
extended_key_usage = serverAuth
days               = 30
allow              = *.lego.test
extension.1.3.6.1.4.1.99999.4 = UTF8:acme-web
`;
