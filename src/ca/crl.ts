import { DepotError } from "../errors.ts";
import { integerFromHex } from "./der.ts";
import type { Issuer } from "./issuer.ts";
import { toPem } from "./keys.ts";
import { KEY_SPECS } from "./key-types.ts";
import type { CertificateRecord } from "./ledger.ts";
import { x509 } from "./provider.ts";
import { toDerIntegerHex } from "./serial.ts";

/** The reasons an operator may give (RFC 5280 5.3.1); `unspecified` is left out of the entry, as the RFC asks. */
export const REVOCATION_REASONS = ["unspecified", "keyCompromise", "affiliationChanged", "superseded", "cessationOfOperation"] as const;
export type RevocationReason = (typeof REVOCATION_REASONS)[number];
export const DEFAULT_CRL_DAYS = 7;

export function parseReason(text: string): RevocationReason {
  const reason = REVOCATION_REASONS.find((r) => r.toLowerCase() === text.trim().toLowerCase());
  if (!reason) throw new DepotError("E_BAD_ARGUMENT", `unknown reason '${text}' (known: ${REVOCATION_REASONS.join(", ")})`);
  return reason;
}

/**
 * A v2 CRL signed by the CA: thisUpdate, nextUpdate, the CRL number and the
 * authority key identifier, and one entry per revoked certificate with its
 * reason. PEM-labelled `X509 CRL`: @peculiar/x509 2.2 writes `CRL`, which
 * OpenSSL 3 does not read.
 */
export async function buildCrl(issuer: Issuer, crlNumber: number, revoked: CertificateRecord[], thisUpdate: Date, nextUpdate: Date): Promise<string> {
  const crl = await x509.X509CrlGenerator.create({
    issuer: issuer.certificate.subjectName,
    thisUpdate,
    nextUpdate,
    signingKey: issuer.key.privateKey,
    signingAlgorithm: KEY_SPECS[issuer.key.type].signingAlgorithm,
    extensions: [issuer.authorityKeyIdentifier, new x509.Extension("2.5.29.20", false, integerFromHex(toDerIntegerHex(crlNumber.toString(16))))],
    entries: revoked.map((record) => ({
      serialNumber: toDerIntegerHex(record.serial),
      revocationDate: record.revokedAt ?? thisUpdate,
      reason: x509.X509CrlReason[(record.revocationReason as RevocationReason) ?? "unspecified"] ?? x509.X509CrlReason.unspecified,
    })),
  });
  return toPem("X509 CRL", new Uint8Array(crl.rawData));
}
