/**
 * @module
 * The CA key's passphrase on the command line: the two options every
 * command that signs takes, and opening a depot with them. The passphrase is
 * asked for only when the key is encrypted, and typed only on a terminal
 * (readSecret); never taken from argv.
 */
import { caKeyIsEncrypted } from "../ca/ca-key.ts";
import type { Depot, OpenOptions } from "../ca/depot.ts";
import { openDepot } from "../store/open-depot.ts";
import { depotLayout } from "../ca/layout.ts";
import { resolve } from "node:path";
import { readSecret } from "./_secret.ts";
import { lastOf } from "./_strict.ts";

export const PASSPHRASE_WHAT = "CA key passphrase";

export { passphraseArgs } from "./_passphrase-args.ts";

/** The passphrase from --passphrase-file, --passphrase-env, or a prompt on a terminal (twice when `confirm`). */
export async function readPassphrase(parsed: Record<string, unknown>, options: { confirm?: boolean; what?: string } = {}): Promise<string> {
  const file = lastOf(parsed["passphrase-file"]);
  const env = lastOf(parsed["passphrase-env"]);
  const secret = await readSecret({
    what: options.what ?? PASSPHRASE_WHAT,
    ...(file !== undefined ? { file } : {}),
    ...(env !== undefined ? { env } : {}),
    ...(options.confirm ? { confirm: true } : {}),
  });
  // Read once; the processes this one starts (a server's workers, a --daemon copy) must not inherit it.
  if (env !== undefined && file === undefined) delete process.env[env];
  return secret;
}

/** Opens a depot to sign with: the passphrase is read only if its CA key is encrypted. */
export async function openToSign(path: string, parsed: Record<string, unknown>, options: OpenOptions = {}): Promise<Depot> {
  const caKey = depotLayout(resolve(path)).caKey;
  if (!caKeyIsEncrypted(caKey)) return openDepot(path, options);
  return openDepot(path, { ...options, passphrase: await readPassphrase(parsed) });
}
