/**
 * @module `depot key encrypt PATH` and `depot key decrypt PATH`: convert an
 * existing depot's CA key in place, atomically (ca-key.ts).
 */
import { defineCommand } from "citty";
import { createPrivateKey } from "node:crypto";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { replaceCaKeyFile } from "../ca/ca-key.ts";
import { decryptPrivateKey, encryptPrivateKey, isEncryptedKeyPem, PBKDF2_ITERATIONS } from "../ca/key-encryption.ts";
import { loadSigningKey } from "../ca/keys.ts";
import { depotLayout } from "../ca/layout.ts";
import { DepotError, ioError } from "../errors.ts";
import { passphraseArgs, readPassphrase } from "./_passphrase.ts";
import { rejectUnknownArgs } from "./_strict.ts";

const args = {
  path: { type: "positional", description: "The depot's folder", required: true },
  ...passphraseArgs,
} as const;

function readKey(path: string): { caKey: string; pem: string } {
  const { caKey } = depotLayout(resolve(path));
  try {
    return { caKey, pem: readFileSync(caKey, "utf8") };
  } catch (error) {
    throw ioError("read the CA key", caKey, error);
  }
}

const encrypt = defineCommand({
  meta: { name: "encrypt", description: `Encrypt the depot's CA key under a new passphrase (PBES2: PBKDF2-HMAC-SHA256, ${PBKDF2_ITERATIONS.toLocaleString("en")} iterations, AES-256-CBC).` },
  args,
  async run({ rawArgs, args: parsed }) {
    rejectUnknownArgs(rawArgs, args);
    const { caKey, pem } = readKey(parsed.path);
    if (isEncryptedKeyPem(pem)) throw new DepotError("E_BAD_ARGUMENT", `${caKey} is already encrypted`);
    await loadSigningKey(pem, caKey); // a key depot can sign with, before anything changes
    const passphrase = await readPassphrase(parsed, { confirm: true, what: "new CA key passphrase" });
    replaceCaKeyFile(caKey, await encryptPrivateKey(pem, passphrase));
    console.log(`Encrypted ${caKey}; commands that sign now need its passphrase (--passphrase-file, --passphrase-env, or a terminal)`);
  },
});

const decrypt = defineCommand({
  meta: { name: "decrypt", description: "Store the depot's CA key without encryption (PKCS#8), after asking for its passphrase." },
  args,
  async run({ rawArgs, args: parsed }) {
    rejectUnknownArgs(rawArgs, args);
    const { caKey, pem } = readKey(parsed.path);
    if (!isEncryptedKeyPem(pem)) throw new DepotError("E_BAD_ARGUMENT", `${caKey} is not encrypted`);
    const plain = await decryptPrivateKey(pem, await readPassphrase(parsed), caKey);
    createPrivateKey(plain); // decryptPrivateKey has checked it already; cheap to be sure before replacing
    replaceCaKeyFile(caKey, plain);
    console.log(`Decrypted ${caKey}; it is protected by its file mode (0400) only`);
  },
});

export default defineCommand({
  meta: { name: "key", description: "Encrypt or decrypt a depot's CA key in place: depot key encrypt PATH, depot key decrypt PATH." },
  subCommands: { encrypt, decrypt },
});
