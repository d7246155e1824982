/**
 * @module
 * What the API lends from the process that serves it: the depot's issuing
 * and revoking, the ledger's tokens and certificates. An interface, so the
 * routes are tested without a socket and a PostgreSQL ledger plugs in behind.
 */
import type { AuditActor } from "../../ca/audit.ts";
import type { RevocationReason } from "../../ca/crl.ts";
import type { RequestedCertificate } from "../../ca/csr.ts";
import type { IssueRequest, Issued } from "../../ca/depot.ts";
import type { CertificateRecord, CertificateSummary } from "../../ca/ledger.ts";
import type { Templates } from "../../ca/templates.ts";
import type { TokenStore } from "../../ca/tokens.ts";
import type { SshIssueRequest } from "../../ca/ssh/issue.ts";
import type { SshCertificateRecord } from "../../ca/ssh/store.ts";

/** Who asked, for the audit trail: `token:NAME` and the client's address. */
export type Requester = AuditActor;

export type StatusFilter = "valid" | "revoked" | "expired";

export interface CertificatePage {
  certificates: CertificateSummary[];
  /** Give as `cursor` for the next page; absent on the last one. */
  next?: string;
}

export interface RenewalSettings {
  /** 0: an expired certificate is refused (`depot start --renew-after-expiry`). */
  afterExpiryMs: number;
  /** No certificate outlives the CA. */
  caNotAfter: Date;
  /** The base URL clients reach the API at (--api-url): `aud` may name it. */
  apiUrl?: string;
}

export interface ApiServices {
  tokens: TokenStore;
  /** The CA certificate, PEM: the chain of every answer. */
  caPem: string;
  /** What a PKCS#12 answer carries after the leaf: the issuer, then the root in two tiers (default: `caPem` alone). */
  bundlePems?: string[];
  defaultDays: number;
  defaultKeyType: string;
  /** The depot's templates (the built-ins and depot.cnf's): what a request's `template`, a token's and an EST label name. */
  templates: Templates;
  /** A fresh key and a certificate, recorded (with its audit record) before it is answered. */
  issue(request: IssueRequest, requester: Requester): Promise<Issued & { privateKeyPem: string }>;
  /** Reads and checks a PEM certificate request (signature, key, subject). */
  readCsr(pem: string): Promise<RequestedCertificate>;
  /** Signs a checked request's key with the given profile, subject and names. */
  signCsr(requested: RequestedCertificate, request: Omit<IssueRequest, "keyType">, requester: Requester): Promise<Issued>;
  /** A certificate by its serial (lower-case hex, as the ledger keys it). */
  find(serial: string): Promise<CertificateRecord | undefined>;
  /** Certificates in issue order, `limit` at a time. */
  page(filter: StatusFilter | undefined, cursor: string | undefined, limit: number, now: Date): Promise<CertificatePage>;
  /** Revokes and republishes the CRL. */
  revoke(serial: string, reason: RevocationReason, requester: Requester): Promise<{ record: CertificateRecord; crlNumber?: number }>;
  /** Signs and records an SSH certificate with the depot's SSH CA of its kind; absent where SSH is not served. */
  signSsh?(request: SshIssueRequest): Promise<SshCertificateRecord>;
  /** Revokes an SSH certificate; the KRL follows (at once, or within the upkeep's next poll in a server). */
  revokeSsh?(serial: string, reason: RevocationReason, requester: Requester): Promise<SshCertificateRecord>;
  /** `POST /v1/renew` (renew.ts): how long after expiry a certificate is still renewed, the CA's end, the --api-url. Absent: 404. */
  renewal?: RenewalSettings;
  /** Prometheus text for `/v1/metrics`, when the server has a metrics registry. */
  metrics?(): Promise<string>;
  now(): Date;
}
