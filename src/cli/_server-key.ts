/**
 * @module
 * `depot start` on a depot whose CA key is encrypted: the passphrase is
 * read once (file, named variable, or a terminal prompt) and the key
 * decrypted and checked against the CA certificate here, before anything
 * listens, so a wrong passphrase stops the start with one line. The
 * decrypted key then lives only in memory (server/key-handoff.ts). An
 * unencrypted depot loads nothing extra: the supervisor stays small.
 */
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";

/** The decrypted key of the CA that signs (the intermediate in two tiers), or undefined when the key is not encrypted. */
export async function unlockCaKeyToServe(depotPath: string, parsed: Record<string, unknown>): Promise<string | undefined> {
  const root = resolve(depotPath);
  const caKey = join(root, "private", "ca.key");
  let head: string;
  try {
    head = readFileSync(caKey, "utf8");
  } catch {
    return undefined; // the upkeep process reports an unreadable depot
  }
  if (!head.includes("-----BEGIN ENCRYPTED PRIVATE KEY-----")) return undefined;
  const [{ decryptPrivateKey }, { readPassphrase }, { DepotError }] = await Promise.all([import("../ca/key-encryption.ts"), import("./_passphrase.ts"), import("../errors.ts")]);
  const { createPublicKey, X509Certificate } = await import("node:crypto");
  const pem = await decryptPrivateKey(head, await readPassphrase(parsed), caKey);
  const intermediate = join(root, "certificates", "intermediate.crt");
  const certificate = existsSync(intermediate) ? intermediate : join(root, "certificates", "ca.crt");
  try {
    const fromKey = createPublicKey(pem).export({ type: "spki", format: "der" });
    const fromCertificate = new X509Certificate(readFileSync(certificate)).publicKey.export({ type: "spki", format: "der" });
    if (!fromKey.equals(fromCertificate)) throw new Error("mismatch");
  } catch {
    throw new DepotError("E_NOT_A_DEPOT", `${certificate} does not match the CA key ${caKey}`);
  }
  return pem;
}
