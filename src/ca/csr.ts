import { DepotError } from "../errors.ts";
import { type DistinguishedName, dnFromName, formatDn, parseDn } from "./dn.ts";
import type { KeyFamily } from "./key-types.ts";
import { describePublicKey, type KeyDescription } from "./keys.ts";
import { x509 } from "./provider.ts";

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

/**
 * Reads a PEM PKCS#10 request and checks its size, its signature, its key and its subject.
 * `allowEmptySubject`: ACME clients (certbot) send requests whose names are all in the SAN.
 */
export async function readCertificateRequest(pem: string, options: { allowEmptySubject?: boolean } = {}): Promise<RequestedCertificate> {
  if (Buffer.byteLength(pem) > MAX_CSR_BYTES) fail(`certificate request is larger than ${MAX_CSR_BYTES / 1024} KiB`);
  let request: x509.Pkcs10CertificateRequest;
  try {
    request = new x509.Pkcs10CertificateRequest(pem.trim());
  } catch {
    return fail("not a PEM certificate request (-----BEGIN CERTIFICATE REQUEST-----)");
  }
  // The key first: a genuine request for a key depot does not sign (or that
  // WebCrypto cannot verify) is refused for its key, not called forged.
  const publicKeyDer = new Uint8Array(request.publicKey.rawData);
  const { keyType, family } = keyOf(publicKeyDer);
  let signatureOk = false;
  try {
    signatureOk = await request.verify();
  } catch {
    // An algorithm WebCrypto cannot verify is as good as a bad signature.
  }
  if (!signatureOk) fail("the certificate request's signature does not verify (forged or damaged)");

  if (request.subjectName.toJSON().some((rdn) => Object.values(rdn).flat().length > 1)) {
    fail("the request's subject has a multi-valued RDN (a+b); depot issues one attribute per RDN");
  }
  const requestedSubject = dnFromName(request.subjectName);
  const subject = options.allowEmptySubject && requestedSubject.length === 0 ? requestedSubject : validSubject(requestedSubject);
  const sanExtension = request.extensions.find((e) => e instanceof x509.SubjectAlternativeNameExtension) as x509.SubjectAlternativeNameExtension | undefined;
  const sans = sanExtension?.names.items ?? [];
  const subjectAltNames = sans.filter((name) => name.type === "dns" || name.type === "ip").map((name) => name.value);
  return { subject, publicKeyDer, keyType, family, subjectAltNames };
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
