/**
 * @module
 * SSH public keys and signatures: the CA's keys (Ed25519, ECDSA P-256 and
 * P-384, as node:crypto KeyObjects) in SSH's blob form, signatures in SSH's
 * form, and the public keys clients send (`ssh-ed25519 AAAA... comment`).
 */
import { createHash, sign, type KeyObject } from "node:crypto";
import { SshFormatError, SshReader, SshWriter } from "./wire.ts";

/** The CA key types depot makes: OpenSSH's own names. */
export const SSH_CA_KEY_TYPES = ["ed25519", "ecdsa-p256", "ecdsa-p384"] as const;
export type SshCaKeyType = (typeof SSH_CA_KEY_TYPES)[number];

/** Public key types depot will certify (RSA too: many users still have one). */
const CERTIFIABLE = new Set(["ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521", "ssh-rsa"]);

const CURVES: Record<string, { name: string; hash: string }> = {
  "P-256": { name: "nistp256", hash: "sha256" },
  "P-384": { name: "nistp384", hash: "sha384" },
};

const fromBase64Url = (s: string) => new Uint8Array(Buffer.from(s, "base64url"));

/** A public key's SSH blob (its type name, then its fields). */
export function sshPublicKeyBlob(key: KeyObject): Uint8Array {
  const jwk = key.export({ format: "jwk" });
  if (jwk.kty === "OKP" && jwk.crv === "Ed25519") return new SshWriter().string("ssh-ed25519").string(fromBase64Url(jwk.x!)).bytes();
  const curve = jwk.kty === "EC" ? CURVES[jwk.crv!] : undefined;
  if (curve) {
    const point = new Uint8Array([4, ...fromBase64Url(jwk.x!), ...fromBase64Url(jwk.y!)]);
    const type = `ecdsa-sha2-${curve.name}`;
    return new SshWriter().string(type).string(curve.name).string(point).bytes();
  }
  throw new SshFormatError(`an SSH CA key must be Ed25519, ECDSA P-256 or P-384, not ${jwk.kty} ${jwk.crv ?? ""}`.trim());
}

/** The type name a blob starts with. */
export function sshKeyType(blob: Uint8Array): string {
  return new SshReader(blob).text();
}

/** Signs `data` with the CA key, in SSH's signature form (type name, then the signature). */
export function sshSign(privateKey: KeyObject, data: Uint8Array): Uint8Array {
  if (privateKey.asymmetricKeyType === "ed25519") {
    return new SshWriter().string("ssh-ed25519").string(new Uint8Array(sign(null, data, privateKey))).bytes();
  }
  const curve = CURVES[privateKey.asymmetricKeyDetails?.namedCurve === "prime256v1" ? "P-256" : privateKey.asymmetricKeyDetails?.namedCurve === "secp384r1" ? "P-384" : ""];
  if (!curve) throw new SshFormatError("an SSH CA key must be Ed25519, ECDSA P-256 or P-384");
  const rs = new Uint8Array(sign(curve.hash, data, { key: privateKey, dsaEncoding: "ieee-p1363" }));
  const half = rs.length / 2;
  const inner = new SshWriter().mpint(rs.subarray(0, half)).mpint(rs.subarray(half)).bytes();
  return new SshWriter().string(`ecdsa-sha2-${curve.name}`).string(inner).bytes();
}

/** `SHA256:...` as ssh-keygen -l prints it. */
export function sshFingerprint(blob: Uint8Array): string {
  return `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;
}

/** One line as in authorized_keys or a .pub file. */
export function formatSshPublicKey(blob: Uint8Array, comment?: string): string {
  const line = `${sshKeyType(blob)} ${Buffer.from(blob).toString("base64")}`;
  return comment ? `${line} ${comment}` : line;
}

export interface SshPublicKey {
  type: string;
  blob: Uint8Array;
  comment?: string;
}

/**
 * Reads a public key line (`TYPE BASE64 [COMMENT]`, as in id_ed25519.pub).
 * Refuses certificates, unknown types, and a blob whose inner type differs
 * from the line's.
 */
export function parseSshPublicKey(text: string): SshPublicKey {
  const line = text.trim();
  if (line.includes("\n")) throw new SshFormatError("expected one public key line");
  const [type, base64, ...comment] = line.split(/\s+/);
  if (!type || !base64) throw new SshFormatError("expected a public key line: TYPE BASE64 [COMMENT]");
  if (!CERTIFIABLE.has(type)) throw new SshFormatError(`unsupported SSH key type ${JSON.stringify(type.slice(0, 64))}`);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(base64)) throw new SshFormatError("the public key is not base64");
  const blob = new Uint8Array(Buffer.from(base64, "base64"));
  const reader = new SshReader(blob);
  let inner: string;
  try {
    inner = reader.text();
    checkKeyFields(type, reader);
  } catch (error) {
    throw new SshFormatError(`the ${type} public key is malformed`);
  }
  if (inner !== type) throw new SshFormatError(`the key says ${type} but holds ${inner.slice(0, 64)}`);
  return { type, blob, comment: comment.length ? comment.join(" ") : undefined };
}

/** Walks a key's fields so a truncated or padded blob is refused. */
function checkKeyFields(type: string, reader: SshReader): void {
  if (type === "ssh-ed25519") {
    if (reader.string().length !== 32) throw new SshFormatError("bad key");
  } else if (type === "ssh-rsa") {
    reader.string();
    if (reader.string().length < 256) throw new SshFormatError("RSA key under 2048 bits");
  } else {
    const curve = reader.text();
    if (`ecdsa-sha2-${curve}` !== type) throw new SshFormatError("curve mismatch");
    const point = reader.string();
    if (point[0] !== 4) throw new SshFormatError("bad point");
  }
  if (!reader.done) throw new SshFormatError("trailing bytes");
}
