/**
 * @module Where a server remembers which of its nonces were spent: the
 * seam between the nonce format (`nonces.ts`) and what keeps replays out.
 * The ledger's book (here) serves every host of a PostgreSQL depot and any
 * ACME server made in code; one server's workers on a SQLite depot share
 * a book in memory (`shared-nonce-book.ts`), which spares every signed
 * request a write transaction.
 */

import { randomBytes } from "node:crypto";
import type { AcmeStore, NonceTimes } from "../ca/acme-store.ts";

export interface NonceBook {
  /** The key every nonce is MACed with, the same for every process that shares the book. */
  secret(): Promise<Uint8Array>;
  /** Fills the 8 bytes of a new nonce's body after its issue time. */
  mint(into: Uint8Array): void;
  /**
   * Marks a genuine, unexpired nonce spent (its MAC and age are checked
   * already): true the first time, false for a replay or one the book can
   * no longer vouch for. `body` is its 16 bytes: issue time, then `mint`'s.
   */
  spend(nonce: string, body: Uint8Array, times: NonceTimes): Promise<boolean>;
}

/** Spent nonces as rows of the ledger (`AcmeStore.useNonce`), the secret in the ledger too: valid on every host and after a restart. */
export class LedgerNonceBook implements NonceBook {
  constructor(private readonly store: AcmeStore) {}

  secret(): Promise<Uint8Array> {
    return this.store.nonceSecret();
  }

  mint(into: Uint8Array): void {
    into.set(randomBytes(8));
  }

  spend(nonce: string, _body: Uint8Array, times: NonceTimes): Promise<boolean> {
    return this.store.useNonce(nonce, times);
  }
}
