/**
 * @module
 * Just enough DER to build certificates fast: a TLV writer, and a reader
 * that walks the elements of a structure without decoding them.
 */
export const TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  SEQUENCE: 0x30,
  SET: 0x31,
  CONTEXT_0: 0xa0,
  CONTEXT_3: 0xa3,
} as const;

/** Octets of a long-form DER length (0 for the short form, lengths below 0x80). */
function lengthOctets(length: number): number {
  if (length < 0x80) return 0;
  let octets = 0;
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) octets++;
  return octets;
}

/**
 * One element: tag, length, and the concatenated contents. Plain loops and
 * one allocation: every certificate takes a few dozen of these, and the
 * workers run JavaScriptCore without its optimising tiers, where the spread
 * and reduce this had were three times slower.
 */
export function tlv(tag: number, ...contents: Uint8Array[]): Uint8Array<ArrayBuffer> {
  let length = 0;
  for (let i = 0; i < contents.length; i++) length += contents[i]!.length;
  const octets = lengthOctets(length);
  const headerLength = 2 + octets;
  const out = new Uint8Array(headerLength + length);
  out[0] = tag;
  if (octets === 0) out[1] = length;
  else {
    out[1] = 0x80 | octets;
    for (let i = headerLength - 1, rest = length; i >= 2; i--, rest = Math.floor(rest / 256)) out[i] = rest & 0xff;
  }
  let offset = headerLength;
  for (let i = 0; i < contents.length; i++) {
    out.set(contents[i]!, offset);
    offset += contents[i]!.length;
  }
  return out;
}

/** An OBJECT IDENTIFIER from its dotted form. */
export function oid(dotted: string): Uint8Array<ArrayBuffer> {
  const [first = 0, second = 0, ...rest] = dotted.split(".").map(Number);
  const bytes: number[] = [];
  for (const arc of [first * 40 + second, ...rest]) {
    const base128: number[] = [arc & 0x7f];
    for (let value = Math.floor(arc / 128); value > 0; value = Math.floor(value / 128)) base128.unshift(0x80 | (value & 0x7f));
    bytes.push(...base128);
  }
  return tlv(TAG.OID, new Uint8Array(bytes));
}

/** Dotted text of an OBJECT IDENTIFIER's content bytes: the inverse of `oid`. */
export function oidText(content: Uint8Array): string {
  const arcs: number[] = [];
  let value = 0;
  for (const byte of content) {
    value = value * 128 + (byte & 0x7f);
    if (!(byte & 0x80)) {
      arcs.push(value);
      value = 0;
    }
  }
  const first = arcs.shift() ?? 0;
  const head = first < 80 ? [Math.floor(first / 40), first % 40] : [2, first - 80];
  return [...head, ...arcs].join(".");
}

/** An INTEGER from minimal two's-complement content given in hex. */
export function integerFromHex(hex: string): Uint8Array<ArrayBuffer> {
  return tlv(TAG.INTEGER, Buffer.from(hex, "hex"));
}

const textEncoder = new TextEncoder();
export function string(tag: number, text: string): Uint8Array<ArrayBuffer> {
  return tlv(tag, textEncoder.encode(text));
}

/**
 * RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050, both
 * in UTC to the second.
 */
export function time(date: Date): Uint8Array<ArrayBuffer> {
  const iso = date.toISOString(); // 2026-11-28T08:00:00.000Z
  const digits = iso.slice(0, 19).replace(/[-T:]/g, "");
  const year = date.getUTCFullYear();
  return year < 2050 ? string(TAG.UTC_TIME, `${digits.slice(2)}Z`) : string(TAG.GENERALIZED_TIME, `${digits}Z`);
}

export interface Element {
  tag: number;
  /** Offset of the tag byte. */
  start: number;
  /** Offset of the first content byte. */
  contentStart: number;
  /** Offset just past the element. */
  end: number;
}

/** Reads the element that starts at `offset`. */
export function readElement(der: Uint8Array, offset = 0): Element {
  const tag = der[offset]!;
  let length = der[offset + 1]!;
  let contentStart = offset + 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + der[contentStart + i]!;
    contentStart += count;
  }
  const end = contentStart + length;
  if (end > der.length) throw new Error("truncated DER");
  return { tag, start: offset, contentStart, end };
}

/** The elements inside a constructed element (a SEQUENCE's fields). */
export function children(der: Uint8Array, parent: Element): Element[] {
  const found: Element[] = [];
  for (let offset = parent.contentStart; offset < parent.end; ) {
    const element = readElement(der, offset);
    found.push(element);
    offset = element.end;
  }
  return found;
}

/** A UTCTime (YYMMDDHHMMSSZ, 50-99 meaning 19xx) or GeneralizedTime (YYYYMMDDHHMMSSZ) element's date. */
export function readTime(der: Uint8Array, element: Element): Date {
  const text = Buffer.from(der.subarray(element.contentStart, element.end)).toString("latin1");
  const full = element.tag === TAG.UTC_TIME ? `${Number(text.slice(0, 2)) >= 50 ? "19" : "20"}${text}` : text;
  return new Date(`${full.slice(0, 4)}-${full.slice(4, 6)}-${full.slice(6, 8)}T${full.slice(8, 10)}:${full.slice(10, 12)}:${full.slice(12, 14)}Z`);
}

/**
 * Reads the element at `offset` for input from outside (a client's request):
 * it must lie within `limit`, with a definite length of at most four octets
 * and a low tag number; anything else throws. `readElement` trusts its
 * input more (depot's own certificates and CRLs).
 */
export function readElementWithin(der: Uint8Array, offset: number, limit: number): Element {
  if (offset + 2 > limit) throw new Error("truncated DER");
  const tag = der[offset]!;
  if ((tag & 0x1f) === 0x1f) throw new Error("DER tag number too high");
  let length = der[offset + 1]!;
  let contentStart = offset + 2;
  if (length & 0x80) {
    const count = length & 0x7f;
    if (count === 0 || count > 4 || contentStart + count > limit) throw new Error("bad DER length");
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + der[contentStart + i]!;
    contentStart += count;
  }
  const end = contentStart + length;
  if (end > limit) throw new Error("truncated DER");
  return { tag, start: offset, contentStart, end };
}

/** The elements inside a constructed element, each checked to lie within it. */
export function childrenWithin(der: Uint8Array, parent: Element): Element[] {
  if (!(parent.tag & 0x20)) throw new Error("DER element is not constructed");
  const found: Element[] = [];
  for (let offset = parent.contentStart; offset < parent.end; ) {
    const element = readElementWithin(der, offset, parent.end);
    found.push(element);
    offset = element.end;
  }
  return found;
}
