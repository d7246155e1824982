/**
 * @module
 * Durations as people type them on the command line (`90s`, `30m`, `12h`,
 * `7d`), for `depot renew` and `depot start --renew-after-expiry`; short
 * waits (`300ms`, `2s`) for `depot start --webhook-timeout`. Imports
 * only `errors.ts`, so the server's supervisor can read a flag with it
 * without loading node:crypto or SQLite (the token module's own
 * parseDuration, same grammar, sits beside the token store).
 */
import { DepotError } from "./errors.ts";

const UNITS: Record<string, number> = { s: 1_000, m: 60_000, min: 60_000, h: 3_600_000, d: 86_400_000 };

/** A whole number and s, m (min), h or d, from 1 s to 10 years, in milliseconds. `what` names the option in the message. */
export function parseDurationMs(text: string, what: string): number {
  const match = /^(\d+)\s*(s|m|min|h|d)$/i.exec(text.trim());
  const amount = Number(match?.[1]);
  const ms = match ? amount * UNITS[match[2]!.toLowerCase()]! : NaN;
  if (!(ms >= 1_000 && ms <= 3650 * 86_400_000)) {
    throw new DepotError("E_BAD_ARGUMENT", `${what} must be a duration (a whole number and s, m, h or d, e.g. 30m or 7d; at most 10 years), not '${text}'`);
  }
  return ms;
}

/**
 * A short wait, as `start --webhook-timeout` takes it: a whole number and
 * ms or s (`300ms`, `2s`), from `minMs` to `maxMs`, in milliseconds.
 */
export function parseTimeoutMs(text: string, what: string, minMs: number, maxMs: number): number {
  const match = /^(\d+)\s*(ms|s)$/i.exec(text.trim());
  const ms = match ? Number(match[1]) * (match[2]!.toLowerCase() === "s" ? 1_000 : 1) : NaN;
  if (!(ms >= minMs && ms <= maxMs)) {
    throw new DepotError("E_BAD_ARGUMENT", `${what} must be a whole number and ms or s from ${minMs} ms to ${maxMs / 1000} s (e.g. 500ms or 2s), not '${text}'`);
  }
  return ms;
}
