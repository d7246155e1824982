/**
 * @module
 * The ACME server's records as a ledger keeps them (RFC 8555 7.1: accounts,
 * orders, authorizations, challenges, external account binding keys) and
 * `AcmeStore`, what a ledger offers to keep them (`Ledger.acme`). They live
 * in the domain, beside `Ledger`, so the backends (src/store/) implement
 * them without importing the ACME face. Times are milliseconds since the epoch.
 */

/** An RFC 7807 problem as stored on an order or a challenge (the ACME face's ProblemDocument has this shape). */
export interface AcmeProblemRecord {
  type: string;
  detail: string;
  status?: number;
  subproblems?: AcmeProblemRecord[];
  identifier?: { type: string; value: string };
}

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
  error?: AcmeProblemRecord;
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
  error?: AcmeProblemRecord;
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

export interface NonceTimes {
  issuedAt: number;
  now: number;
  forgetBefore: number;
}

export interface AcmeStore {
  /** The secret nonces are MACed with, made once per depot and shared by every worker. */
  nonceSecret(): Promise<Uint8Array>;
  /**
   * Marks a nonce used; false if it was used before (a replay). `issuedAt`
   * is the time the nonce carries, `now` the time of its use. A store may
   * forget nonces issued or used before `forgetBefore`: the caller refuses
   * those by their age, used or not.
   */
  useNonce(nonce: string, times: NonceTimes): Promise<boolean>;

  /** Creates the account, binding the EAB key in the same transaction; if the key is already taken returns "eab-used", if the thumbprint is taken, the existing account. */
  createAccount(account: Account): Promise<Account | "eab-used">;
  accountById(id: string): Promise<Account | undefined>;
  accountByThumbprint(thumbprint: string): Promise<Account | undefined>;
  updateAccount(id: string, change: { contact?: string[]; status?: AccountStatus }): Promise<Account | undefined>;
  /** Replaces the account's key; false if another account holds the new key. */
  changeKey(id: string, jwk: Record<string, unknown>, thumbprint: string): Promise<boolean>;

  /** Orders made by the account since `since`, and the oldest of them (for Retry-After). */
  ordersSince(accountId: string, since: number): Promise<{ count: number; oldest?: number }>;
  createOrder(order: Order, authorizations: Authorization[], challenges: Challenge[]): Promise<void>;
  /** The ids of the account's orders not yet expired (the account's orders list, RFC 8555 7.1.2.1). */
  ordersOf(accountId: string, now: number): Promise<string[]>;
  order(id: string): Promise<Order | undefined>;
  orderBySerial(serial: string): Promise<Order | undefined>;
  authorization(id: string): Promise<Authorization | undefined>;
  authorizationsOf(orderId: string): Promise<Authorization[]>;
  challenge(id: string): Promise<Challenge | undefined>;
  challengesOf(authorizationId: string): Promise<Challenge[]>;
  /** Takes a pending challenge (or one whose validator died: claimed before `staleBefore`, or by `deadOwner`) for `owner`; false if another holds it. */
  claimChallenge(id: string, claim: Claim): Promise<boolean>;
  /**
   * Records a validation's outcome on the challenge and its authorization
   * together, in one write: when the challenge is still pending under a
   * pending authorization (a check that ended within the POST's quick wait,
   * never claimed), or in processing under `owner`'s claim. False, and
   * nothing written, when it is neither: another validator finished it or
   * took it over.
   */
  finishChallenge(id: string, outcome: ChallengeOutcome): Promise<boolean>;
  setAuthorizationStatus(id: string, status: AuthorizationStatus): Promise<void>;
  /** Whether the account holds a valid, unexpired authorization for each identifier (revocation, RFC 8555 7.6). */
  hasValidAuthorizations(accountId: string, identifiers: Identifier[], now: number): Promise<boolean>;
  addEabKey(key: EabKey): Promise<void>;
  eabKey(kid: string): Promise<EabKey | undefined>;
  close(): void;
}

export interface ChallengeOutcome {
  status: "valid" | "invalid";
  error?: AcmeProblemRecord;
  at: number;
  /** The validator: its claim, if it made one, is what may be finished. */
  owner: string;
}

export interface Claim {
  now: number;
  owner: string;
  staleBefore: number;
  deadOwner?: string;
}
