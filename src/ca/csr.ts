import { createPublicKey } from "node:crypto";
import { children, readElement, TAG } from "./der.ts";
import { DepotError } from "../errors.ts";
import { type DistinguishedName, dnFromName, formatDn, parseDn } from "./dn.ts";
import type { KeyFamily } from "./key-types.ts";
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

const KEY_ALGORITHMS: Record<string, string> = {
  "1.2.840.113549.1.1.1": "rsa",
  "1.2.840.10045.2.1": "ec",
  "1.3.101.112": "ed25519",
  "1.3.101.113": "ed448",
  "1.2.840.113549.1.1.10": "rsa-pss",
};
const CURVES: Record<string, string> = {
  "1.2.840.10045.3.1.7": "P-256",
  "1.3.132.0.34": "P-384",
  "1.3.132.0.35": "secp521r1",
  "1.3.132.0.10": "secp256k1",
};

/** The key's type, read from the SPKI's algorithm identifier (and curve), then its size for RSA. */
function keyOf(spki: Uint8Array): { keyType: string; family: KeyFamily } {
  let algorithm: string;
  let curve: string | undefined;
  try {
    const [algorithmId] = children(spki, readElement(spki));
    const [oidElement, parameters] = children(spki, algorithmId!);
    algorithm = oidText(spki.subarray(oidElement!.contentStart, oidElement!.end));
    if (parameters?.tag === TAG.OID) curve = oidText(spki.subarray(parameters.contentStart, parameters.end));
  } catch {
    return fail("the certificate request's public key cannot be read");
  }
  const kind = KEY_ALGORITHMS[algorithm] ?? algorithm;
  switch (kind) {
    case "rsa": {
      const bits = createPublicKey({ key: Buffer.from(spki), format: "der", type: "spki" }).asymmetricKeyDetails?.modulusLength ?? 0;
      if (bits < 2048) fail(`the request's RSA key has ${bits} bits; depot signs RSA keys of 2048 bits or more`);
      return { keyType: `rsa-${bits}`, family: "rsa" };
    }
    case "ec": {
      const name = CURVES[curve ?? ""] ?? curve ?? "unknown";
      if (name === "P-256") return { keyType: "ec-p256", family: "ec" };
      if (name === "P-384") return { keyType: "ec-p384", family: "ec" };
      return fail(`the request's EC key is on curve ${name}; depot signs P-256 and P-384 keys`);
    }
    case "ed25519":
      return { keyType: "ed25519", family: "ed25519" };
  }
  return fail(`the request's key type (${kind}) is not one depot signs`);
}

/** Dotted text of an OBJECT IDENTIFIER's content bytes. */
function oidText(content: Uint8Array): string {
  const arcs: number[] = [];
  let value = 0;
  for (const byte of content) {
    value = value * 128 + (byte & 0x7f);
    if (!(byte & 0x80)) {
      arcs.push(value);
      value = 0;
    }
  }
  const first = arcs.shift() ?? 0;
  const head = first < 80 ? [Math.floor(first / 40), first % 40] : [2, first - 80];
  return [...head, ...arcs].join(".");
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
