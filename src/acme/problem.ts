/**
 * @module ACME problem documents (RFC 8555 6.7, RFC 7807): the one error
 * type the ACME server throws, turned into an `application/problem+json`
 * answer by the router; anything else thrown becomes one by the policy
 * every face shares (`problemOf`, from `publicError`).
 */
import { DepotError } from "../errors.ts";
import { type ErrorKind, publicError } from "../public-error.ts";

/** The ACME error types depot answers with (urn:ietf:params:acme:error:TYPE). */
export type AcmeErrorType =
  | "accountDoesNotExist"
  | "alreadyRevoked"
  | "badCSR"
  | "badNonce"
  | "badPublicKey"
  | "badRevocationReason"
  | "badSignatureAlgorithm"
  | "connection"
  | "dns"
  | "externalAccountRequired"
  | "incorrectResponse"
  | "invalidContact"
  | "malformed"
  | "orderNotReady"
  | "rateLimited"
  | "rejectedIdentifier"
  | "serverInternal"
  | "tls"
  | "unauthorized"
  | "unsupportedContact"
  | "unsupportedIdentifier";

const STATUS: Partial<Record<AcmeErrorType, number>> = {
  accountDoesNotExist: 400,
  orderNotReady: 403,
  rateLimited: 429,
  serverInternal: 500,
  unauthorized: 403,
};

export interface ProblemDocument {
  type: string;
  detail: string;
  status?: number;
  subproblems?: ProblemDocument[];
  identifier?: { type: string; value: string };
}

export class AcmeProblem extends Error {
  constructor(
    readonly kind: AcmeErrorType,
    detail: string,
    readonly options: { status?: number; retryAfterSeconds?: number; headers?: Record<string, string>; identifier?: { type: string; value: string }; subproblems?: ProblemDocument[] } = {},
  ) {
    super(detail);
    this.name = "AcmeProblem";
  }

  get status(): number {
    return this.options.status ?? STATUS[this.kind] ?? 400;
  }

  toDocument(): ProblemDocument {
    return {
      type: `urn:ietf:params:acme:error:${this.kind}`,
      detail: this.message,
      status: this.status,
      ...(this.options.identifier ? { identifier: this.options.identifier } : {}),
      ...(this.options.subproblems ? { subproblems: this.options.subproblems } : {}),
    };
  }
}

export const problem = (kind: AcmeErrorType, detail: string, options?: AcmeProblem["options"]) => new AcmeProblem(kind, detail, options);

/** Each kind of failure's ACME type; a busy or unreachable ledger is serverInternal with 503 and Retry-After (RFC 8555 has no "unavailable"). */
const TYPE_OF_KIND: Record<ErrorKind, AcmeErrorType> = {
  "bad-request": "malformed",
  unauthorized: "unauthorized",
  forbidden: "unauthorized",
  "not-found": "malformed",
  conflict: "malformed",
  unavailable: "serverInternal",
  internal: "serverInternal",
};

/** Anything thrown, as the problem the client gets: an AcmeProblem as it is, anything else by the one policy (public-error.ts). */
export function problemOf(error: unknown): AcmeProblem {
  if (error instanceof AcmeProblem) return error;
  const failure = publicError(error);
  const code = error instanceof DepotError ? error.code : undefined;
  const type = code === "E_BAD_CSR" ? "badCSR" : code === "E_ALREADY_REVOKED" ? "alreadyRevoked" : TYPE_OF_KIND[failure.kind];
  return new AcmeProblem(type, failure.message, { status: failure.status, ...(failure.retryAfter === undefined ? {} : { retryAfterSeconds: failure.retryAfter }) });
}
