/**
 * @module
 * @peculiar/x509, and the WebCrypto provider depot hands it. x509 signs and
 * hashes through whatever provider it is given; Bun's native `crypto.subtle`
 * is faster than @peculiar/webcrypto for every signing job we measured
 * (docs/crypto-providers.md). It is passed explicitly where depot signs
 * through x509 (`x509.X509CertificateGenerator.create(params, webCrypto)`),
 * as x509's own generators take it, rather than installed globally as a
 * side effect of importing this module.
 */
import "reflect-metadata"; // @peculiar/x509 resolves its services through tsyringe, which needs it.
import * as x509 from "@peculiar/x509";

export const webCrypto: Crypto = globalThis.crypto;

export { x509 };
