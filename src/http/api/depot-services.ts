/**
 * @module
 * The API's services backed by an opened Depot and the ledger's token and
 * audit tables: what a worker lends the HTTPS listener.
 */
import type { AuditEntry, AuditLog } from "../../ca/audit.ts";
import { readCertificateRequest } from "../../ca/csr.ts";
import type { Depot } from "../../ca/depot.ts";
import type { KeyType } from "../../ca/key-types.ts";
import { generateKeyPair, type KeyPair } from "../../ca/keys.ts";
import type { CertificateRecord } from "../../ca/ledger.ts";
import type { TokenStore } from "../../ca/tokens.ts";
import { HttpProblem } from "../problem.ts";
import type { ApiServices, CertificatePage, Requester, StatusFilter } from "./services.ts";

export interface DepotServicesOptions {
  tokens: TokenStore;
  audit: AuditLog;
  /** A worker hands out pooled keys. */
  makeKeys?: (type: KeyType) => Promise<KeyPair>;
  metrics?: () => Promise<string>;
}

export function depotApiServices(depot: Depot, options: DepotServicesOptions): ApiServices {
  const { tokens, audit } = options;
  const makeKeys = options.makeKeys ?? generateKeyPair;
  const auditIssue = (record: CertificateRecord, sans: string[] | undefined, requester: Requester) =>
    audit.append(issueEntry(record, sans, requester));
  return {
    tokens,
    caPem: depot.issuer.certificate.toString("pem").trim() + "\n",
    defaultDays: depot.defaultDays,
    defaultKeyType: depot.defaultKeyType,
    async issue(request, requester) {
      const issued = await depot.issue(request, makeKeys);
      await auditIssue(issued.record, request.subjectAltNames, requester);
      return issued;
    },
    readCsr: readCertificateRequest,
    async signCsr(requested, request, requester) {
      const issued = await depot.sign({
        ...request,
        publicKeyDer: requested.publicKeyDer,
        keyType: requested.keyType,
        family: requested.family,
      });
      await auditIssue(issued.record, request.subjectAltNames, requester);
      return issued;
    },
    find: (serial) => depot.ledger.find(serial),
    async page(filter, cursor, limit, now) {
      return pageOf(await depot.ledger.list(), filter, cursor, limit, now);
    },
    async revoke(serial, reason, requester) {
      const { record, crl } = await depot.revoke(serial, reason);
      await audit.append({ event: "revoke", ...requester, serial: record.serial, subject: record.subject, profile: record.type, reason });
      return { record, crlNumber: crl.crlNumber };
    },
    ...(options.metrics ? { metrics: options.metrics } : {}),
    now: () => new Date(),
  };
}

export function issueEntry(record: CertificateRecord, sans: string[] | undefined, requester: Requester): AuditEntry {
  return {
    event: "issue",
    ...requester,
    serial: record.serial,
    subject: record.subject,
    ...(sans && sans.length > 0 ? { sans } : {}),
    profile: record.type,
    keyType: record.keyType,
  };
}

/**
 * One page of certificates in issue order (notBefore, then serial); the
 * cursor is the last one's position, so pages hold steady while new
 * certificates are issued.
 */
export function pageOf(all: CertificateRecord[], filter: StatusFilter | undefined, cursor: string | undefined, limit: number, now: Date): CertificatePage {
  let after: [string, string] | undefined;
  if (cursor !== undefined) {
    try {
      after = JSON.parse(Buffer.from(cursor, "base64url").toString()) as [string, string];
      if (!Array.isArray(after) || typeof after[0] !== "string" || typeof after[1] !== "string") throw new Error();
    } catch {
      throw new HttpProblem(400, "cursor is not one this API gave out", { slug: "bad-request" });
    }
  }
  const key = (r: CertificateRecord): [string, string] => [r.notBefore.toISOString(), r.serial];
  const before = (a: [string, string], b: [string, string]) => a[0] < b[0] || (a[0] === b[0] && a[1] < b[1]);
  const matching = all
    .filter((r) => r.type !== "ca")
    .filter((r) => {
      if (filter === undefined) return true;
      const expired = r.notAfter.getTime() <= now.getTime();
      return filter === "revoked" ? r.status === "revoked" : filter === "expired" ? r.status === "valid" && expired : r.status === "valid" && !expired;
    })
    .filter((r) => after === undefined || before(after, key(r)))
    .sort((a, b) => (before(key(a), key(b)) ? -1 : before(key(b), key(a)) ? 1 : 0));
  const certificates = matching.slice(0, limit);
  const last = certificates.at(-1);
  return { certificates, ...(matching.length > limit && last ? { next: Buffer.from(JSON.stringify(key(last))).toString("base64url") } : {}) };
}
