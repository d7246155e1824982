/**
 * @module ACME Renewal Information (RFC 9773): the certificate identifier
 * (base64url of the authority key identifier's keyIdentifier, a dot, and
 * base64url of the serial's DER INTEGER content) and the window in which
 * depot suggests renewing: the middle of the last third of the lifetime,
 * or right away for a revoked certificate.
 */

import { magnitudeHex } from "../ca/serial.ts";
import { problem } from "./problem.ts";

/** Splits a certID into the key identifier (hex) and the serial in the ledger's form (hex magnitude). */
export function parseCertId(text: string): { keyIdHex: string; serial: string } {
  const match = /^([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]+)$/.exec(text);
  if (!match) throw problem("malformed", `'${text}' is not an ARI certificate identifier (keyIdentifier.serial, base64url)`);
  const keyIdHex = Buffer.from(match[1]!, "base64url").toString("hex");
  const serialBytes = Buffer.from(match[2]!, "base64url");
  if (serialBytes.length === 0) throw problem("malformed", "the certificate identifier has an empty serial");
  const serial = magnitudeHex(serialBytes);
  return { keyIdHex, serial };
}

export interface RenewalWindow {
  start: Date;
  end: Date;
}

/** The suggested window: notAfter - lifetime/3 to notAfter - lifetime/6; a revoked certificate's lies in the past. */
export function renewalWindow(notBefore: Date, notAfter: Date, revoked: boolean, now: number): RenewalWindow {
  if (revoked) return { start: new Date(now - 3_600_000), end: new Date(now - 1000) };
  const lifetime = notAfter.getTime() - notBefore.getTime();
  return { start: new Date(notAfter.getTime() - lifetime / 3), end: new Date(notAfter.getTime() - lifetime / 6) };
}
