/**
 * @module
 * Publishing ssh/revoked.krl from the ledger, as crl.pem is published: the
 * KRL's version is the ledger's SSH revocation count when it was made, so
 * any process (the CLI after a revoke, a server's upkeep every 400 ms, every
 * host of a PostgreSQL ledger for its own file) sees from the file alone
 * whether it is behind, and republishes.
 */
import { readFileSync } from "node:fs";
import { DepotError, ioError } from "../../errors.ts";
import { writeFileAtomic } from "../files.ts";
import { encodeKrl } from "./krl.ts";
import { SSH_CA_KINDS, sshLayout } from "./ssh-ca.ts";
import type { SshStore } from "./store.ts";
import { SshReader } from "./wire.ts";

/** The version a KRL file holds (undefined: no file, or not a KRL). */
export function publishedKrlVersion(path: string): bigint | undefined {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch {
    return undefined;
  }
  try {
    const r = new SshReader(bytes);
    if (r.uint64() !== 0x5353484b524c0a00n || r.uint32() !== 1) return undefined;
    return r.uint64();
  } catch {
    return undefined;
  }
}

/** The CAs' public key blobs, from their .pub files (no private key is needed to publish). */
function caBlobs(depotRoot: string) {
  const layout = sshLayout(depotRoot);
  return SSH_CA_KINDS.map((kind) => {
    const path = layout.publicKey(kind);
    let line: string;
    try {
      line = readFileSync(path, "utf8");
    } catch (error) {
      if ((error as { code?: string }).code === "ENOENT") throw new DepotError("E_NOT_FOUND", "this depot has no SSH CA: make one with depot ssh init");
      throw ioError("read", path, error);
    }
    return { kind, blob: new Uint8Array(Buffer.from(line.trim().split(/\s+/)[1] ?? "", "base64")) };
  });
}

/** Writes the KRL now; returns its version and how many serials it lists. */
export async function publishKrl(depotRoot: string, store: SshStore, now = new Date()): Promise<{ version: bigint; revoked: number; path: string }> {
  const { count, serials } = await store.revocations(now);
  const revoked = caBlobs(depotRoot).map(({ kind, blob }) => ({ caKey: blob, serials: serials[kind] }));
  const path = sshLayout(depotRoot).krl;
  writeFileAtomic(path, encodeKrl({ version: BigInt(count), generatedAt: now, comment: "depot", revoked }), 0o644);
  return { version: BigInt(count), revoked: serials.user.length + serials.host.length, path };
}

/** Publishes when the file is missing or behind the ledger; otherwise does nothing (cheap: one counter read and a small file read). */
export async function refreshKrl(depotRoot: string, store: SshStore, now = new Date()): Promise<{ version: bigint; revoked: number } | undefined> {
  const published = publishedKrlVersion(sshLayout(depotRoot).krl);
  if (published !== undefined) {
    const { count } = await store.revocations(now);
    if (BigInt(count) <= published) return undefined;
  }
  return publishKrl(depotRoot, store, now);
}
