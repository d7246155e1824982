/**
 * @module ACME defaults, apart from the server so that `depot start` (the
 * supervisor) reads its flags without loading the ACME server.
 */

/** Seven days: short enough that a leaked key or a mis-issuance ages out within a week even where nobody checks revocation; ACME clients renew on their own. */
export const DEFAULT_ACME_DAYS = 7;
export const DEFAULT_ORDERS_PER_HOUR = 300;
