/**
 * @module
 * How an opened depot gets its CA key: read from private/ca.key, decrypted
 * with a passphrase when it is encrypted, or handed over already decrypted
 * (a server's worker gets it from its supervisor over its lifeline). The
 * decrypted key is only ever in memory.
 */
import { createPublicKey, randomBytes } from "node:crypto";
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { DepotError, ioError } from "../errors.ts";
import { isEncryptedKeyPem } from "./key-pem.ts";
import { KEY_SPECS, KEY_TYPES, type KeyType } from "./key-types.ts";
import { describePublicKey, loadSigningKey, type SigningKey } from "./keys.ts";

export interface CaKeyAccess {
  /** The passphrase of an encrypted CA key. */
  passphrase?: string;
  /** The CA key already decrypted, PKCS#8 PEM (from a supervisor); the file is not read. */
  decryptedKeyPem?: string;
  /**
   * For commands that never sign (list, show, config): an encrypted key is
   * left locked, and the depot opens with the CA's public key only. Signing
   * with it fails.
   */
  withoutSigning?: boolean;
}

export const PASSPHRASE_HINT = "give its passphrase with --passphrase-file FILE or --passphrase-env NAME, or type it on a terminal";

export async function loadCaKey(paths: { caKey: string; caCertificate: string }, access: CaKeyAccess = {}): Promise<SigningKey> {
  if (access.decryptedKeyPem !== undefined) return loadSigningKey(access.decryptedKeyPem, paths.caKey);
  const pem = readText(paths.caKey);
  if (!isEncryptedKeyPem(pem)) return loadSigningKey(pem, paths.caKey);
  if (access.passphrase !== undefined) {
    // Loaded only for an encrypted key: its ASN.1 schemas cost every process that loads them.
    const { decryptPrivateKey } = await import("./key-encryption.ts");
    return loadSigningKey(await decryptPrivateKey(pem, access.passphrase, paths.caKey), paths.caKey);
  }
  if (access.withoutSigning) return lockedKey(readText(paths.caCertificate), paths.caCertificate);
  throw new DepotError("E_BAD_PASSPHRASE", `the CA key ${paths.caKey} is encrypted: ${PASSPHRASE_HINT}`);
}

/** Whether the depot's CA key file is encrypted (so a command knows to ask for the passphrase). */
export function caKeyIsEncrypted(caKeyPath: string): boolean {
  try {
    return isEncryptedKeyPem(readFileSync(caKeyPath, "utf8"));
  } catch {
    return false; // Depot.open reports the unreadable file.
  }
}

/** The CA's public key in a SigningKey's shape: node:crypto and WebCrypto both refuse to sign with it. */
async function lockedKey(certificatePem: string, where: string): Promise<SigningKey> {
  let publicKey;
  try {
    publicKey = createPublicKey(certificatePem);
  } catch {
    throw new DepotError("E_NOT_A_DEPOT", `${where} is not a readable certificate`);
  }
  const spki = new Uint8Array(publicKey.export({ type: "spki", format: "der" }));
  const type = publicKeyType(spki, where);
  const verifyOnly = await crypto.subtle.importKey("spki", spki, KEY_SPECS[type].importAlgorithm, false, ["verify"]);
  return { type, privateKey: verifyOnly, keyObject: publicKey, publicKeyDer: spki };
}

/** The key type of a public key (SPKI DER), one depot signs with. */
export function publicKeyType(spki: Uint8Array, where: string): KeyType {
  const { keyType } = describePublicKey(spki);
  if ((KEY_TYPES as readonly string[]).includes(keyType)) return keyType as KeyType;
  throw new DepotError("E_NOT_A_DEPOT", `${where} holds a key type depot cannot sign with`);
}

function readText(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    throw ioError("read", path, error);
  }
}

/**
 * Replaces the CA key file whole (encrypting or decrypting it in place): the
 * new key is written to a temporary file beside it and synced, renamed over
 * the old one, and the folder synced, so a crash or a power cut leaves the
 * old key or the new one, never neither. `beforeRename` is a test seam.
 */
export function replaceCaKeyFile(path: string, pem: string, beforeRename: () => void = () => {}): void {
  const folder = dirname(path);
  const temporary = join(folder, `.${basename(path)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
  try {
    const fd = openSync(temporary, "wx", 0o400);
    try {
      writeSync(fd, Buffer.from(pem));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    beforeRename();
    renameSync(temporary, path);
    const dirFd = openSync(folder, "r");
    try {
      fsyncSync(dirFd);
    } finally {
      closeSync(dirFd);
    }
  } catch (error) {
    rmSync(temporary, { force: true });
    throw ioError("replace", path, error);
  }
}
