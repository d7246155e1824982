/**
 * @module A nonce book in memory that one server's workers share: a file the
 * supervisor makes and unlinks at once, handed to each worker as an open
 * descriptor and mapped by all (`Bun.mmap`, MAP_SHARED). Boulder's nonce
 * service keeps its nonces the same way: a counter, and which of the most
 * recent ones were spent.
 *
 * A nonce's 8 bytes from this book are a counter (4 bytes, from one atomic
 * add in the mapping) and 4 zero bytes. The mapping holds one bit for each
 * of the last `window` counters: spending a nonce sets its bit with one
 * atomic OR, so two workers spending the same nonce at the same instant
 * cannot both see it unset. A nonce older than the window is refused (the
 * client retries with the Replay-Nonce of the answer); its slot belongs to
 * a newer nonce, which cleared the bit as it was minted.
 *
 * What this spares, against the ledger's book: a write transaction on
 * every signed request (measured in docs/performance.md, issue 23). What it
 * gives up: nonces do not outlive the server (each start makes a new
 * secret), and a PostgreSQL depot's other hosts would not know them, so the
 * supervisor makes one for SQLite depots only (`sharedNonceBook` in
 * src/server/index.ts).
 */

import { closeSync, ftruncateSync, openSync, unlinkSync, writeSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import type { NonceBook } from "./nonce-book.ts";
import { DepotError } from "../errors.ts";

const MAGIC = "depot nonce book";
/** Where things are, in 32-bit words: the header, the secret's bytes, the counter, the bits. */
const WINDOW_LOG2_WORD = 4;
const SECRET_BYTE = 32;
const SECRET_LENGTH = 32;
const COUNTER_WORD = 16;
const BITS_WORD = 1024;

/** The last 2^20 nonces handed out can be spent: at ~10 a lego order, the nonces of 100,000 orders. */
export const DEFAULT_WINDOW_LOG2 = 20;

/**
 * Makes a book with a new secret and returns its open descriptor. The file
 * is made private in `folder` and unlinked at once: it lives while a
 * process holds it open or mapped, and nothing is left behind after a crash.
 */
export function createNonceBookFile(folder: string, windowLog2 = DEFAULT_WINDOW_LOG2): number {
  const path = join(folder, `.nonce-book-${process.pid}-${randomBytes(6).toString("hex")}`);
  const fd = openSync(path, "wx+", 0o600);
  try {
    unlinkSync(path);
    const header = Buffer.alloc(BITS_WORD * 4);
    header.write(MAGIC, 0, "latin1");
    header.writeUInt32LE(windowLog2, WINDOW_LOG2_WORD * 4);
    randomBytes(SECRET_LENGTH).copy(header, SECRET_BYTE);
    writeSync(fd, header, 0, header.length, 0);
    ftruncateSync(fd, header.length + (2 ** windowLog2) / 8);
    return fd;
  } catch (error) {
    closeSync(fd);
    throw error;
  }
}

export class SharedNonceBook implements NonceBook {
  private readonly words: Int32Array;
  private readonly window: number;
  private readonly key: Uint8Array;

  /** Maps the book at `path` (a worker's `/dev/fd/N`). */
  static open(path: string): SharedNonceBook {
    let mapping: Uint8Array;
    try {
      mapping = Bun.mmap(path, { shared: true });
    } catch (error) {
      throw new DepotError("E_SERVER", `cannot map the ACME nonce book ${path}: ${(error as Error).message}`);
    }
    return new SharedNonceBook(mapping);
  }

  constructor(mapping: Uint8Array) {
    const header = Buffer.from(mapping.buffer, mapping.byteOffset, Math.min(mapping.byteLength, BITS_WORD * 4));
    const windowLog2 = header.length === BITS_WORD * 4 ? header.readUInt32LE(WINDOW_LOG2_WORD * 4) : 0;
    if (header.toString("latin1", 0, MAGIC.length) !== MAGIC || windowLog2 < 5 || windowLog2 > 30 || mapping.byteLength < BITS_WORD * 4 + 2 ** windowLog2 / 8) {
      throw new DepotError("E_SERVER", "the ACME nonce book handed to this worker is not one");
    }
    this.words = new Int32Array(mapping.buffer, mapping.byteOffset, mapping.byteLength >>> 2);
    this.window = 2 ** windowLog2;
    this.key = Uint8Array.from(header.subarray(SECRET_BYTE, SECRET_BYTE + SECRET_LENGTH));
  }

  async secret(): Promise<Uint8Array> {
    return this.key;
  }

  mint(into: Uint8Array): void {
    // The counter moves on before the slot is cleared: spend() relies on it.
    const counter = Atomics.add(this.words, COUNTER_WORD, 1) >>> 0;
    const slot = counter & (this.window - 1);
    Atomics.and(this.words, BITS_WORD + (slot >>> 5), ~(1 << (slot & 31)));
    // Big-endian, by hand: a DataView and random bytes per nonce were ~1 % of
    // a worker under lego. The other 4 bytes stay zero: the counter makes a
    // nonce unique within the book, and the book's secret differs each start.
    into[0] = counter >>> 24;
    into[1] = (counter >>> 16) & 0xff;
    into[2] = (counter >>> 8) & 0xff;
    into[3] = counter & 0xff;
    into.fill(0, 4, 8);
  }

  async spend(_nonce: string, body: Uint8Array, _times: unknown): Promise<boolean> {
    const counter = ((body[8]! << 24) | (body[9]! << 16) | (body[10]! << 8) | body[11]!) >>> 0;
    if (!this.recent(counter)) return false;
    const slot = counter & (this.window - 1);
    const bit = 1 << (slot & 31);
    if (Atomics.or(this.words, BITS_WORD + (slot >>> 5), bit) & bit) return false;
    // The bit was unset: either never spent, or cleared since by a newer
    // nonce minted into the slot, which moved the counter past this one first.
    return this.recent(counter);
  }

  /** Whether `counter` was handed out and is still within the window (arithmetic modulo 2^32: a wrapped counter is refused by its nonce's age). */
  private recent(counter: number): boolean {
    const age = (Atomics.load(this.words, COUNTER_WORD) - counter) >>> 0;
    return age >= 1 && age <= this.window;
  }
}
