/**
 * @module
 * OpenSSH certificates (PROTOCOL.certkeys): user and host certificates signed
 * by the depot's SSH CA, with principals, validity, critical options and
 * extensions; and reading one back.
 */
import { randomBytes, type KeyObject } from "node:crypto";
import { sshPublicKeyBlob, sshSign, type SshPublicKey } from "./keys.ts";
import { SshFormatError, SshReader, SshWriter } from "./wire.ts";

export type SshCertificateKind = "user" | "host";
const KIND_CODE: Record<SshCertificateKind, number> = { user: 1, host: 2 };

/** What OpenSSH's own `ssh-keygen -s` grants a user certificate by default. */
export const DEFAULT_USER_EXTENSIONS = [
  "permit-X11-forwarding",
  "permit-agent-forwarding",
  "permit-port-forwarding",
  "permit-pty",
  "permit-user-rc",
] as const;

/** The critical options OpenSSH knows; an unknown one makes sshd refuse the certificate. */
export interface SshCriticalOptions {
  /** The only command the certificate may run. */
  forceCommand?: string;
  /** Client addresses (CIDR) the certificate is good from. */
  sourceAddress?: string[];
}

export interface SshCertificateRequest {
  publicKey: SshPublicKey;
  kind: SshCertificateKind;
  /** Unique per CA: what the KRL revokes. */
  serial: bigint;
  /** Logged by sshd on every use. */
  keyId: string;
  /** User names (user) or host names (host); none would mean "any", which depot never issues. */
  principals: string[];
  validAfter: Date;
  validBefore: Date;
  criticalOptions?: SshCriticalOptions;
  /** Extension names (flags); user certificates only. */
  extensions?: readonly string[];
}

export interface SshCertificate {
  /** The certificate's blob, what a `-cert.pub` file holds in base64. */
  blob: Uint8Array;
  /** One line as `ssh-keygen -s` writes `-cert.pub`. */
  line: string;
}

const seconds = (d: Date) => BigInt(Math.floor(d.getTime() / 1000));

/** Signs a certificate for `request.publicKey` with the SSH CA's private key. */
export function signSshCertificate(request: SshCertificateRequest, caPrivateKey: KeyObject, caPublicKey: KeyObject): SshCertificate {
  if (request.principals.length === 0) throw new SshFormatError("an SSH certificate needs at least one principal");
  if (request.validBefore <= request.validAfter) throw new SshFormatError("an SSH certificate must end after it starts");
  if (request.kind === "host" && (request.criticalOptions?.forceCommand || request.criticalOptions?.sourceAddress)) {
    throw new SshFormatError("critical options are for user certificates");
  }
  const keyType = request.publicKey.type;
  const certType = `${keyType}-cert-v01@openssh.com`;
  const keyFields = new SshReader(request.publicKey.blob);
  keyFields.string(); // the type name, replaced by the certificate's
  const principals = new SshWriter();
  for (const p of request.principals) principals.string(p);
  const body = new SshWriter()
    .string(certType)
    .string(new Uint8Array(randomBytes(32)))
    .raw(keyFields.rest())
    .uint64(request.serial)
    .uint32(KIND_CODE[request.kind])
    .string(request.keyId)
    .string(principals.bytes())
    .uint64(seconds(request.validAfter))
    .uint64(seconds(request.validBefore))
    .string(encodeCriticalOptions(request.criticalOptions))
    .string(encodeExtensions(request.kind === "user" ? (request.extensions ?? DEFAULT_USER_EXTENSIONS) : []))
    .string(new Uint8Array(0))
    .string(sshPublicKeyBlob(caPublicKey))
    .bytes();
  const blob = new SshWriter().raw(body).string(sshSign(caPrivateKey, body)).bytes();
  return { blob, line: `${certType} ${Buffer.from(blob).toString("base64")} ${request.keyId}` };
}

/** Options as (name, string-wrapped value) pairs, in name order as the format requires. */
function encodeCriticalOptions(options: SshCriticalOptions = {}): Uint8Array {
  const pairs: [string, string][] = [];
  if (options.forceCommand !== undefined) pairs.push(["force-command", options.forceCommand]);
  if (options.sourceAddress?.length) pairs.push(["source-address", options.sourceAddress.join(",")]);
  pairs.sort(([a], [b]) => (a < b ? -1 : 1));
  const w = new SshWriter();
  for (const [name, value] of pairs) w.string(name).string(new SshWriter().string(value).bytes());
  return w.bytes();
}

/** Flag extensions: each name with empty data, sorted and without repeats. */
function encodeExtensions(names: readonly string[]): Uint8Array {
  const w = new SshWriter();
  for (const name of [...new Set(names)].sort()) w.string(name).string(new Uint8Array(0));
  return w.bytes();
}

/** A certificate's fields as read back: what was signed, options and extensions by their names. */
export interface ParsedSshCertificate extends Omit<SshCertificateRequest, "publicKey" | "criticalOptions" | "extensions"> {
  certType: string;
  criticalOptions: Record<string, string>;
  extensions: string[];
  /** The signing CA's public key blob. */
  signatureKey: Uint8Array;
}

/** Reads a certificate's fields (the signature is not checked: sshd and ssh-keygen do that). */
export function readSshCertificate(lineOrBlob: string | Uint8Array): ParsedSshCertificate {
  const blob = typeof lineOrBlob === "string" ? new Uint8Array(Buffer.from(lineOrBlob.trim().split(/\s+/)[1] ?? "", "base64")) : lineOrBlob;
  const r = new SshReader(blob);
  const certType = r.text();
  if (!certType.endsWith("-cert-v01@openssh.com")) throw new SshFormatError("not an OpenSSH certificate");
  r.string(); // nonce
  skipKeyFields(certType.slice(0, -"-cert-v01@openssh.com".length), r);
  const serial = r.uint64();
  const kindCode = r.uint32();
  const kind = kindCode === 1 ? "user" : kindCode === 2 ? "host" : undefined;
  if (!kind) throw new SshFormatError(`unknown certificate type ${kindCode}`);
  const keyId = r.text();
  const principals: string[] = [];
  const pr = new SshReader(r.string());
  while (!pr.done) principals.push(pr.text());
  const validAfter = fromSeconds(r.uint64());
  const validBefore = fromSeconds(r.uint64());
  const criticalOptions: Record<string, string> = {};
  const co = new SshReader(r.string());
  while (!co.done) {
    const name = co.text();
    const data = co.string();
    criticalOptions[name] = data.length ? new SshReader(data).text() : "";
  }
  const extensions: string[] = [];
  const ex = new SshReader(r.string());
  while (!ex.done) {
    extensions.push(ex.text());
    ex.string();
  }
  r.string(); // reserved
  const signatureKey = r.string();
  r.string(); // signature
  if (!r.done) throw new SshFormatError("trailing bytes after the certificate");
  return { certType, kind, serial, keyId, principals, validAfter, validBefore, criticalOptions, extensions, signatureKey };
}

function skipKeyFields(keyType: string, r: SshReader): void {
  if (keyType === "ssh-ed25519") r.string();
  else if (keyType === "ssh-rsa") (r.string(), r.string());
  else if (keyType.startsWith("ecdsa-sha2-")) (r.string(), r.string());
  else throw new SshFormatError(`unsupported certificate key type ${keyType}`);
}

/** "Forever" (2^64-1) and other times past JavaScript's dates read as the latest date there is. */
function fromSeconds(value: bigint): Date {
  return value > 8_640_000_000_000n ? new Date(8.64e15) : new Date(Number(value) * 1000);
}
