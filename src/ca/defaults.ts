/** Validity defaults, in days. */
export const DEFAULT_LEAF_DAYS = 365;
export const DEFAULT_CA_DAYS = 3650;
