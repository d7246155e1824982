/**
 * @module
 * How a webhook request is signed: HMAC-SHA256 with the shared secret over
 * `<timestamp>.<body>`, the timestamp (Unix seconds) in
 * `x-depot-timestamp`, the MAC in `x-depot-signature` as `sha256=<hex>`.
 * Signing the timestamp with the body lets a receiver refuse a recorded
 * request replayed later (docs/webhooks.md shows the check).
 */
import { createHmac, timingSafeEqual } from "node:crypto";

export const TIMESTAMP_HEADER = "x-depot-timestamp";
export const SIGNATURE_HEADER = "x-depot-signature";

/** The signature header's value for `body` sent at `timestamp` (Unix seconds). */
export function signatureOf(secret: Uint8Array, timestamp: number, body: string): string {
  return `sha256=${createHmac("sha256", secret).update(`${timestamp}.${body}`).digest("hex")}`;
}

/** The two headers that sign `body`, sent now. */
export function signedHeaders(secret: Uint8Array, body: string, now = Date.now()): Record<string, string> {
  const timestamp = Math.floor(now / 1000);
  return { [TIMESTAMP_HEADER]: String(timestamp), [SIGNATURE_HEADER]: signatureOf(secret, timestamp, body) };
}

/**
 * A receiver's check, as docs/webhooks.md describes it: the signature
 * matches (compared in constant time) and the timestamp is within
 * `toleranceSeconds` of now. For receivers written in TypeScript and for
 * depot's tests.
 */
export function verifySignature(secret: Uint8Array, headers: { timestamp: string | null; signature: string | null }, body: string, now = Date.now(), toleranceSeconds = 300): boolean {
  if (headers.timestamp === null || headers.signature === null || !/^\d{1,12}$/.test(headers.timestamp)) return false;
  const timestamp = Number(headers.timestamp);
  if (Math.abs(now / 1000 - timestamp) > toleranceSeconds) return false;
  const expected = Buffer.from(signatureOf(secret, timestamp, body));
  const given = Buffer.from(headers.signature);
  return given.length === expected.length && timingSafeEqual(given, expected);
}
