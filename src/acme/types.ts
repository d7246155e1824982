/**
 * @module The ACME objects as depot keeps them (RFC 8555 7.1): accounts,
 * orders, authorizations, challenges and external account binding keys.
 * The domain owns them (src/ca/acme-store.ts, beside the store interface);
 * the ACME face imports them from here.
 */
export type {
  Account,
  AccountStatus,
  Authorization,
  AuthorizationStatus,
  Challenge,
  ChallengeStatus,
  ChallengeType,
  EabKey,
  Identifier,
  Order,
  OrderStatus,
} from "../ca/acme-store.ts";
