/**
 * @module
 * Reading and checking a PKCS#10 request: size, key, signature (node:crypto),
 * subject. The DER is read by hand (`csr-der.ts`), so signing a request
 * loads no ASN.1 library.
 */
import { createPublicKey, verify } from "node:crypto";
import { DepotError } from "../errors.ts";
import { type CsrParts, parseCsrDer, pssParameters, UnacceptableCsr } from "./csr-der.ts";
import { type DistinguishedName, formatDn, namedAttribute, parseDn } from "./dn.ts";
import type { KeyFamily } from "./key-types.ts";
import { describePublicKey, type KeyDescription } from "./keys.ts";

export const MAX_CSR_BYTES = 16 * 1024;

/** What depot takes from a certificate request: never its extensions, only its subject, key and asked-for names. */
export interface RequestedCertificate {
  subject: DistinguishedName;
  publicKeyDer: Uint8Array<ArrayBuffer>;
  keyType: string;
  family: KeyFamily;
  /** DNS names and IP addresses from the request's subjectAltName, for a server certificate. */
  subjectAltNames: string[];
}

const fail = (message: string): never => {
  throw new DepotError("E_BAD_CSR", message);
};

const NOT_A_REQUEST = "not a PEM certificate request (-----BEGIN CERTIFICATE REQUEST-----)";
/** The first request block of a PEM text (openssl's NEW CERTIFICATE REQUEST too; line breaks anywhere, or none). */
const PEM_REQUEST = /-----BEGIN (NEW )?CERTIFICATE REQUEST-----([A-Za-z0-9+/=\s]*?)-----END \1CERTIFICATE REQUEST-----/;

/**
 * Reads a PEM PKCS#10 request and checks its size, its signature, its key and its subject.
 * `allowEmptySubject`: ACME clients (certbot) send requests whose names are all in the SAN.
 */
export async function readCertificateRequest(pem: string, options: { allowEmptySubject?: boolean } = {}): Promise<RequestedCertificate> {
  if (Buffer.byteLength(pem) > MAX_CSR_BYTES) fail(`certificate request is larger than ${MAX_CSR_BYTES / 1024} KiB`);
  const body = PEM_REQUEST.exec(pem)?.[2];
  if (body === undefined) return fail(NOT_A_REQUEST);
  return checkedRequest(new Uint8Array(Buffer.from(body.replace(/\s+/g, ""), "base64")), NOT_A_REQUEST, options);
}

/** The same for a request in DER, as ACME's finalize carries it (base64url in the JSON), with no PEM round trip. */
export async function readCertificateRequestDer(der: Uint8Array, options: { allowEmptySubject?: boolean } = {}): Promise<RequestedCertificate> {
  if (der.length > MAX_CSR_BYTES) fail(`certificate request is larger than ${MAX_CSR_BYTES / 1024} KiB`);
  return checkedRequest(der, "not a certificate request (PKCS#10, DER)", options);
}

function checkedRequest(der: Uint8Array, notARequest: string, options: { allowEmptySubject?: boolean }): RequestedCertificate {
  let request: CsrParts;
  try {
    request = parseCsrDer(der);
  } catch (error) {
    return fail(error instanceof UnacceptableCsr ? `the certificate request ${error.message}` : notARequest);
  }
  // The key first: a genuine request for a key depot does not sign (or that
  // node:crypto cannot verify) is refused for its key, not called forged.
  const publicKeyDer = request.spki;
  const { keyType, family } = keyOf(publicKeyDer);
  if (!signatureVerifies(request, family)) fail("the certificate request's signature does not verify (forged or damaged)");

  if (request.subject.some((rdn) => rdn.length > 1)) {
    fail("the request's subject has a multi-valued RDN (a+b); depot issues one attribute per RDN");
  }
  const requestedSubject = request.subject.map(([attribute]) => namedAttribute(attribute!.oid, attribute!.value));
  const subject = options.allowEmptySubject && requestedSubject.length === 0 ? requestedSubject : validSubject(requestedSubject);
  const subjectAltNames = request.subjectAltNames.filter((name) => name.type !== "other").map((name) => name.value);
  return { subject, publicKeyDer, keyType, family, subjectAltNames };
}

/** Signature algorithms a request may be signed with, by key family: the digest node:crypto is given. */
const SIGNATURE_DIGESTS: Record<string, { family: KeyFamily; digest: string | null }> = {
  "1.2.840.113549.1.1.5": { family: "rsa", digest: "sha1" },
  "1.2.840.113549.1.1.11": { family: "rsa", digest: "sha256" },
  "1.2.840.113549.1.1.12": { family: "rsa", digest: "sha384" },
  "1.2.840.113549.1.1.13": { family: "rsa", digest: "sha512" },
  "1.2.840.10045.4.1": { family: "ec", digest: "sha1" },
  "1.2.840.10045.4.3.2": { family: "ec", digest: "sha256" },
  "1.2.840.10045.4.3.3": { family: "ec", digest: "sha384" },
  "1.2.840.10045.4.3.4": { family: "ec", digest: "sha512" },
  "1.3.101.112": { family: "ed25519", digest: null },
};
const RSASSA_PSS = "1.2.840.113549.1.1.10";

/** Whether the request's self-signature verifies with its own key; an algorithm depot does not know counts as a bad signature. */
function signatureVerifies(request: CsrParts, family: KeyFamily): boolean {
  try {
    const key = createPublicKey({ key: Buffer.from(request.spki), format: "der", type: "spki" });
    const { oid, parameters } = request.signatureAlgorithm;
    if (oid === RSASSA_PSS) {
      if (family !== "rsa" || !parameters) return false;
      const pss = pssParameters(parameters);
      return verify(pss.digest, request.info, { key, padding: 6 /* RSA_PKCS1_PSS_PADDING */, saltLength: pss.saltLength }, request.signature);
    }
    const algorithm = SIGNATURE_DIGESTS[oid];
    if (!algorithm || algorithm.family !== family) return false;
    return verify(algorithm.digest, request.info, key, request.signature);
  } catch {
    return false;
  }
}

/** The key's type, read from the SPKI, and whether depot signs it. */
function keyOf(spki: Uint8Array): { keyType: string; family: KeyFamily } {
  let key: KeyDescription;
  try {
    key = describePublicKey(spki);
  } catch {
    return fail("the certificate request's public key cannot be read");
  }
  switch (key.family) {
    case "rsa":
      if (key.bits! < 2048) fail(`the request's RSA key has ${key.bits} bits; depot signs RSA keys of 2048 bits or more`);
      return { keyType: key.keyType, family: "rsa" };
    case "ec":
      if (key.curve === "P-256" || key.curve === "P-384") return { keyType: key.keyType, family: "ec" };
      return fail(`the request's EC key is on curve ${key.curve}; depot signs P-256 and P-384 keys`);
    case "ed25519":
      return { keyType: "ed25519", family: "ed25519" };
  }
  return fail(`the request's key type (${key.family}) is not one depot signs`);
}

/** The request's subject, held to the same rules as a typed one (round-trip through the parser). */
function validSubject(subject: DistinguishedName): DistinguishedName {
  if (subject.length === 0) fail("the certificate request has an empty subject");
  try {
    return parseDn(formatDn(subject));
  } catch (error) {
    return fail(`the request's subject is not acceptable: ${(error as Error).message}`);
  }
}
