/**
 * @module
 * The OCSP responder: answers a request from the ledger, signed by the CA.
 *
 * Speed comes from a cache keyed on the request's bytes: OCSP clients
 * (nginx, browsers, openssl without a nonce) send the same bytes for the
 * same certificate, so a repeated request costs a map lookup, not a parse
 * and a signature. A revocation
 * must still show within a second, whichever process made it (the CLI,
 * another worker, another server on the same depot): an entry's statuses
 * are looked up again in the ledger (a primary-key read) when the ledger
 * changed since they were (`changes`: `Ledger.changeVersion`), or at the
 * latest once they are RECHECK_MS old, and the response is re-signed when a
 * status changed or half its validity has passed. Requests with a nonce are
 * signed each time.
 */
import { createHash } from "node:crypto";
import { children, readElement } from "../ca/der.ts";
import type { Issuer } from "../ca/issuer.ts";
import type { CertificateRecord } from "../ca/ledger.ts";
import { type CertificateQuery, MalformedOcspRequest, type OcspQuery, parseOcspRequest } from "./request.ts";
import { type CertificateStatus, errorResponse, type OcspSigner, type ResponseStatusName, signedResponse } from "./response.ts";

export const DEFAULT_OCSP_VALIDITY_S = 3600;
/** A cached status is looked up again after this long: revocations show within it (plus one request). */
export const RECHECK_MS = 500;
const MAX_CACHED = 50_000;


/** One answer, ready for HTTP. */
export interface OcspAnswer {
  body: Uint8Array;
  responseStatus: ResponseStatusName;
  /** The first certificate's status, for metrics (successful answers only). */
  certificateStatus?: CertificateStatus["kind"];
  /** Set on successful answers; `cacheable` when no nonce made the answer unique (RFC 5019 caching). */
  thisUpdate?: Date;
  nextUpdate?: Date;
  etag?: string;
  /** thisUpdate and nextUpdate as HTTP dates, made once per answer. */
  httpDates?: { lastModified: string; expires: string };
  cacheable: boolean;
}

export interface ResponderOptions {
  issuer: Issuer;
  /** The ledger lookup: the record of a serial, undefined if it was never issued here. */
  find(serial: string): Promise<CertificateRecord | undefined>;
  /** nextUpdate - thisUpdate, seconds (--ocsp-validity). */
  validitySeconds?: number;
  /** A counter that moves whenever the ledger was written (`Ledger.changeVersion`); without it, RECHECK_MS alone bounds staleness. */
  changes?: () => number;
  /** Signs the responses; the CA itself by default. */
  signer?: OcspSigner;
  now?: () => number;
}

interface CachedAnswer {
  answer: OcspAnswer;
  query: OcspQuery;
  statuses: string;
  checkedAt: number;
  /** The ledger's change counter when the statuses were read. */
  checkedVersion: number | undefined;
}

export class OcspResponder {
  private readonly identity: IssuerIdentity;
  private readonly signer: OcspSigner;
  private readonly validityMs: number;
  private readonly now: () => number;
  private readonly cache = new Map<string, CachedAnswer>();

  constructor(private readonly options: ResponderOptions) {
    this.identity = new IssuerIdentity(options.issuer.certificate.der);
    this.signer = options.signer ?? caSigner(options.issuer, this.identity.keyHash("sha1"));
    this.validityMs = (options.validitySeconds ?? DEFAULT_OCSP_VALIDITY_S) * 1000;
    this.now = options.now ?? Date.now;
  }

  async respond(requestDer: Uint8Array): Promise<OcspAnswer> {
    const key = Buffer.from(requestDer.buffer, requestDer.byteOffset, requestDer.byteLength).toString("latin1");
    const cached = this.cache.get(key);
    if (cached) {
      const fresh = await this.stillFresh(cached);
      if (fresh) return cached.answer;
      this.cache.delete(key);
      return this.answerAndCache(key, cached.query);
    }
    let query: OcspQuery;
    try {
      query = parseOcspRequest(requestDer);
    } catch (error) {
      if (error instanceof MalformedOcspRequest) return failure("malformedRequest");
      throw error;
    }
    return query.nonce ? this.answer(query) : this.answerAndCache(key, query);
  }

  /** An answer for a request that could not even be read (an unreadable GET path, an empty body). */
  malformed(): OcspAnswer {
    return failure("malformedRequest");
  }

  /** An answer when the ledger cannot be read: the client may try again. */
  internalError(): OcspAnswer {
    return failure("internalError");
  }

  private async answerAndCache(key: string, query: OcspQuery): Promise<OcspAnswer> {
    const checkedAt = this.now();
    const checkedVersion = this.options.changes?.();
    const statuses = await this.statusesOf(query);
    const answer = await this.sign(query, statuses);
    if (answer.responseStatus === "successful") {
      if (this.cache.size >= MAX_CACHED) this.cache.delete(this.cache.keys().next().value!);
      this.cache.set(key, { answer, query, statuses: statusKey(statuses), checkedAt, checkedVersion });
    }
    return answer;
  }

  private async answer(query: OcspQuery): Promise<OcspAnswer> {
    return this.sign(query, await this.statusesOf(query));
  }

  /** Whether a cached answer may go out again: checked against the ledger after a write or every RECHECK_MS, re-signed at half its validity. */
  private async stillFresh(entry: CachedAnswer): Promise<boolean> {
    const now = this.now();
    if (now - entry.answer.thisUpdate!.getTime() > this.validityMs / 2) return false;
    const version = this.options.changes?.();
    if (now - entry.checkedAt < RECHECK_MS && version === entry.checkedVersion) return true;
    const statuses = await this.statusesOf(entry.query);
    if (statusKey(statuses) !== entry.statuses) return false;
    entry.checkedAt = now;
    entry.checkedVersion = version;
    return true;
  }

  private async statusesOf(query: OcspQuery): Promise<CertificateStatus[] | undefined> {
    // Another CA's certificate (or a hash we cannot check): not ours to answer.
    if (!query.certificates.every((certificate) => this.identity.issued(certificate))) return undefined;
    return Promise.all(query.certificates.map(async (certificate) => statusOf(await this.options.find(certificate.serial))));
  }

  private async sign(query: OcspQuery, statuses: CertificateStatus[] | undefined): Promise<OcspAnswer> {
    if (!statuses) return failure("unauthorized");
    const thisUpdate = new Date(Math.floor(this.now() / 1000) * 1000);
    const nextUpdate = new Date(thisUpdate.getTime() + this.validityMs);
    const body = await signedResponse(this.signer, {
      answers: query.certificates.map((certificate, i) => ({ query: certificate, status: statuses[i]! })),
      thisUpdate,
      nextUpdate,
      ...(query.nonce ? { nonce: query.nonce } : {}),
    });
    return {
      body,
      responseStatus: "successful",
      certificateStatus: statuses[0]!.kind,
      thisUpdate,
      nextUpdate,
      etag: `"${createHash("sha1").update(body).digest("hex")}"`,
      httpDates: { lastModified: thisUpdate.toUTCString(), expires: nextUpdate.toUTCString() },
      cacheable: query.nonce === undefined,
    };
  }
}

function failure(status: Exclude<ResponseStatusName, "successful">): OcspAnswer {
  return { body: errorResponse(status), responseStatus: status, cacheable: false };
}

function statusOf(record: CertificateRecord | undefined): CertificateStatus {
  if (!record) return { kind: "unknown" };
  if (record.status === "revoked") return { kind: "revoked", at: record.revokedAt ?? new Date(0), ...(record.revocationReason ? { reason: record.revocationReason } : {}) };
  return { kind: "good" };
}

function statusKey(statuses: CertificateStatus[] | undefined): string {
  return statuses ? statuses.map((s) => (s.kind === "revoked" ? `r${s.at.getTime()}${s.reason ?? ""}` : s.kind)).join(",") : "unauthorized";
}

/** The CA signs its own responses, with the same signer as its certificates and CRLs. */
export function caSigner(issuer: Issuer, keyHash: Uint8Array): OcspSigner {
  return { keyHash, signed: (tbs) => issuer.encoder.signer.signed(tbs) };
}

/**
 * Whether a CertID names this CA as the issuer: the hash of its subject
 * Name's DER and of its public key's bits (RFC 6960 4.1.1), for whichever
 * hash the client chose, computed once per hash.
 */
export class IssuerIdentity {
  private readonly name: Uint8Array;
  private readonly keyBits: Uint8Array;
  private readonly hashes = new Map<string, { name: Buffer; key: Buffer }>();

  constructor(caCertificateDer: Uint8Array) {
    const tbs = children(caCertificateDer, readElement(caCertificateDer))[0]!;
    const fields = children(caCertificateDer, tbs);
    const offset = fields[0]!.tag === 0xa0 ? 1 : 0; // [0] version
    const subject = fields[offset + 4]!;
    const spki = fields[offset + 5]!;
    this.name = caCertificateDer.slice(subject.start, subject.end);
    const bitString = children(caCertificateDer, spki)[1]!;
    this.keyBits = caCertificateDer.slice(bitString.contentStart + 1, bitString.end);
  }

  keyHash(hash: string): Buffer {
    return this.hashesFor(hash).key;
  }

  issued(certificate: CertificateQuery): boolean {
    if (!certificate.hash) return false;
    const expected = this.hashesFor(certificate.hash);
    return expected.name.equals(certificate.issuerNameHash) && expected.key.equals(certificate.issuerKeyHash);
  }

  private hashesFor(hash: string): { name: Buffer; key: Buffer } {
    let found = this.hashes.get(hash);
    if (!found) {
      found = { name: createHash(hash).update(this.name).digest(), key: createHash(hash).update(this.keyBits).digest() };
      this.hashes.set(hash, found);
    }
    return found;
  }
}
