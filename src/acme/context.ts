/**
 * @module What every ACME handler shares: the store, the CA, the policy and
 * the URLs of one request (absolute, from `--api-url` or the request's
 * origin), and the answer helpers that put Replay-Nonce, Link rel="index"
 * and Cache-Control on every response.
 */

import { hostname } from "node:os";
import type { AcmeIssuer } from "./issuer.ts";
import type { Nonces } from "./nonces.ts";
import type { NamePolicy } from "./policy.ts";
import type { AcmeStore } from "../ca/acme-store.ts";
import type { ValidationQueue } from "./validation-queue.ts";
import type { Challenge, ChallengeType, Identifier } from "./types.ts";

export interface Settings {
  /** Certificate lifetime in days. */
  days: number;
  requireEab: boolean;
  ordersPerHour: number;
  termsOfService?: string;
  /** How long a challenge may stay `processing` before another worker takes it over (its validator died). */
  staleValidationMs: number;
}

export interface Shared {
  store: AcmeStore;
  issuer: AcmeIssuer;
  nonces: Nonces;
  policy: NamePolicy;
  queue: ValidationQueue;
  /** This worker's validations under way, by challenge id: a second POST of the same challenge waits for the first's. */
  validating: Map<string, RunningValidation>;
  validate: (type: ChallengeType, identifier: Identifier, token: string, thumbprint: string) => Promise<void>;
  settings: Settings;
  now: () => number;
}

/** A validation this worker runs: settled once its outcome is recorded (or found already recorded by another). */
export interface RunningValidation {
  done: Promise<void>;
  /** The challenge as this validation's finish wrote it; unset until then, or when it was not this validation's to finish. */
  finished?: Challenge;
}

/** This process as a claim owner: host:pid. */
export const OWNER = `${hostname()}:${process.pid}`;

/**
 * Whether a claim's owner is a process of this host that no longer runs (a
 * SIGKILLed worker): its claim can be taken over at once. Another host's
 * claims wait out their deadline.
 */
export function deadOwner(owner: string | undefined): string | undefined {
  if (!owner || owner === OWNER) return undefined;
  const at = owner.lastIndexOf(":");
  if (owner.slice(0, at) !== hostname()) return undefined;
  try {
    process.kill(Number(owner.slice(at + 1)), 0);
    return undefined;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "ESRCH" ? owner : undefined;
  }
}

/** The absolute URLs of one request's server, e.g. https://ca.example:8443/acme. */
export class Urls {
  constructor(readonly base: string) {}
  readonly directory = () => `${this.base}/directory`;
  readonly newNonce = () => `${this.base}/new-nonce`;
  readonly newAccount = () => `${this.base}/new-account`;
  readonly newOrder = () => `${this.base}/new-order`;
  readonly revokeCert = () => `${this.base}/revoke-cert`;
  readonly keyChange = () => `${this.base}/key-change`;
  readonly renewalInfo = () => `${this.base}/renewal-info`;
  readonly accountPrefix = () => `${this.base}/account/`;
  readonly account = (id: string) => `${this.base}/account/${id}`;
  readonly orders = (accountId: string) => `${this.base}/account/${accountId}/orders`;
  readonly order = (id: string) => `${this.base}/order/${id}`;
  readonly finalize = (id: string) => `${this.base}/order/${id}/finalize`;
  readonly authorization = (id: string) => `${this.base}/authz/${id}`;
  readonly challenge = (id: string) => `${this.base}/chall/${id}`;
  readonly certificate = (serial: string) => `${this.base}/cert/${serial}`;
}

/** What the listener knows of the request beyond the Request itself. */
export interface RequestContext {
  /**
   * The client's IP address, asked for only by what records it (finalize,
   * revokeCert): reading it is a getpeername per call, and the other six
   * requests of a lego order need none.
   */
  clientAddress?: () => string | undefined;
}

export interface Answer {
  status: number;
  body?: unknown;
  /** A PEM chain instead of JSON. */
  pem?: string;
  headers?: Record<string, string>;
}
