/**
 * @module
 * The depot's two SSH CAs: one signs user certificates, one host
 * certificates (so a leaked host key cannot mint user logins). Their keys sit
 * beside the X.509 CA key in private/ (0400), encrypted with the CA key's
 * passphrase when that key is encrypted; their public lines, what sshd and
 * known_hosts trust, in ssh/.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from "node:crypto";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { DepotError, ioError } from "../../errors.ts";
import { isEncryptedKeyPem } from "../key-pem.ts";
import { writeFileAtomic } from "../files.ts";
import type { SshCertificateKind } from "./certificate.ts";
import { formatSshPublicKey, SSH_CA_KEY_TYPES, type SshCaKeyType, sshPublicKeyBlob } from "./keys.ts";

/** Where a depot keeps its SSH CAs and their revocation list. */
export function sshLayout(depotRoot: string) {
  const folder = join(depotRoot, "ssh");
  return {
    folder,
    key: (kind: SshCertificateKind) => join(depotRoot, "private", `ssh_${kind}_ca.key`),
    publicKey: (kind: SshCertificateKind) => join(folder, `${kind}_ca.pub`),
    /** OpenSSH's binary KRL, for sshd's RevokedKeys. */
    krl: join(folder, "revoked.krl"),
  };
}

export interface SshCa {
  kind: SshCertificateKind;
  privateKey: KeyObject;
  publicKey: KeyObject;
  /** The CA's public key blob: what certificates name as their signer and the KRL as its CA. */
  blob: Uint8Array;
  /** `TYPE BASE64 COMMENT`, for TrustedUserCAKeys and @cert-authority. */
  line: string;
}

export const SSH_CA_KINDS: readonly SshCertificateKind[] = ["user", "host"];

export function hasSshCa(depotRoot: string): boolean {
  return existsSync(sshLayout(depotRoot).key("user"));
}

function makeKey(type: SshCaKeyType): KeyObject {
  if (type === "ed25519") return generateKeyPairSync("ed25519").privateKey;
  return generateKeyPairSync("ec", { namedCurve: type === "ecdsa-p256" ? "prime256v1" : "secp384r1" }).privateKey;
}

export function parseSshCaKeyType(text: string): SshCaKeyType {
  if ((SSH_CA_KEY_TYPES as readonly string[]).includes(text)) return text as SshCaKeyType;
  throw new DepotError("E_BAD_ARGUMENT", `unknown SSH CA key type '${text}' (choose ${SSH_CA_KEY_TYPES.join(", ")})`);
}

/**
 * Makes the user and host CA keys of a depot that has none. With
 * `passphrase` (the depot's CA key is encrypted) they are encrypted with it.
 */
export async function createSshCas(depotRoot: string, options: { keyType: SshCaKeyType; passphrase?: string }): Promise<SshCa[]> {
  const layout = sshLayout(depotRoot);
  if (SSH_CA_KINDS.some((kind) => existsSync(layout.key(kind)))) {
    throw new DepotError("E_DEPOT_EXISTS", `${depotRoot} already has SSH CAs (${layout.key("user")})`);
  }
  try {
    mkdirSync(layout.folder, { mode: 0o755, recursive: true });
  } catch (error) {
    throw ioError("create", layout.folder, error);
  }
  const cas: SshCa[] = [];
  for (const kind of SSH_CA_KINDS) {
    const privateKey = makeKey(options.keyType);
    const pem = privateKey.export({ type: "pkcs8", format: "pem" }) as string;
    const stored = options.passphrase === undefined ? pem : await (await import("../key-encryption.ts")).encryptPrivateKey(pem, options.passphrase);
    writeFileAtomic(layout.key(kind), stored, 0o400);
    const ca = sshCaFrom(kind, privateKey);
    writeFileAtomic(layout.publicKey(kind), `${ca.line}\n`, 0o644);
    cas.push(ca);
  }
  return cas;
}

/** Whether the SSH CA keys are encrypted (so a command knows to ask for the passphrase). */
export function sshCaIsEncrypted(depotRoot: string): boolean {
  try {
    return isEncryptedKeyPem(readFileSync(sshLayout(depotRoot).key("user"), "utf8"));
  } catch {
    return false;
  }
}

/** Loads one SSH CA; `passphrase` when the depot's keys are encrypted. */
export async function loadSshCa(depotRoot: string, kind: SshCertificateKind, options: { passphrase?: string } = {}): Promise<SshCa> {
  const path = sshLayout(depotRoot).key(kind);
  let pem: string;
  try {
    pem = readFileSync(path, "utf8");
  } catch (error) {
    if ((error as { code?: string }).code === "ENOENT") throw new DepotError("E_NOT_FOUND", `this depot has no SSH CA: make one with depot ssh init`);
    throw ioError("read", path, error);
  }
  if (isEncryptedKeyPem(pem)) {
    if (options.passphrase === undefined) throw new DepotError("E_BAD_PASSPHRASE", `the SSH ${kind} CA key is encrypted: give the depot's passphrase`);
    pem = await (await import("../key-encryption.ts")).decryptPrivateKey(pem, options.passphrase, path);
  }
  return sshCaFrom(kind, createPrivateKey(pem));
}

/** The SSH CA keys a supervisor decrypted and handed to a worker, PKCS#8 PEM by kind. */
export type SshCaKeys = Partial<Record<SshCertificateKind, string>>;

/**
 * An SSH CA in a server process: from the key the supervisor handed over when
 * the depot's keys are encrypted, else from its file. A 404-like error when
 * the depot has no SSH CA.
 */
export async function loadSshCaFor(depotRoot: string, kind: SshCertificateKind, handedOver?: SshCaKeys): Promise<SshCa> {
  const pem = handedOver?.[kind];
  if (pem !== undefined) return sshCaFrom(kind, createPrivateKey(pem));
  if (sshCaIsEncrypted(depotRoot)) throw new DepotError("E_SERVER", "the SSH CA keys are encrypted and this server was started before they existed: restart it (HUP) to give them to its workers");
  return loadSshCa(depotRoot, kind);
}

function sshCaFrom(kind: SshCertificateKind, privateKey: KeyObject): SshCa {
  const publicKey = createPublicKey(privateKey);
  const blob = sshPublicKeyBlob(publicKey);
  const comment = `depot-ssh-${kind}-ca`;
  return { kind, privateKey, publicKey, blob, line: formatSshPublicKey(blob, comment) };
}
