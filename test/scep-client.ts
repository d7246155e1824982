/**
 * @module
 * A SCEP client's side for the tests, made the way certmonger's daemon
 * makes it (scepgen-o.c), so that certmonger's own `scep-submit` can carry
 * it: openssl makes the key, the CSR (with its challengePassword), the
 * self-signed signer certificate and the pkcsPKIEnvelope (`openssl cms
 * -encrypt` to the RA); only the outer SignedData with SCEP's signed
 * attributes is written here, since openssl's command line cannot add
 * attributes of its own. `openssl cms -verify` checks every message built
 * here (`checkedByOpenssl`), so the server is never tested against a
 * message only this file believes in.
 */
import { createHash, createPrivateKey, randomBytes, sign } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { oid, string, TAG, tlv } from "../src/ca/der.ts";
import { run } from "./helpers.ts";

export const SCEP_SUBMIT = "/usr/lib/certmonger/scep-submit";

const OIDS = {
  data: "1.2.840.113549.1.7.1",
  signedData: "1.2.840.113549.1.7.2",
  contentType: "1.2.840.113549.1.9.3",
  messageDigest: "1.2.840.113549.1.9.4",
  messageType: "2.16.840.1.113733.1.9.2",
  senderNonce: "2.16.840.1.113733.1.9.5",
  transactionId: "2.16.840.1.113733.1.9.7",
  sha256: "2.16.840.1.101.3.4.2.1",
  rsaEncryption: "1.2.840.113549.1.1.1",
};

/** A shell command in `dir`; throws with its stderr when it fails. */
export function sh(dir: string, script: string, env: Record<string, string> = {}): string {
  const result = run(["sh", "-ec", script], { cwd: dir, env });
  if (result.exitCode !== 0) throw new Error(`sh failed (${result.exitCode}): ${script}\n${result.stderr}${result.stdout}`);
  return result.stdout;
}

/** An RSA key, a CSR for `subject` (with `challenge` as its challengePassword when given) and the self-signed signer certificate of the key, as `name.*` files in `dir`. */
export function makeRequest(dir: string, name: string, subject: string, challenge?: string, options: { key?: string } = {}): void {
  // The subject in the config, not -subj: given -subj, openssl req leaves out the [attrs] section.
  const names = subject.split("/").filter(Boolean).map((part) => part.replace("=", " = "));
  const config = ["[req]", "distinguished_name = dn", "attributes = attrs", "prompt = no", "[dn]", ...names, "[attrs]", ...(challenge ? [`challengePassword = ${challenge}`] : [])].join("\n");
  writeFileSync(join(dir, `${name}.cnf`), `${config}\n`);
  if (!options.key) sh(dir, `openssl genrsa -out ${name}.key 2048 2>/dev/null`);
  else sh(dir, `cp ${options.key} ${name}.key`);
  sh(dir, `openssl req -new -config ${name}.cnf -key ${name}.key -outform DER -out ${name}.csr.der`);
  sh(dir, `openssl req -x509 -new -key ${name}.key -subj '${subject}' -days 1 -out ${name}.self.crt`);
}

/** `content` encrypted to the RA with openssl (AES-256-CBC unless told), as SCEP's pkcsPKIEnvelope. */
export function envelopeFor(dir: string, contentFile: string, raCertificate: string, cipher = "-aes256"): Uint8Array {
  sh(dir, `openssl cms -encrypt -binary ${cipher} -in ${contentFile} -outform DER -out ${contentFile}.env ${raCertificate}`);
  return new Uint8Array(readFileSync(join(dir, `${contentFile}.env`)));
}

export interface MessageFields {
  messageType: "17" | "19" | "20";
  transactionId: string;
  senderNonce?: Uint8Array;
  envelope: Uint8Array;
  /** The signer: its certificate (PEM file) and key (PEM file) in `dir`. */
  certificate: string;
  key: string;
}

/** The pkiMessage (DER): SignedData by the signer over the envelope, SCEP's attributes signed. */
export function pkiMessage(dir: string, fields: MessageFields): { der: Uint8Array; senderNonce: Uint8Array } {
  const senderNonce = fields.senderNonce ?? randomBytes(16);
  const certificateDer = derOfPem(readFileSync(join(dir, fields.certificate), "utf8"));
  const attribute = (type: string, value: Uint8Array) => tlv(TAG.SEQUENCE, oid(type), tlv(TAG.SET, value));
  const attributes = [
    attribute(OIDS.contentType, oid(OIDS.data)),
    attribute(OIDS.messageDigest, tlv(TAG.OCTET_STRING, createHash("sha256").update(fields.envelope).digest())),
    attribute(OIDS.messageType, string(TAG.PRINTABLE_STRING, fields.messageType)),
    attribute(OIDS.transactionId, string(TAG.PRINTABLE_STRING, fields.transactionId)),
    attribute(OIDS.senderNonce, tlv(TAG.OCTET_STRING, senderNonce)),
  ].sort(Buffer.compare);
  const signature = sign("sha256", tlv(TAG.SET, ...attributes), createPrivateKey(readFileSync(join(dir, fields.key))));
  const signerInfo = tlv(
    TAG.SEQUENCE,
    tlv(TAG.INTEGER, new Uint8Array([1])),
    issuerAndSerial(dir, fields.certificate),
    tlv(TAG.SEQUENCE, oid(OIDS.sha256)),
    tlv(TAG.CONTEXT_0, ...attributes),
    tlv(TAG.SEQUENCE, oid(OIDS.rsaEncryption), tlv(0x05)),
    tlv(TAG.OCTET_STRING, signature),
  );
  const signedData = tlv(
    TAG.SEQUENCE,
    tlv(TAG.INTEGER, new Uint8Array([1])),
    tlv(TAG.SET, tlv(TAG.SEQUENCE, oid(OIDS.sha256))),
    tlv(TAG.SEQUENCE, oid(OIDS.data), tlv(TAG.CONTEXT_0, tlv(TAG.OCTET_STRING, fields.envelope))),
    tlv(TAG.CONTEXT_0, certificateDer),
    tlv(TAG.SET, signerInfo),
  );
  return { der: tlv(TAG.SEQUENCE, oid(OIDS.signedData), tlv(TAG.CONTEXT_0, signedData)), senderNonce };
}

/** openssl's own check of a message built here: the signature over the attributes and the content (the signer's certificate not chained). */
export function checkedByOpenssl(dir: string, name: string, der: Uint8Array): void {
  writeFileSync(join(dir, `${name}.p7m`), der);
  sh(dir, `openssl cms -verify -noverify -binary -inform DER -in ${name}.p7m -out /dev/null 2>${name}.verify; grep -q 'Verification successful' ${name}.verify`);
}

/** The message as scep-submit reads it from a file or CERTMONGER_PKCSREQ: base64. */
export function base64Of(der: Uint8Array): string {
  return Buffer.from(der).toString("base64");
}

/** A certificate's IssuerAndSerialNumber, from openssl's reading of it. */
function issuerAndSerial(dir: string, certificate: string): Uint8Array {
  const serialHex = sh(dir, `openssl x509 -in ${certificate} -noout -serial`).trim().replace(/^serial=/, "");
  const tbs = tbsFields(derOfPem(readFileSync(join(dir, certificate), "utf8")));
  return tlv(TAG.SEQUENCE, tbs.issuer, tlv(TAG.INTEGER, minimalInteger(serialHex)));
}

function minimalInteger(hex: string): Uint8Array {
  let bytes = Buffer.from(hex.length % 2 ? `0${hex}` : hex, "hex");
  while (bytes.length > 1 && bytes[0] === 0 && !(bytes[1]! & 0x80)) bytes = bytes.subarray(1);
  return bytes[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), bytes]) : bytes;
}

/** The issuer Name of a certificate (DER), walked by hand: SEQUENCE { tbs SEQUENCE { [0] version, serial, algorithm, issuer, ... } }. */
function tbsFields(certificate: Uint8Array): { issuer: Uint8Array } {
  const element = (offset: number) => {
    let length = certificate[offset + 1]!;
    let start = offset + 2;
    if (length & 0x80) {
      const count = length & 0x7f;
      length = 0;
      for (let i = 0; i < count; i++) length = length * 256 + certificate[start + i]!;
      start += count;
    }
    return { start: offset, contentStart: start, end: start + length };
  };
  const tbs = element(element(0).contentStart);
  let at = tbs.contentStart;
  if (certificate[at] === 0xa0) at = element(at).end;
  at = element(at).end; // serial
  at = element(at).end; // signature algorithm
  const issuer = element(at);
  return { issuer: certificate.subarray(issuer.start, issuer.end) };
}

export function derOfPem(pem: string): Uint8Array {
  const body = /-----BEGIN [A-Z0-9 ]+-----([\s\S]*?)-----END/.exec(pem)?.[1];
  if (!body) throw new Error("no PEM block");
  return new Uint8Array(Buffer.from(body.replace(/\s+/g, ""), "base64"));
}
