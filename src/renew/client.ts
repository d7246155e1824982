/**
 * @module
 * The client side of `POST /v1/renew` (docs/api.md): the proof (a compact
 * JWS signed by the certificate's key, the certificate in `x5c`), a
 * certificate request for a new key when one is wanted, the request over
 * HTTPS, and the answer checked (the certificate is for the key we hold)
 * before anything is written.
 */
import { createPrivateKey, createPublicKey, type KeyObject, randomBytes } from "node:crypto";
import { CompactSign } from "jose";
import { certificateDerFromPem, readCertificateDer } from "../ca/certificate-der.ts";
import { TAG, tlv } from "../ca/der.ts";
import { KEY_TYPES, type KeyType } from "../ca/key-types.ts";
import { describePublicKey, generateKeyPair, toPem } from "../ca/keys.ts";
import { DerSigner } from "../ca/signer.ts";
import { DepotError, messageOf } from "../errors.ts";

/** How long a proof is valid: the server allows 5 minutes; a minute is plenty for one request. */
const PROOF_SECONDS = 60;
const REQUEST_TIMEOUT_MS = 30_000;

export interface RenewalRequest {
  /** The API's base URL, e.g. https://ca.example.com:8443 (the path /v1/renew is added). */
  server: string;
  /** The certificate to renew (PEM; the first block is the leaf) and its private key (PEM). */
  certificatePem: string;
  privateKeyPem: string;
  /** CA certificates (PEM) to trust for the server's TLS certificate; default: the system's. */
  caPem?: string;
  /** Ask for a certificate for a new key of the same type. */
  newKey?: boolean;
  /** Told the new key before the request is sent, to keep it safe (install.ts): the certificate may come back even if we die waiting. */
  keepNewKey?: (privateKeyPem: string) => void;
}

export interface Renewed {
  serial: string;
  notBefore: Date;
  notAfter: Date;
  certificatePem: string;
  /** The issuing CA, as the server answers it. */
  chainPems: string[];
  /** Only with `newKey`: the new key, PKCS#8 PEM. */
  privateKeyPem?: string;
}

/** The URL `aud` names and the request goes to. */
export function renewUrl(server: string): string {
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    throw new DepotError("E_BAD_ARGUMENT", `--server must be an https:// URL, not '${server}'`);
  }
  if (url.protocol !== "https:" || url.search || url.hash) throw new DepotError("E_BAD_ARGUMENT", `--server must be an https:// URL without query or fragment, not '${server}'`);
  return `${url.origin}${url.pathname.replace(/\/+$/, "")}/v1/renew`;
}

/** The JWS algorithm for a key: what the server accepts for it (renew-proof.ts). */
export function algorithmFor(spki: Uint8Array): string {
  const { family, curve, keyType } = describePublicKey(spki);
  if (family === "rsa") return "RS256";
  if (family === "ed25519") return "EdDSA";
  if (family === "ec" && curve === "P-256") return "ES256";
  if (family === "ec" && curve === "P-384") return "ES384";
  throw new DepotError("E_BAD_ARGUMENT", `a ${keyType} key cannot sign a renewal request`);
}

/** The proof: `{ alg, x5c: [leaf] }` over `{ aud, iat, exp, jti, csr? }`. */
export async function makeProof(certificateDer: Uint8Array, key: KeyObject, aud: string, now: Date, csr?: string): Promise<string> {
  const iat = Math.floor(now.getTime() / 1000);
  const payload = { aud, iat, exp: iat + PROOF_SECONDS, jti: randomBytes(16).toString("base64url"), ...(csr !== undefined ? { csr } : {}) };
  const alg = algorithmFor(readCertificateDer(new Uint8Array(certificateDer)).spki);
  return new CompactSign(new TextEncoder().encode(JSON.stringify(payload))).setProtectedHeader({ alg, x5c: [Buffer.from(certificateDer).toString("base64")] }).sign(key);
}

/**
 * A PKCS#10 request for `privateKeyPem`'s key with the old certificate's
 * subject (the server keeps the old subject and names anyway; only the key
 * is taken from it), signed as the CA signs certificates (signer.ts).
 */
export async function certificateRequest(subjectDer: Uint8Array, publicKeyDer: Uint8Array, privateKeyPem: string, keyType: KeyType): Promise<string> {
  const info = tlv(TAG.SEQUENCE, tlv(TAG.INTEGER, new Uint8Array([0])), subjectDer, publicKeyDer, new Uint8Array([0xa0, 0x00]));
  const signed = await new DerSigner(createPrivateKey(privateKeyPem), keyType).signed(info);
  return toPem("CERTIFICATE REQUEST", signed);
}

/** Renews once: the proof, the request, the answer checked. Throws a DepotError that says what went wrong. */
export async function requestRenewal(request: RenewalRequest, now = new Date()): Promise<Renewed> {
  const url = renewUrl(request.server);
  let certificateDer: Uint8Array<ArrayBuffer>;
  let fields: ReturnType<typeof readCertificateDer>;
  try {
    certificateDer = certificateDerFromPem(request.certificatePem);
    fields = readCertificateDer(certificateDer);
  } catch (error) {
    throw new DepotError("E_BAD_ARGUMENT", `the certificate file holds no readable certificate (${messageOf(error)})`);
  }
  const key = privateKeyOf(request.privateKeyPem, fields.spki);

  let csr: string | undefined;
  let newKey: { privateKeyPem: string; publicKeyDer: Uint8Array } | undefined;
  if (request.newKey) {
    const { keyType } = describePublicKey(fields.spki);
    if (!(KEY_TYPES as readonly string[]).includes(keyType)) throw new DepotError("E_BAD_ARGUMENT", `depot cannot make a new ${keyType} key`);
    newKey = await generateKeyPair(keyType as KeyType);
    csr = await certificateRequest(fields.subject, newKey.publicKeyDer, newKey.privateKeyPem, keyType as KeyType);
    request.keepNewKey?.(newKey.privateKeyPem);
  }

  const proof = await makeProof(certificateDer, key, url, now, csr);
  let response: Response;
  try {
    response = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/jose", accept: "application/json" },
      body: proof,
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      ...(request.caPem ? { tls: { ca: request.caPem } } : {}),
    } as RequestInit);
  } catch (error) {
    throw new DepotError("E_RENEW", `cannot reach ${url}: ${messageOf(error)}`);
  }
  const text = await response.text();
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw new DepotError("E_RENEW", `${url} answered ${response.status} without JSON: ${text.slice(0, 200)}`);
  }
  if (response.status !== 201) throw new DepotError("E_RENEW", `${url} refused the renewal (${response.status}): ${String(body.detail ?? body.title ?? text.slice(0, 200))}`);
  return checkedAnswer(body, newKey?.publicKeyDer ?? fields.spki, newKey?.privateKeyPem);
}

/** The private key, which must be the certificate's: a proof signed by another key would only be refused. */
export function privateKeyOf(pem: string, certificateSpki: Uint8Array): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch (error) {
    throw new DepotError("E_BAD_ARGUMENT", `the key file holds no readable private key (${messageOf(error)}; an encrypted key is not supported)`);
  }
  const spki = createPublicKey(key).export({ type: "spki", format: "der" });
  if (!Buffer.from(spki).equals(Buffer.from(certificateSpki))) throw new DepotError("E_BAD_ARGUMENT", "the key file does not hold the certificate's private key");
  return key;
}

/** The answer's certificate, which must be for the key we will use with it. */
function checkedAnswer(body: Record<string, unknown>, expectedSpki: Uint8Array, privateKeyPem: string | undefined): Renewed {
  const pem = body.certificate;
  if (typeof pem !== "string" || typeof body.serial !== "string") throw new DepotError("E_RENEW", "the server's answer holds no certificate");
  const fields = readCertificateDer(certificateDerFromPem(pem));
  if (!Buffer.from(fields.spki).equals(Buffer.from(expectedSpki))) throw new DepotError("E_RENEW", "the server answered a certificate for another key; nothing was written");
  const chain = Array.isArray(body.chain) ? body.chain.filter((entry): entry is string => typeof entry === "string") : [];
  return {
    serial: body.serial,
    notBefore: fields.notBefore,
    notAfter: fields.notAfter,
    certificatePem: pem.trim() + "\n",
    chainPems: chain.map((entry) => entry.trim() + "\n"),
    ...(privateKeyPem !== undefined ? { privateKeyPem } : {}),
  };
}
