/**
 * @module
 * What a two-tier depot's root does with its key, which may be offline
 * (brought back with `--root-key FILE`): sign the root's CRL anew, and
 * re-issue the intermediate for its same key. The layout is in tiers.ts,
 * the signing of an intermediate in hierarchy.ts.
 */
import { existsSync, readFileSync } from "node:fs";
import { NameConstraints } from "@peculiar/asn1-x509";
import { AsnConvert } from "@peculiar/asn1-schema";
import { DepotError } from "../errors.ts";
import { loadCaKey, publicKeyType } from "./ca-key.ts";
import { dnFromName } from "./dn.ts";
import { writeFileAtomic } from "./files.ts";
import { DEFAULT_INTERMEDIATE_DAYS, DEFAULT_ROOT_CRL_DAYS, isTwoTier, type NamePermits, recordIntermediate, rootDaysLeft, signIntermediate, signRootCrl, tierLayout } from "./hierarchy.ts";
import { pemOf, validityFor } from "./issuer.ts";
import type { SigningKey } from "./keys.ts";
import type { DepotLayout } from "./layout.ts";
import { x509 } from "./provider.ts";
import { newSerial } from "./serial.ts";

/** The root's certificate and key, the key checked to be the certificate's. */
export interface RootCa {
  certificate: x509.X509Certificate;
  key: SigningKey;
}

/**
 * Loads the root from a two-tier depot's ca.crt and a root key file (the
 * depot's private/root.key, or a copy brought back from offline), decrypted
 * with `passphrase` when encrypted.
 */
export async function loadRoot(layout: DepotLayout, keyFile: string, passphrase?: string): Promise<RootCa> {
  if (!isTwoTier(layout)) throw new DepotError("E_BAD_ARGUMENT", `${layout.root} has one tier (no intermediate); its CA key is private/ca.key`);
  const key = await loadCaKey({ caKey: keyFile, caCertificate: layout.caCertificate }, passphrase === undefined ? {} : { passphrase });
  const certificate = new x509.X509Certificate(readFileSync(layout.caCertificate, "utf8"));
  if (Buffer.compare(Buffer.from(certificate.publicKey.rawData), Buffer.from(key.publicKeyDer)) !== 0) {
    throw new DepotError("E_BAD_ARGUMENT", `${keyFile} is not the key of the root ${layout.caCertificate}`);
  }
  return { certificate, key };
}

/** Signs the root's next CRL (number one more than root-crl.pem's), keeping its entries, and writes it atomically. */
export async function renewRootCrl(layout: DepotLayout, root: RootCa, days = DEFAULT_ROOT_CRL_DAYS): Promise<{ crlNumber: number; pem: string }> {
  const path = tierLayout(layout).rootCrl;
  let crlNumber = 1;
  let revoked: { serial: string; revokedAt: Date; revocationReason?: string }[] = [];
  if (existsSync(path)) {
    const current = new x509.X509Crl(readFileSync(path, "utf8"));
    const number = current.getExtension("2.5.29.20");
    crlNumber = (number ? Number(BigInt(`0x${Buffer.from(number.value).subarray(2).toString("hex") || "0"}`)) : 0) + 1;
    revoked = current.entries.map((entry) => ({ serial: entry.serialNumber.toLowerCase(), revokedAt: entry.revocationDate, revocationReason: x509.X509CrlReason[entry.reason ?? 0] }));
  }
  const pem = await signRootCrl(root, crlNumber, revoked, days);
  writeFileAtomic(path, pem);
  return { crlNumber, pem };
}

/**
 * Re-issues the intermediate for its same key (the depot's private/ca.key),
 * with a fresh validity, signed by the root; records it and replaces
 * intermediate.crt atomically. Running servers take it at their next HUP.
 */
export async function renewIntermediate(layout: DepotLayout, root: RootCa, days = DEFAULT_INTERMEDIATE_DAYS, permits?: NamePermits): Promise<x509.X509Certificate> {
  const tiers = tierLayout(layout);
  const current = new x509.X509Certificate(readFileSync(tiers.intermediateCertificate, "utf8"));
  const keepPermits = permits ?? permitsOf(current);
  const serial = newSerial();
  const certificate = await signIntermediate(root, {
    subject: dnFromName(current.subjectName),
    publicKeyDer: new Uint8Array(current.publicKey.rawData),
    serial,
    validity: validityFor(Math.min(days, rootDaysLeft(root))),
    ...(keepPermits ? { permits: keepPermits } : {}),
  });
  await recordIntermediate(layout, serial, certificate, publicKeyType(new Uint8Array(certificate.publicKey.rawData), tiers.intermediateCertificate));
  writeFileAtomic(tiers.intermediateCertificate, pemOf(certificate));
  return certificate;
}

/** The name constraints an intermediate carries, to keep them on renewal. */
function permitsOf(certificate: x509.X509Certificate): NamePermits | undefined {
  const extension = certificate.getExtension("2.5.29.30");
  if (!extension) return undefined;
  const constraints = AsnConvert.parse(extension.value, NameConstraints);
  const permits: Required<NamePermits> = { dns: [], ip: [] };
  for (const subtree of constraints.permittedSubtrees ?? []) {
    if (subtree.base.dNSName) permits.dns.push(subtree.base.dNSName);
    if (subtree.base.iPAddress) permits.ip.push(subtree.base.iPAddress);
  }
  return permits;
}
