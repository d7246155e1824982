/**
 * @module
 * The settings of the plain-HTTP face as `start` and `init` read them:
 * light (no crypto, no ASN.1), so the supervisor can check them without
 * loading what only workers need.
 */
import { DepotError } from "../../errors.ts";

/** `--ocsp-validity`: seconds, or a number with s, m, h or d; from one minute to seven days. */
export function parseOcspValidity(text: string): number {
  const match = /^(\d+)\s*([smhd]?)$/i.exec(text.trim());
  const seconds = match ? Number(match[1]) * { "": 1, s: 1, m: 60, h: 3600, d: 86_400 }[match[2]!.toLowerCase() as "" | "s" | "m" | "h" | "d"] : NaN;
  if (!(seconds >= 60 && seconds <= 7 * 86_400)) {
    throw new DepotError("E_BAD_ARGUMENT", `--ocsp-validity must be from 1m to 7d (seconds, or a number with s, m, h or d), not '${text}'`);
  }
  return seconds;
}
