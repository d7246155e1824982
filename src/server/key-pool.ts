import { availableParallelism } from "node:os";
import { KEY_SPECS, type KeyType } from "../ca/key-types.ts";
import { lowerHelperThreads } from "./helper-threads.ts";
import { generateKeyPair, type KeyPair } from "../ca/keys.ts";

/**
 * Where a worker gets the key pairs it hands out.
 *
 * - A pool of fresh pairs made ahead, so a burst of `generate` requests
 *   costs one signature each rather than a key generation (an RSA-2048 key
 *   takes tens of milliseconds). Keys live in memory only and each is handed
 *   out once. Filling waits until no key was asked for in the last
 *   IDLE_MS, then makes one key at a time: it never takes a core from a
 *   burst it is serving, and under sustained load the pool stays empty.
 * - A limit on keys made at once. RSA keys are made on node:crypto's
 *   thread pool, off the event loop: as many at once as there are cores,
 *   on threads lowered below the event loop (helper-threads.ts), so that a
 *   worker holding all the requests uses every core (one key at a time per
 *   worker left a core idle whenever the other held them all: 0.84-0.89 of
 *   the reference's rate with 8 clients) and `help` does not wait behind
 *   them (at equal priority, with four such threads per worker, it waited
 *   up to 280 ms). Other keys take tens of microseconds: `concurrency` at
 *   once (cores / workers), on threads left as they are (lowered, they made
 *   EC issuance slower under load).
 */
const IDLE_MS = 50;

export class KeyPool {
  private readonly ready: KeyPair[] = [];
  private readonly queue: (() => void)[] = [];
  private running = 0;
  private waiting = 0;
  private stopped = false;
  private lastDemand = 0;
  private idleTimer: Timer | undefined;

  /** Whether keys are RSA, made on lowered threads, as many at once as there are cores. */
  private readonly rsa: boolean;
  /** Keys made at once. */
  private readonly slots: number;

  constructor(
    readonly type: KeyType,
    readonly capacity: number,
    readonly concurrency: number,
  ) {
    this.rsa = KEY_SPECS[type].family === "rsa";
    this.slots = this.rsa ? Math.max(concurrency, availableParallelism()) : concurrency;
  }

  get size(): number {
    return this.ready.length;
  }

  /** Keys being made right now. */
  get making(): number {
    return this.running;
  }

  /** A key pair from the pool, or a freshly made one when it is empty. */
  async take(): Promise<KeyPair> {
    this.lastDemand = performance.now();
    const pooled = this.ready.pop();
    if (pooled) {
      this.fill();
      return pooled;
    }
    this.waiting++;
    try {
      return await this.make();
    } finally {
      this.waiting--;
      this.fill();
    }
  }

  /** Tops the pool up, one key at a time, once nobody has asked for a key for IDLE_MS. */
  fill(): void {
    if (this.stopped || this.waiting > 0 || this.running > 0 || this.ready.length >= this.capacity) return;
    const quietFor = performance.now() - this.lastDemand;
    if (quietFor < IDLE_MS) {
      this.idleTimer ??= setTimeout(() => {
        this.idleTimer = undefined;
        this.fill();
      }, IDLE_MS - quietFor);
      return;
    }
    this.make().then(
      (keyPair) => {
        if (!this.stopped) this.ready.push(keyPair);
        this.fill();
      },
      () => {
        // A failed key is simply not pooled; requests make their own.
      },
    );
  }

  stop(): void {
    this.stopped = true;
    this.ready.length = 0;
    clearTimeout(this.idleTimer);
  }

  /** Makes one key pair, waiting for a turn when `concurrency` are being made. */
  private async make(): Promise<KeyPair> {
    if (this.running >= this.slots) await new Promise<void>((turn) => this.queue.push(turn));
    this.running++;
    try {
      const made = generateKeyPair(this.type);
      // The pool starts its threads as work arrives: lower any new one.
      if (this.rsa) lowerHelperThreads();
      return await made;
    } finally {
      this.running--;
      this.queue.shift()?.();
    }
  }
}
