/** @module Validity defaults, in days. */
export const DEFAULT_LEAF_DAYS = 365;
export const DEFAULT_CA_DAYS = 3650;
/** Longest validity depot issues, in days (100 years). */
export const MAX_DAYS = 36_500;
