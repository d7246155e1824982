import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { dnFromName, formatDn } from "./dn.ts";
import { fingerprintOf, pemOf } from "./issuer.ts";
import type { KeyType } from "./key-types.ts";
import { describePublicKey } from "./keys.ts";
import type { DepotLayout } from "./layout.ts";
import type { CertificateRecord, CertificateType, Ledger } from "./ledger.ts";
import { x509 } from "./provider.ts";
import { magnitudeHex } from "./serial.ts";

/**
 * Records in the ledger every certificate already in `certificates/`: a depot
 * made by the original Ruby gem (files named `<decimal serial>.crt`, serials
 * counted from 1) has no ledger, and its serials must be taken before depot
 * issues, so no new certificate can clash with an old one.
 */
export async function adoptLegacyCertificates(ledger: Ledger, layout: DepotLayout, caKeyType: KeyType): Promise<number> {
  const records: CertificateRecord[] = [];
  for (const name of readdirSync(layout.certificatesDir)) {
    if (!name.endsWith(".crt")) continue;
    let certificate: x509.X509Certificate;
    try {
      certificate = new x509.X509Certificate(readFileSync(join(layout.certificatesDir, name), "utf8"));
    } catch {
      continue; // Not a certificate: not ours to record.
    }
    records.push({
      serial: magnitudeHex(new Uint8Array(Buffer.from(certificate.serialNumber, "hex"))),
      subject: formatDn(dnFromName(certificate.subjectName)),
      type: typeOf(certificate),
      keyType: name === "ca.crt" ? caKeyType : keyTypeName(certificate),
      notBefore: certificate.notBefore,
      notAfter: certificate.notAfter,
      fingerprint: fingerprintOf(certificate),
      pem: pemOf(certificate),
      status: "valid",
    });
  }
  return ledger.adopt(records);
}

function typeOf(certificate: x509.X509Certificate): CertificateType {
  if (certificate.getExtension(x509.BasicConstraintsExtension)?.ca) return "ca";
  const purposes = certificate.getExtension(x509.ExtendedKeyUsageExtension)?.usages ?? [];
  return purposes.includes(x509.ExtendedKeyUsage.serverAuth) ? "server" : "client";
}

function keyTypeName(certificate: x509.X509Certificate): string {
  try {
    return describePublicKey(new Uint8Array(certificate.publicKey.rawData)).keyType;
  } catch {
    return "unknown";
  }
}
