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
import type { SshCaKeys } from "../ca/ssh/ssh-ca.ts";
import type { HandedKeys } from "../server/key-handoff.ts";

/**
 * The decrypted key of the CA that signs (the intermediate in two tiers) and
 * of the SSH CAs, or undefined when the CA key is not encrypted.
 */
export async function unlockCaKeyToServe(depotPath: string, parsed: Record<string, unknown>): Promise<HandedKeys | undefined> {
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
  const passphrase = await readPassphrase(parsed);
  const pem = await decryptPrivateKey(head, passphrase, caKey);
  const intermediate = join(root, "certificates", "intermediate.crt");
  const certificate = existsSync(intermediate) ? intermediate : join(root, "certificates", "ca.crt");
  try {
    const fromKey = createPublicKey(pem).export({ type: "spki", format: "der" });
    const fromCertificate = new X509Certificate(readFileSync(certificate)).publicKey.export({ type: "spki", format: "der" });
    if (!fromKey.equals(fromCertificate)) throw new Error("mismatch");
  } catch {
    throw new DepotError("E_NOT_A_DEPOT", `${certificate} does not match the CA key ${caKey}`);
  }
  return { ca: pem, ...(await unlockSshCaKeys(root, passphrase)), ...(await unlockScepRaKey(root, passphrase)) };
}

/** The SCEP RA's key, decrypted with the same passphrase, when the depot has it encrypted. */
async function unlockScepRaKey(root: string, passphrase: string): Promise<{ scepRa?: string }> {
  const { loadScepRa, scepRaIsEncrypted } = await import("../ca/scep/ra.ts");
  if (!scepRaIsEncrypted(root)) return {};
  const ra = await loadScepRa(root, { passphrase });
  return { scepRa: ra.privateKey.export({ type: "pkcs8", format: "pem" }) as string };
}

/** The SSH CA keys, decrypted with the same passphrase, when the depot has them encrypted. */
async function unlockSshCaKeys(root: string, passphrase: string): Promise<{ ssh?: SshCaKeys }> {
  const { SSH_CA_KINDS, loadSshCa, sshCaIsEncrypted } = await import("../ca/ssh/ssh-ca.ts");
  if (!sshCaIsEncrypted(root)) return {};
  const ssh: SshCaKeys = {};
  for (const kind of SSH_CA_KINDS) ssh[kind] = (await loadSshCa(root, kind, { passphrase })).privateKey.export({ type: "pkcs8", format: "pem" }) as string;
  return { ssh };
}
