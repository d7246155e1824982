/**
 * @module ACME problem documents (RFC 8555 6.7, RFC 7807): the one error
 * type the ACME server throws, turned into an `application/problem+json`
 * answer by the router.
 */

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
