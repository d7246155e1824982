/**
 * @module
 * Telling an encrypted private key from a plain one by its PEM label, apart
 * from key-encryption.ts so that opening a depot with a plain key does not
 * load the ASN.1 schemas that decryption needs.
 */
export const ENCRYPTED_KEY_LABEL = "ENCRYPTED PRIVATE KEY";

export function isEncryptedKeyPem(pem: string): boolean {
  return pem.includes(`-----BEGIN ${ENCRYPTED_KEY_LABEL}-----`);
}
