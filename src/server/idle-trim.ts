/**
 * @module
 * Gives memory back after a burst: once a worker has served requests and
 * then had none in flight for a whole tick, a full garbage collection runs,
 * so the heap a burst grew (the JavaScript objects of thousands of
 * certificates, answers and sockets) does not stay resident while the
 * server idles. Measured: see docs/performance.md (target 3).
 */
export class IdleTrim {
  private servedSinceTrim = 0;
  private readonly timer: ReturnType<typeof setInterval>;

  constructor(
    private readonly busy: () => boolean,
    everyMs = 1000,
  ) {
    this.timer = setInterval(() => this.tick(), everyMs);
    this.timer.unref();
  }

  /** One request served. */
  served(): void {
    this.servedSinceTrim++;
  }

  private tick(): void {
    if (this.servedSinceTrim === 0 || this.busy()) return;
    this.servedSinceTrim = 0;
    Bun.gc(true);
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
