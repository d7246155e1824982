import "reflect-metadata"; // @peculiar/x509 resolves its services through tsyringe, which needs it.
import * as x509 from "@peculiar/x509";

/**
 * @peculiar/x509 signs and hashes through whatever WebCrypto provider it is
 * given. Bun's native `crypto.subtle` is faster than @peculiar/webcrypto for
 * every signing job we measured (docs/crypto-providers.md), so depot installs
 * it once, here, before any certificate is made.
 */
x509.cryptoProvider.set(globalThis.crypto);

export { x509 };
