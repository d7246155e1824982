import type { Depot } from "../ca/depot.ts";
import type { CertificateRecord } from "../ca/ledger.ts";
import { parseSerial } from "../ca/serial.ts";
import { DepotError } from "../errors.ts";

/**
 * Finds a certificate by the serial a user typed: hex as openssl and
 * `depot list` print it (1A2B or 1A:2B), 0x-hex, or the decimal of its
 * file name. Plain digits fit both decimal and hex, so both are tried.
 */
export async function findBySerial(depot: Depot, text: string): Promise<CertificateRecord> {
  const candidates = [parseSerial(text), /^[0-9a-f]+$/i.test(text.trim()) ? parseSerial(`0x${text.trim()}`) : undefined];
  const serials = candidates.filter((s): s is string => s !== undefined);
  if (serials.length === 0) throw new DepotError("E_BAD_ARGUMENT", `'${text}' is not a serial number (hex like 1A:2B or 1A2B, 0x1a2b, or decimal)`);
  for (const serial of serials) {
    const record = await depot.ledger.find(serial);
    if (record) return record;
  }
  throw new DepotError("E_NOT_FOUND", `no certificate with serial ${text} in this depot`);
}
