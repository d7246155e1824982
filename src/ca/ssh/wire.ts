/**
 * @module
 * The SSH wire encoding (RFC 4251 §5): uint32, uint64, string, mpint, and a
 * reader for the same. Certificates, signatures and KRLs are built from it.
 */

/** Appends SSH wire fields to a growing list of chunks; `bytes()` joins them once. */
export class SshWriter {
  private readonly chunks: Uint8Array[] = [];

  byte(value: number): this {
    this.chunks.push(Uint8Array.of(value));
    return this;
  }

  uint32(value: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, value);
    this.chunks.push(b);
    return this;
  }

  uint64(value: bigint): this {
    const b = new Uint8Array(8);
    new DataView(b.buffer).setBigUint64(0, value);
    this.chunks.push(b);
    return this;
  }

  /** A length-prefixed byte string; a JavaScript string is written as UTF-8. */
  string(value: Uint8Array | string): this {
    const bytes = typeof value === "string" ? new TextEncoder().encode(value) : value;
    this.uint32(bytes.length);
    this.chunks.push(bytes);
    return this;
  }

  /** A non-negative multiple-precision integer from its unsigned big-endian bytes. */
  mpint(magnitude: Uint8Array): this {
    let start = 0;
    while (start < magnitude.length && magnitude[start] === 0) start++;
    const trimmed = magnitude.subarray(start);
    // A set top bit would read as negative: prefix a zero byte.
    if (trimmed.length > 0 && trimmed[0]! & 0x80) return this.string(concat([Uint8Array.of(0), trimmed]));
    return this.string(trimmed);
  }

  /** Raw bytes, no length prefix. */
  raw(bytes: Uint8Array): this {
    this.chunks.push(bytes);
    return this;
  }

  bytes(): Uint8Array {
    return concat(this.chunks);
  }
}

export function concat(parts: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const p of parts) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** Reads SSH wire fields; every read is bounds-checked and throws `SshFormatError` past the end. */
export class SshReader {
  private offset = 0;
  private readonly view: DataView;

  constructor(private readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get done(): boolean {
    return this.offset >= this.bytes.length;
  }

  private need(n: number): void {
    if (this.offset + n > this.bytes.length) throw new SshFormatError("truncated");
  }

  byte(): number {
    this.need(1);
    return this.bytes[this.offset++]!;
  }

  uint32(): number {
    this.need(4);
    const v = this.view.getUint32(this.offset);
    this.offset += 4;
    return v;
  }

  uint64(): bigint {
    this.need(8);
    const v = this.view.getBigUint64(this.offset);
    this.offset += 8;
    return v;
  }

  string(): Uint8Array {
    const n = this.uint32();
    this.need(n);
    const v = this.bytes.subarray(this.offset, this.offset + n);
    this.offset += n;
    return v;
  }

  text(): string {
    return new TextDecoder("utf-8", { fatal: true }).decode(this.string());
  }

  /** What is left, unread. */
  rest(): Uint8Array {
    const v = this.bytes.subarray(this.offset);
    this.offset = this.bytes.length;
    return v;
  }
}

export class SshFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "SshFormatError";
  }
}
