/**
 * @module The ACME objects as depot keeps them (RFC 8555 7.1): accounts,
 * orders, authorizations, challenges and external account binding keys.
 * Times are milliseconds since the epoch.
 */

import type { ProblemDocument } from "./problem.ts";

export interface Identifier {
  type: "dns" | "ip";
  value: string;
}

export type AccountStatus = "valid" | "deactivated" | "revoked";
export type OrderStatus = "pending" | "ready" | "processing" | "valid" | "invalid";
export type AuthorizationStatus = "pending" | "valid" | "invalid" | "deactivated" | "expired" | "revoked";
export type ChallengeStatus = "pending" | "processing" | "valid" | "invalid";
export type ChallengeType = "http-01" | "dns-01" | "tls-alpn-01";

export interface Account {
  id: string;
  /** The account key as a public JWK (JSON). */
  jwk: Record<string, unknown>;
  /** RFC 7638 thumbprint of the key: the key authorisation's second half, and unique per account. */
  thumbprint: string;
  status: AccountStatus;
  contact: string[];
  termsOfServiceAgreed: boolean;
  /** The external account binding key it was created with, whose name policy applies to it. */
  eabKid?: string;
  createdAt: number;
}

export interface Order {
  id: string;
  accountId: string;
  status: OrderStatus;
  identifiers: Identifier[];
  authorizationIds: string[];
  expires: number;
  notBefore?: number;
  notAfter?: number;
  error?: ProblemDocument;
  /** The issued certificate's serial (ledger form) once valid. */
  certificateSerial?: string;
  /** The ARI certID of a certificate this order replaces (RFC 9773 5). */
  replaces?: string;
  createdAt: number;
  /** When finalize claimed it (status processing), to tell a crashed finalize from a running one. */
  processingSince?: number;
  /** Which process claimed it (host:pid), so a claim by a dead worker on this host is taken over at once. */
  processingBy?: string;
}

export interface Authorization {
  id: string;
  accountId: string;
  orderId: string;
  identifier: Identifier;
  wildcard: boolean;
  status: AuthorizationStatus;
  expires: number;
}

export interface Challenge {
  id: string;
  authorizationId: string;
  type: ChallengeType;
  token: string;
  status: ChallengeStatus;
  validated?: number;
  error?: ProblemDocument;
  /** When a validator claimed it; a claim older than the validation deadline is taken over (the worker died). */
  processingSince?: number;
  processingBy?: string;
}

export interface EabKey {
  kid: string;
  name: string;
  /** The HMAC key, raw bytes. */
  hmacKey: Uint8Array;
  /** Name patterns this binding allows (empty: the server's policy alone). */
  allow: string[];
  createdAt: number;
  /** The account bound with it; a key binds one account. */
  accountId?: string;
}
