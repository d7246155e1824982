/**
 * @module
 * `depot ledger rebuild`: a new ledger for a depot whose ledger was lost,
 * from what the depot folder still holds: the certificate files (every
 * certificate issued, valid) and the last published crl.pem (which of them
 * were revoked, when and why, and the CRL number, which must never go
 * backwards). Revoked serials whose certificate file is gone too stay on
 * every future CRL as CRL-only revocations.
 */
import { existsSync, readFileSync, renameSync } from "node:fs";
import { resolve } from "node:path";
import { DepotError, ioError } from "../errors.ts";
import { type CrlEntry, crlDerOf, isSignedBy, readCrl } from "../ca/crl.ts";
import { readSettings, refuseReadableKey, refuseSymlinks } from "../ca/depot-checks.ts";
import { readCertificateDer } from "../ca/certificate-der.ts";
import { makeIssuer } from "../ca/issuer.ts";
import { loadCaKey } from "../ca/ca-key.ts";
import { issuingCa } from "../ca/hierarchy.ts";
import { type DepotLayout, depotLayout } from "../ca/layout.ts";
import { ledgerKind, openLedger } from "./open-ledger.ts";
import { redactedUrl } from "../ca/ledger-url.ts";
import { adoptLegacyCertificates } from "../ca/legacy.ts";
import { x509 } from "../ca/provider.ts";
import { writeLedgerMarker } from "../ca/ledger/marker.ts";
import { sqliteLedgerPresence } from "./sqlite/ledger.ts";

export interface RebuildReport {
  certificates: number;
  revoked: number;
  crlOnly: number;
  crlNumber: number | undefined;
  /** Where a damaged ledger was moved aside, if there was one. */
  movedAside: string | undefined;
}

/**
 * Rebuilds the ledger. Refuses when the ledger is there and readable (there
 * is nothing to rebuild), and when crl.pem is missing or not this CA's,
 * unless `withoutCrl` says to go on without revocations.
 */
export async function rebuildLedger(path: string, options: { withoutCrl?: boolean } = {}): Promise<RebuildReport> {
  const layout = depotLayout(resolve(path));
  refuseSymlinks(layout);
  const settings = readSettings(layout);
  if (ledgerKind(settings) !== "sqlite") {
    throw new DepotError("E_BAD_ARGUMENT", `${layout.root} keeps its ledger in PostgreSQL (${redactedUrl(settings.ledger!)}); restore that database from its backup: ledger rebuild is for the SQLite ledger`);
  }
  refuseReadableKey(layout);
  // Only verifies (crl.pem's signature): an encrypted key stays locked; the intermediate in two tiers.
  const issuing = issuingCa(layout);
  const key = await loadCaKey(issuing, { withoutSigning: true });
  const issuer = makeIssuer(readCertificateDer(new Uint8Array(new x509.X509Certificate(readText(issuing.caCertificate)).rawData)), key, issuing.caCertificate);

  const crl = options.withoutCrl ? undefined : lastCrl(layout, (der) => isSignedBy(issuer, der));
  const movedAside = await moveAsideUnlessHealthy(layout, settings);

  const ledger = await openLedger(layout, settings, { create: true });
  try {
    const certificates = await adoptLegacyCertificates(ledger, layout, key.type);
    const restored = crl ? await ledger.restoreRevocations(crl.crlNumber, crl.entries) : { revoked: 0, crlOnly: 0 };
    writeLedgerMarker(layout);
    return { certificates, ...restored, crlNumber: crl?.crlNumber, movedAside };
  } finally {
    ledger.close();
  }
}

/** A ledger that opens and holds records is not touched; a damaged or empty one is renamed aside, kept for inspection. */
async function moveAsideUnlessHealthy(layout: DepotLayout, settings: ReturnType<typeof readSettings>): Promise<string | undefined> {
  const presence = sqliteLedgerPresence(layout.ledger);
  if (presence === "present") {
    let count = 0;
    try {
      const ledger = await openLedger(layout, settings);
      count = await ledger.count();
      ledger.close();
    } catch {
      // Damaged: moved aside below.
    }
    if (count > 0) {
      throw new DepotError("E_LEDGER", `the ledger ${layout.ledger} is there and holds ${count} certificate(s); there is nothing to rebuild`);
    }
  }
  if (presence === "missing") return undefined;
  const aside = `${layout.ledger}.lost-${new Date().toISOString().replace(/[:.]/g, "-")}`;
  for (const suffix of ["", "-wal", "-shm"]) {
    if (!existsSync(layout.ledger + suffix)) continue;
    try {
      renameSync(layout.ledger + suffix, aside + suffix);
    } catch (error) {
      throw ioError("move aside", layout.ledger + suffix, error);
    }
  }
  return aside;
}

/** The revocations and number of crl.pem, which must be a CRL this CA signed. */
function lastCrl(layout: DepotLayout, signedByCa: (der: Uint8Array) => boolean): { crlNumber: number; entries: CrlEntry[] } {
  const withoutIt = `; to rebuild without the revocations it held, give --without-crl (revoked certificates then read as valid)`;
  if (!existsSync(layout.crl)) throw new DepotError("E_LEDGER", `${layout.crl} is missing: the revocations cannot be recovered from it${withoutIt}`);
  const der = crlDerOf(readText(layout.crl));
  if (!der || !signedByCa(der)) throw new DepotError("E_LEDGER", `${layout.crl} is not a CRL signed by this CA${withoutIt}`);
  return readCrl(der);
}

function readText(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    throw ioError("read", path, error);
  }
}
