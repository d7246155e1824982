/**
 * @module `depot key encrypt PATH` and `depot key decrypt PATH`: convert an
 * existing depot's CA key in place, atomically (ca-key.ts).
 */
import { defineCommand } from "citty";
import { command } from "./_command.ts";
import { createPrivateKey } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { replaceCaKeyFile } from "../ca/ca-key.ts";
import { decryptPrivateKey, encryptPrivateKey, isEncryptedKeyPem, PBKDF2_ITERATIONS } from "../ca/key-encryption.ts";
import { loadSigningKey } from "../ca/keys.ts";
import { depotLayout } from "../ca/layout.ts";
import { tierLayout } from "../ca/hierarchy.ts";
import { DepotError, ioError } from "../errors.ts";
import { passphraseArgs, readPassphrase } from "./_passphrase.ts";


const args = {
  path: { type: "positional", description: "The depot's folder", required: true },
  ...passphraseArgs,
} as const;

/** The depot's private keys: private/ca.key, and private/root.key in a two-tier depot while it is there. */
function readKeys(path: string): { path: string; pem: string }[] {
  const layout = depotLayout(resolve(path));
  const rootKey = tierLayout(layout).rootKey;
  return [layout.caKey, ...(existsSync(rootKey) ? [rootKey] : [])].map((file) => {
    try {
      return { path: file, pem: readFileSync(file, "utf8") };
    } catch (error) {
      throw ioError("read the CA key", file, error);
    }
  });
}

const encrypt = command({
  meta: { name: "encrypt", description: `Encrypt the depot's CA key (and a two-tier depot's root key) under a new passphrase (PBES2: PBKDF2-HMAC-SHA256, ${PBKDF2_ITERATIONS.toLocaleString("en")} iterations, AES-256-CBC).` },
  args,
  async run({ args: parsed }) {
    const keys = readKeys(parsed.path);
    const [main] = keys;
    if (isEncryptedKeyPem(main!.pem)) throw new DepotError("E_BAD_ARGUMENT", `${main!.path} is already encrypted`);
    for (const key of keys) await loadSigningKey(key.pem, key.path); // keys depot can sign with, before anything changes
    const passphrase = await readPassphrase(parsed, { confirm: true, what: "new CA key passphrase" });
    for (const key of keys) {
      if (isEncryptedKeyPem(key.pem)) continue;
      replaceCaKeyFile(key.path, await encryptPrivateKey(key.pem, passphrase));
      console.log(`Encrypted ${key.path}`);
    }
    console.log("Commands that sign now need the passphrase (--passphrase-file, --passphrase-env, or a terminal)");
  },
});

const decrypt = command({
  meta: { name: "decrypt", description: "Store the depot's CA key (and a two-tier depot's root key) without encryption (PKCS#8), after asking for the passphrase." },
  args,
  async run({ args: parsed }) {
    const keys = readKeys(parsed.path);
    const [main] = keys;
    if (!isEncryptedKeyPem(main!.pem)) throw new DepotError("E_BAD_ARGUMENT", `${main!.path} is not encrypted`);
    const passphrase = await readPassphrase(parsed);
    // Every key decrypted before any file changes: a wrong passphrase for one changes none.
    const plain = [];
    for (const key of keys) if (isEncryptedKeyPem(key.pem)) plain.push({ path: key.path, pem: await decryptPrivateKey(key.pem, passphrase, key.path) });
    for (const key of plain) {
      createPrivateKey(key.pem); // decryptPrivateKey has checked it already; cheap to be sure before replacing
      replaceCaKeyFile(key.path, key.pem);
      console.log(`Decrypted ${key.path}; it is protected by its file mode (0400) only`);
    }
  },
});

export default defineCommand({
  meta: { name: "key", description: "Encrypt or decrypt a depot's CA key in place: depot key encrypt PATH, depot key decrypt PATH." },
  subCommands: { encrypt, decrypt },
});
