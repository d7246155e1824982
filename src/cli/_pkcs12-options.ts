/**
 * @module
 * The options that ask for a PKCS#12 password, shared by `generate --p12`
 * and `p12`: a prompt, a file or a named environment variable; never the
 * command line itself.
 */
import type { ArgsDef } from "citty";
import type { Pkcs12Encryption } from "../ca/pkcs12.ts";
import { readSecret } from "./_secret.ts";
import { lastOf } from "./_strict.ts";

export const pkcs12PasswordArgs = {
  "password-file": { type: "string", valueHint: "file", description: "Read the PKCS#12 password from the first line of FILE (else: asked on the terminal)" },
  "password-env": { type: "string", valueHint: "name", description: "Read the PKCS#12 password from the environment variable NAME" },
  legacy: { type: "boolean", description: "Encrypt with 3DES and a SHA-1 MAC for old importers (macOS before 10.15, Windows before 10 1709); default: AES-256-CBC with PBKDF2-HMAC-SHA256, as OpenSSL 3" },
} as const satisfies ArgsDef;

export async function pkcs12Password(args: Record<string, unknown>): Promise<{ password: string; encryption: Pkcs12Encryption }> {
  const file = lastOf(args["password-file"]);
  const env = lastOf(args["password-env"]);
  const password = await readSecret({ what: "PKCS#12 password", ...(file !== undefined ? { file } : {}), ...(env !== undefined ? { env } : {}), confirm: true });
  if (!/^[\x20-\x7e]*$/.test(password)) process.stderr.write("depot: warning: Java's keytool cannot open a PKCS#12 file whose password is not plain ASCII\n");
  return { password, encryption: args.legacy ? "legacy" : "modern" };
}
