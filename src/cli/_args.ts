/**
 * @module
 * Option values turned into numbers and choices, in one place, so every
 * command words the same mistake the same way, naming the option:
 * `--days must be a whole number from 1 to 36500, not '-5'`.
 */
import { MAX_DAYS } from "../ca/defaults.ts";
import { DepotError } from "../errors.ts";
import { lastOf } from "./_strict.ts";

export interface NumberRange {
  min: number;
  max: number;
  /** What one unit is called in the message: "days", "seconds". */
  unit?: string;
}

/** A whole number within `range`, from an option's text. */
export function wholeNumber(option: string, text: string, range: NumberRange): number {
  const trimmed = text.trim();
  const value = /^[+-]?\d+$/.test(trimmed) ? Number(trimmed) : Number.NaN;
  if (!Number.isSafeInteger(value) || value < range.min || value > range.max) {
    const unit = range.unit ? ` of ${range.unit}` : "";
    throw new DepotError("E_BAD_ARGUMENT", `--${option} must be a whole number${unit} from ${range.min} to ${range.max}, not '${text}'`);
  }
  return value;
}

/** An optional `--days`-like option: undefined when not given. */
export function daysOption(args: Record<string, unknown>, option: string): number | undefined {
  const text = lastOf(args[option]);
  return text === undefined ? undefined : wholeNumber(option, text, { min: 1, max: MAX_DAYS, unit: "days" });
}

/** An optional string option given at most once (rejectUnknownArgs refuses repeats). */
export function stringOption(args: Record<string, unknown>, option: string): string | undefined {
  return lastOf(args[option]);
}
