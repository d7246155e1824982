/**
 * @module
 * OpenSSH key revocation lists (PROTOCOL.krl): the serials a CA revoked, in
 * the binary form sshd reads through `RevokedKeys` and `ssh-keygen -Q` checks.
 */
import { SshWriter } from "./wire.ts";

const KRL_MAGIC = 0x5353484b524c0a00n; // "SSHKRL\n\0"
const KRL_FORMAT_VERSION = 1;
const SECTION_CERTIFICATES = 1;
const CERT_SERIAL_LIST = 0x20;

export interface KrlContents {
  /** Grows with every KRL published, so a client can tell newer from older. */
  version: bigint;
  generatedAt: Date;
  comment?: string;
  /** Per CA public key blob, the serials it revoked. */
  revoked: { caKey: Uint8Array; serials: bigint[] }[];
}

/** Encodes a KRL revoking certificates by serial, per signing CA. */
export function encodeKrl(contents: KrlContents): Uint8Array {
  const krl = new SshWriter()
    .uint64(KRL_MAGIC)
    .uint32(KRL_FORMAT_VERSION)
    .uint64(contents.version)
    .uint64(BigInt(Math.floor(contents.generatedAt.getTime() / 1000)))
    .uint64(0n) // flags
    .string(new Uint8Array(0)) // reserved
    .string(contents.comment ?? "");
  for (const { caKey, serials } of contents.revoked) {
    // sshd refuses a serial list out of order; serial 0 is never issued.
    const sorted = [...new Set(serials)].filter((s) => s > 0n).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const list = new SshWriter();
    for (const serial of sorted) list.uint64(serial);
    const section = new SshWriter().string(caKey).string(new Uint8Array(0));
    if (sorted.length) section.byte(CERT_SERIAL_LIST).string(list.bytes());
    krl.byte(SECTION_CERTIFICATES).string(section.bytes());
  }
  return krl.bytes();
}
