import { randomBytes } from "node:crypto";

/**
 * Certificate serial numbers (RFC 5280 4.1.2.2, CA/Browser Forum BR 7.1):
 * positive, at most 20 octets, at least 64 bits from a CSPRNG, minimally
 * DER-encoded.
 *
 * A new serial is 19 bytes: the issue time in milliseconds since the Unix
 * epoch (6 bytes, big-endian), then 104 bits from the CSPRNG. The time goes
 * first so that serials issued together sort together: the ledger's serial
 * index then grows at one place, where a fully random key dirtied one B-tree
 * leaf per certificate (a group of 4 wrote ~4 pages instead of ~2). With the
 * fingerprint's index, dropped at the same time, recording took 108-127 µs
 * of CPU a certificate before and 62-82 after (docs/performance.md). The
 * time says nothing the certificate's notBefore does not.
 *
 * depot holds a serial as its magnitude in lower-case hex, even length, no
 * leading zero bytes: the ledger's key, and how `openssl x509 -serial` prints
 * it (in upper case). `toDerIntegerHex` gives the INTEGER content to encode,
 * with the 0x00 that keeps a number whose first byte is 0x80 or more
 * positive. (@peculiar/x509 2.2 adds it too, but older versions wrote the
 * hex as given, making such serials negative; we do not depend on it.)
 *
 * Files in `certificates/` are named by the serial in decimal
 * (`<decimal>.crt`), the original's spelling, so a depot made by the Ruby gem
 * reads the same.
 */
export const SERIAL_TIME_BYTES = 6;
export const SERIAL_RANDOM_BYTES = 13;

export function newSerial(now = Date.now()): string {
  const bytes = randomBytes(SERIAL_TIME_BYTES + SERIAL_RANDOM_BYTES);
  bytes.writeUIntBE(now, 0, SERIAL_TIME_BYTES);
  // From 2004 to 2039 the first byte is 0x01, so the magnitude is 19 bytes
  // and its DER INTEGER needs no 0x00 in front.
  return magnitudeHex(bytes);
}

/** Lower-case hex of the unsigned big-endian number in `bytes`, without leading zero bytes. */
export function magnitudeHex(bytes: Uint8Array): string {
  let start = 0;
  while (start < bytes.length - 1 && bytes[start] === 0) start++;
  return Buffer.from(bytes.subarray(start)).toString("hex") || "00";
}

/** Minimal DER INTEGER content (hex) of a positive serial. */
export function toDerIntegerHex(serial: string): string {
  const magnitude = magnitudeHex(Buffer.from(serial.length % 2 ? `0${serial}` : serial, "hex"));
  return parseInt(magnitude.slice(0, 2), 16) >= 0x80 ? `00${magnitude}` : magnitude;
}

/** Parses a serial as a user writes it: decimal, or hex with `0x` or colons. */
export function parseSerial(text: string): string | undefined {
  const cleaned = text.trim().toLowerCase();
  let value: bigint;
  if (/^[0-9]{1,60}$/.test(cleaned)) value = BigInt(cleaned);
  else if (/^0x[0-9a-f]{1,50}$/.test(cleaned)) value = BigInt(cleaned);
  else if (/^[0-9a-f]{2}(:[0-9a-f]{2}){1,24}$/.test(cleaned)) value = BigInt(`0x${cleaned.replaceAll(":", "")}`);
  else return undefined;
  if (value <= 0n) return undefined;
  const hex = value.toString(16);
  return hex.length % 2 ? `0${hex}` : hex;
}

export function serialToDecimal(serial: string): string {
  return BigInt(`0x${serial}`).toString(10);
}

export function certificateFileName(serial: string): string {
  return `${serialToDecimal(serial)}.crt`;
}
