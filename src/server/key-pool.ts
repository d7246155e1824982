import type { KeyType } from "../ca/key-types.ts";
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
 * - A limit on keys made at once. RSA keys are made on node:crypto's thread
 *   pool, off the event loop, but with every worker running four such
 *   threads the event loop's thread gets a fifth of a core and `help` waits.
 *   With one key at a time per worker (cores / workers), the cores are as
 *   busy and the loop stays responsive.
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

  constructor(
    readonly type: KeyType,
    readonly capacity: number,
    readonly concurrency: number,
  ) {}

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
    if (this.running >= this.concurrency) await new Promise<void>((turn) => this.queue.push(turn));
    this.running++;
    try {
      return await generateKeyPair(this.type);
    } finally {
      this.running--;
      this.queue.shift()?.();
    }
  }
}
