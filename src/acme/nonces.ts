/**
 * @module Replay nonces (RFC 8555 6.5). A nonce is its issue time, 8 bytes
 * from the book (`nonce-book.ts`) and a MAC under the book's secret, so any
 * worker sharing the book recognises another's nonces without a write per
 * nonce handed out; only a nonce *used* is marked, once, in the book, so a
 * replay is refused by whichever worker sees it.
 */

import { createHmac, timingSafeEqual } from "node:crypto";
import type { NonceBook } from "./nonce-book.ts";

/** How long a nonce stays usable: long enough for a slow client, short enough to keep the used-nonce table small. */
export const NONCE_LIFETIME_MS = 60 * 60_000;

export class Nonces {
  /** The book's secret, kept here once read: it never changes for the process's life, and every answer needs it. */
  private secret?: Uint8Array;

  constructor(
    private readonly book: NonceBook,
    private readonly now: () => number = Date.now,
  ) {}

  async issue(): Promise<string> {
    const body = Buffer.alloc(16);
    body.writeBigUInt64BE(BigInt(this.now()), 0);
    this.book.mint(body.subarray(8));
    const mac = createHmac("sha256", this.secret ?? (await this.readSecret())).update(body).digest().subarray(0, 16);
    return Buffer.concat([body, mac]).toString("base64url");
  }

  /** Consumes a nonce: true only for a genuine, unexpired nonce seen for the first time. */
  async use(nonce: unknown): Promise<boolean> {
    if (typeof nonce !== "string" || !/^[A-Za-z0-9_-]{43}$/.test(nonce)) return false;
    const bytes = Buffer.from(nonce, "base64url");
    const body = bytes.subarray(0, 16);
    const mac = createHmac("sha256", this.secret ?? (await this.readSecret())).update(body).digest().subarray(0, 16);
    if (!timingSafeEqual(mac, bytes.subarray(16))) return false;
    const now = this.now();
    const issuedAt = Number(body.readBigUInt64BE(0));
    if (issuedAt > now + 60_000 || now - issuedAt > NONCE_LIFETIME_MS) return false;
    // Past this a nonce is refused by its age above, so the book need not remember it.
    return this.book.spend(nonce, body, { issuedAt, now, forgetBefore: now - NONCE_LIFETIME_MS - 60_000 });
  }

  private async readSecret(): Promise<Uint8Array> {
    return (this.secret = await this.book.secret());
  }
}
