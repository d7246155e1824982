/**
 * @module
 * Log once per burst: the same failure repeated (a full disk failing every
 * request) is logged the first time, then at most once per `quietMs` with a
 * count of how often it happened since.
 */
export class RepeatFilter {
  private last: { message: string; loggedAt: number; suppressed: number } | undefined;

  constructor(
    private readonly quietMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {}

  /** The line to log for this occurrence, or undefined to stay quiet. */
  admit(message: string): string | undefined {
    const now = this.now();
    const last = this.last;
    if (last && last.message === message && now - last.loggedAt < this.quietMs) {
      last.suppressed++;
      return undefined;
    }
    const repeats = last && last.message === message && last.suppressed > 0 ? ` (${last.suppressed} more since the last report)` : "";
    this.last = { message, loggedAt: now, suppressed: 0 };
    return `${message}${repeats}`;
  }

  /** The burst is over: the next failure is news. */
  clear(): void {
    this.last = undefined;
  }
}
