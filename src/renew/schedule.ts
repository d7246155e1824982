/**
 * @module
 * When `depot renew --daemon` renews, checks and retries, as pure functions
 * of the certificate's validity, the options and an injected random number,
 * so `test/unit-renew-schedule.test.ts` checks them without waiting.
 */

export interface Validity {
  notBefore: Date;
  notAfter: Date;
}

/** The share of the life gone when a certificate is renewed. */
export const RENEW_AT_FRACTION = 2 / 3;
/** Renewals are spread over up to a twentieth of the life, at most six hours, earlier than due: certificates issued together do not all come back in the same second. */
export const JITTER_FRACTION = 1 / 20;
export const MAX_JITTER_MS = 6 * 3_600_000;
/** Checks once an hour, or ten times in the life of a shorter certificate. */
export const DEFAULT_CHECK_MS = 3_600_000;
/** After the n-th failure in a row, wait FIRST_RETRY * 2^(n-1), at most MAX_RETRY. */
export const FIRST_RETRY_MS = 10_000;
export const MAX_RETRY_MS = 3_600_000;

/**
 * When to renew: once two thirds of the life are gone, or `renewBeforeMs`
 * before the end if that comes first, brought forward by `jitter` (0 to 1)
 * times the spread.
 */
export function renewalDue(validity: Validity, renewBeforeMs: number | undefined, jitter: number): Date {
  const start = validity.notBefore.getTime();
  const end = validity.notAfter.getTime();
  const life = Math.max(0, end - start);
  let due = start + life * RENEW_AT_FRACTION;
  if (renewBeforeMs !== undefined) due = Math.min(due, end - renewBeforeMs);
  const spread = Math.min(life * JITTER_FRACTION, MAX_JITTER_MS);
  return new Date(Math.floor(due - Math.min(1, Math.max(0, jitter)) * spread));
}

/**
 * The same for a certificate this daemon has just been given: `--renew-before`
 * is left out when it would make the new certificate due at once (it is
 * longer than what the CA gives), so the daemon does not renew on every
 * check; two thirds of the life still hold.
 */
export function renewalDueAfterRenewal(validity: Validity, renewBeforeMs: number | undefined, jitter: number, now: Date): Date {
  const due = renewalDue(validity, renewBeforeMs, jitter);
  return due <= now ? renewalDue(validity, undefined, jitter) : due;
}

/** How often to look at the certificate: `everyMs` when given, else an hour or a tenth of the life, whichever is shorter (at least a second). */
export function checkInterval(validity: Validity, everyMs: number | undefined): number {
  if (everyMs !== undefined) return everyMs;
  const life = validity.notAfter.getTime() - validity.notBefore.getTime();
  return Math.max(1_000, Math.min(DEFAULT_CHECK_MS, Math.floor(life / 10)));
}

/** How long to wait after the `failures`-th failure in a row: doubling from 10 s (or `everyMs`, if shorter), at most an hour. */
export function retryDelay(failures: number, everyMs: number | undefined): number {
  const first = Math.min(FIRST_RETRY_MS, everyMs ?? FIRST_RETRY_MS);
  return Math.min(MAX_RETRY_MS, first * 2 ** Math.min(30, Math.max(0, failures - 1)));
}

/** How long to sleep before the next look: until due, but no longer than the check interval. 0 when due. */
export function nextWakeMs(now: Date, due: Date, intervalMs: number): number {
  return Math.max(0, Math.min(intervalMs, due.getTime() - now.getTime()));
}
