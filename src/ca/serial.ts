import { randomBytes } from "node:crypto";

/**
 * Certificate serial numbers (RFC 5280 4.1.2.2, CA/Browser Forum BR 7.1):
 * positive, at most 20 octets, 128 bits from a CSPRNG, minimally DER-encoded.
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
export const SERIAL_RANDOM_BYTES = 16;

export function newSerial(): string {
  for (;;) {
    const serial = magnitudeHex(randomBytes(SERIAL_RANDOM_BYTES));
    if (serial !== "00") return serial;
  }
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
