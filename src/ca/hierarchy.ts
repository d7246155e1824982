/**
 * @module
 * Two tiers, as step-ca makes by default: a long-lived root CA and an
 * issuing intermediate (pathLenConstraint 0) signed by it. In a two-tier
 * depot:
 *
 * | file | holds |
 * | --- | --- |
 * | `certificates/ca.crt` | the root: what clients trust (unchanged name) |
 * | `certificates/intermediate.crt` | the intermediate: the issuer of every leaf |
 * | `private/ca.key` | the intermediate's key: the key that signs, as in a one-tier depot |
 * | `private/root.key` | the root's key; it can leave the machine |
 * | `root-crl.pem` | the root's CRL, listing revoked intermediates (long-lived) |
 * | `crl.pem` | the intermediate's CRL of leaves, as in a one-tier depot |
 *
 * A depot without `intermediate.crt` is one tier (and every depot made
 * before this), and opens as it always did.
 */
import { renameSync, writeFileSync } from "node:fs";
import { NameConstraints, GeneralName, GeneralSubtree, GeneralSubtrees } from "@peculiar/asn1-x509";
import { AsnConvert } from "@peculiar/asn1-schema";
import { isIP } from "node:net";
import { DepotError } from "../errors.ts";
import { readCertificateDer } from "./certificate-der.ts";
import { buildCrl } from "./crl.ts";
import { attribute, type DistinguishedName, dnFromName, formatDn, toJsonName } from "./dn.ts";
import { DAY_MS, fingerprintOf, makeIssuer, pemOf, type Validity, validityFor } from "./issuer.ts";
import { encryptPrivateKey } from "./key-encryption.ts";
import { KEY_SPECS, type KeyType } from "./key-types.ts";
import { generateKeyPair, type SigningKey } from "./keys.ts";
import { ledgerOpenerOr } from "./ledger.ts";
import { readSettings } from "./depot-checks.ts";
import type { DepotLayout } from "./layout.ts";
import { x509 } from "./provider.ts";
import { newSerial, toDerIntegerHex } from "./serial.ts";

/** The root lives longer than anything it signs. */
export const DEFAULT_ROOT_DAYS = 7300;
export const DEFAULT_INTERMEDIATE_DAYS = 1825;
/** The root's CRL is signed rarely (with the root key, perhaps offline), so it lasts long. */
export const DEFAULT_ROOT_CRL_DAYS = 365;

export { bundlePems, chainPem, isTwoTier, issuingCa, tierLayout } from "./tiers.ts";
import { tierLayout } from "./tiers.ts";

/** Names an intermediate may certify; a leaked intermediate cannot mint others (RFC 5280 4.2.1.10). */
export interface NamePermits {
  /** DNS names: `.example.com` (or `example.com`) permits example.com and everything under it. */
  dns?: string[];
  /** IP ranges in CIDR form: `10.0.0.0/8`, `2001:db8::/32`. */
  ip?: string[];
}

export interface IntermediateRequest {
  subject: DistinguishedName;
  /** The intermediate's public key, SPKI DER. */
  publicKeyDer: Uint8Array<ArrayBuffer>;
  serial: string;
  validity: Validity;
  permits?: NamePermits;
}

/** The root signs an intermediate: CA:TRUE with pathLenConstraint 0, keyCertSign and cRLSign, and any name constraints. */
export async function signIntermediate(root: { certificate: x509.X509Certificate; key: SigningKey }, request: IntermediateRequest): Promise<x509.X509Certificate> {
  if (request.validity.notAfter.getTime() > root.certificate.notAfter.getTime()) {
    throw new DepotError("E_BAD_ARGUMENT", `the intermediate would outlive the root (valid until ${root.certificate.notAfter.toISOString().slice(0, 10)})`);
  }
  const rootSki = root.certificate.getExtension(x509.SubjectKeyIdentifierExtension);
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(true, 0, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign | x509.KeyUsageFlags.digitalSignature, true),
    await x509.SubjectKeyIdentifierExtension.create(request.publicKeyDer),
    rootSki ? new x509.AuthorityKeyIdentifierExtension(rootSki.keyId) : await x509.AuthorityKeyIdentifierExtension.create(root.key.publicKeyDer),
  ];
  const constraints = nameConstraints(request.permits);
  if (constraints) extensions.push(constraints);
  return x509.X509CertificateGenerator.create({
    serialNumber: toDerIntegerHex(request.serial),
    subject: toJsonName(request.subject),
    issuer: root.certificate.subjectName,
    ...request.validity,
    publicKey: request.publicKeyDer,
    signingKey: root.key.privateKey,
    signingAlgorithm: KEY_SPECS[root.key.type].signingAlgorithm,
    extensions,
  });
}

/** Whole days the root has left: no intermediate it signs may outlive it. */
export function rootDaysLeft(root: { certificate: x509.X509Certificate }): number {
  return Math.floor((root.certificate.notAfter.getTime() - Date.now()) / DAY_MS);
}

/** Records an intermediate the root just signed in the depot's ledger (as a `ca` row, like the root). */
export async function recordIntermediate(layout: DepotLayout, serial: string, certificate: x509.X509Certificate, keyType: string): Promise<void> {
  const ledger = await ledgerOpenerOr(undefined)(layout, readSettings(layout));
  try {
    await ledger.record({
      serial,
      subject: formatDn(dnFromName(certificate.subjectName)),
      type: "ca",
      keyType,
      notBefore: certificate.notBefore,
      notAfter: certificate.notAfter,
      fingerprint: fingerprintOf(certificate),
      pem: pemOf(certificate),
      status: "valid",
    });
  } finally {
    ledger.close();
  }
}

/** The root's CRL: the intermediates it revoked (none, at first), signed by the root key. */
export async function signRootCrl(
  root: { certificate: x509.X509Certificate; key: SigningKey },
  crlNumber: number,
  revoked: { serial: string; revokedAt: Date; revocationReason?: string }[] = [],
  days = DEFAULT_ROOT_CRL_DAYS,
  now = Date.now(),
): Promise<string> {
  const thisUpdate = new Date(Math.floor(now / 1000) * 1000);
  const nextUpdate = new Date(thisUpdate.getTime() + days * DAY_MS);
  const issuer = makeIssuer(readCertificateDer(new Uint8Array(root.certificate.rawData)), root.key);
  return buildCrl(issuer, crlNumber, revoked as Parameters<typeof buildCrl>[2], thisUpdate, nextUpdate);
}

/** The name-constraints extension (critical, as RFC 5280 asks) for the given permits, or none. */
export function nameConstraints(permits: NamePermits | undefined): x509.Extension | undefined {
  const dns = permits?.dns ?? [];
  const ip = permits?.ip ?? [];
  if (dns.length === 0 && ip.length === 0) return undefined;
  const subtrees = [
    ...dns.map((name) => {
      const trimmed = name.trim().replace(/^\*?\./, "").toLowerCase();
      if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(trimmed)) {
        throw new DepotError("E_BAD_ARGUMENT", `--permit-dns '${name}' is not a DNS name or domain (like .example.com)`);
      }
      // A dNSName constraint covers the name and every name below it.
      return new GeneralSubtree({ base: new GeneralName({ dNSName: trimmed }) });
    }),
    ...ip.map((range) => {
      const [address = "", bits] = range.trim().split("/");
      const family = isIP(address);
      const max = family === 4 ? 32 : 128;
      if (!family || bits === undefined || !/^\d+$/.test(bits) || Number(bits) > max) {
        throw new DepotError("E_BAD_ARGUMENT", `--permit-ip '${range}' is not an address range like 10.0.0.0/8 or 2001:db8::/32`);
      }
      return new GeneralSubtree({ base: new GeneralName({ iPAddress: `${address}/${bits}` }) });
    }),
  ];
  const der = AsnConvert.serialize(new NameConstraints({ permittedSubtrees: new GeneralSubtrees(subtrees) }));
  return new x509.Extension("2.5.29.30", true, der);
}

export interface IntermediateTierOptions {
  /** The CA's name: the intermediate is `O=<label>, CN=<label> Intermediate CA`. */
  label: string;
  keyType: KeyType;
  /** Validity of the intermediate; never beyond the root's. */
  days?: number;
  permits?: NamePermits;
  /** Encrypt both keys under it. */
  passphrase?: string;
}

/**
 * Turns a freshly made one-tier depot (in its staging folder, before its
 * first CRL) into two tiers: its CA becomes the root (key moved to
 * private/root.key), and a new intermediate key and certificate take the
 * issuing place. Records the intermediate in the ledger and signs the
 * root's first CRL. Returns the intermediate's key, PKCS#8 PEM, in memory.
 */
export async function addIntermediateTier(
  layout: DepotLayout,
  root: { certificate: x509.X509Certificate; key: SigningKey },
  options: IntermediateTierOptions,
): Promise<string> {
  const tiers = tierLayout(layout);
  const keyPair = await generateKeyPair(options.keyType);
  const subject = [attribute("O", options.label), attribute("CN", `${options.label} Intermediate CA`.slice(0, 64))];
  const serial = newSerial();
  const days = Math.min(options.days ?? DEFAULT_INTERMEDIATE_DAYS, rootDaysLeft(root));
  const certificate = await signIntermediate(root, { subject, publicKeyDer: keyPair.publicKeyDer, serial, validity: validityFor(days), ...(options.permits ? { permits: options.permits } : {}) });

  renameSync(layout.caKey, tiers.rootKey);
  const keyFile = options.passphrase === undefined ? keyPair.privateKeyPem : await encryptPrivateKey(keyPair.privateKeyPem, options.passphrase);
  writeFileSync(layout.caKey, keyFile, { mode: 0o400, flag: "wx" });
  writeFileSync(tiers.intermediateCertificate, pemOf(certificate), { mode: 0o644, flag: "wx" });
  await recordIntermediate(layout, serial, certificate, options.keyType);
  writeFileSync(tiers.rootCrl, await signRootCrl(root, 1), { mode: 0o644, flag: "wx" });
  return keyPair.privateKeyPem;
}
