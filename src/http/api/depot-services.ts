/**
 * @module
 * The API's services backed by an opened Depot and the ledger's token and
 * audit tables: what a worker lends the HTTPS listener.
 */
import { readCertificateRequest } from "../../ca/csr.ts";
import type { Depot } from "../../ca/depot.ts";
import type { KeyType } from "../../ca/key-types.ts";
import { generateKeyPair, type KeyPair } from "../../ca/keys.ts";
import type { CertificateSummary } from "../../ca/ledger.ts";
import { HttpProblem } from "../problem.ts";
import type { SshCertificateKind } from "../../ca/ssh/certificate.ts";
import { issueSshCertificate } from "../../ca/ssh/issue.ts";
import { publishKrl } from "../../ca/ssh/krl-publisher.ts";
import { loadSshCaFor, type SshCa, type SshCaKeys } from "../../ca/ssh/ssh-ca.ts";
import type { ApiServices, CertificatePage } from "./services.ts";

export interface DepotServicesOptions {
  /** A worker hands out pooled keys. */
  makeKeys?: (type: KeyType) => Promise<KeyPair>;
  metrics?: () => Promise<string>;
  /**
   * Whether a revocation waits for its CRL (the CLI's promise). A server
   * says no: the upkeep process publishes it within a second, and OCSP
   * answers from the ledger at once.
   */
  publishOnRevoke?: boolean;
  /** SSH CA keys handed over decrypted (an encrypted depot in a server). */
  sshCaKeys?: SshCaKeys;
  /** `POST /v1/renew`: --renew-after-expiry (default 0: expired certificates are refused) and --api-url. */
  renewal?: { afterExpiryMs?: number; apiUrl?: string };
}

export function depotApiServices(depot: Depot, options: DepotServicesOptions = {}): ApiServices {
  const makeKeys = options.makeKeys ?? generateKeyPair;
  return {
    tokens: depot.ledger.tokens,
    caPem: depot.issuer.certificatePem.trim() + "\n",
    bundlePems: depot.bundlePems,
    defaultDays: depot.defaultDays,
    defaultKeyType: depot.defaultKeyType,
    templates: depot.templates,
    // The audit record is written by the ledger, in the transaction of the row.
    issue: (request, requester) => depot.issue({ ...request, requester }, makeKeys),
    readCsr: readCertificateRequest,
    signCsr: (requested, request, requester) =>
      depot.signPublicKey({ ...request, publicKeyDer: requested.publicKeyDer, keyType: requested.keyType, family: requested.family, requester }),
    find: (serial) => depot.ledger.find(serial),
    page: (filter, cursor, limit, now) =>
      pageOf((after, take) => depot.ledger.each({ ...(filter ? { status: filter } : {}), now, includeCa: false, ...(after ? { after } : {}), limit: take }), cursor, limit),
    async revoke(serial, reason, requester) {
      const { record, crl } = await depot.revoke(serial, reason, { publish: options.publishOnRevoke !== false, requester });
      return { record, ...(crl ? { crlNumber: crl.crlNumber } : {}) };
    },
    signSsh: sshSigner(depot, options.sshCaKeys),
    async revokeSsh(serial, reason, requester) {
      const record = await depot.ledger.ssh.revoke(serial, reason, new Date(), requester);
      if (options.publishOnRevoke !== false) await publishKrl(depot.layout.root, depot.ledger.ssh);
      return record;
    },
    renewal: {
      afterExpiryMs: options.renewal?.afterExpiryMs ?? 0,
      caNotAfter: depot.issuer.certificate.notAfter,
      ...(options.renewal?.apiUrl ? { apiUrl: options.renewal.apiUrl } : {}),
    },
    ...(options.metrics ? { metrics: options.metrics } : {}),
    now: () => new Date(),
  };
}

/** Where a page starts: just after this record in issue order. */
export type PagePosition = { notBefore: Date; serial: string };

/**
 * SSH signing over the depot's SSH CAs, each loaded on first use and kept
 * (a depot may get its SSH CAs while the server runs: `depot ssh init`).
 * Encrypted SSH CA keys are handed to workers with the CA key (key-handoff.ts).
 */
function sshSigner(depot: Depot, handedOver?: SshCaKeys): ApiServices["signSsh"] {
  const loaded = new Map<SshCertificateKind, Promise<SshCa>>();
  const caOf = (kind: SshCertificateKind) => {
    let ca = loaded.get(kind);
    if (!ca) {
      ca = loadSshCaFor(depot.layout.root, kind, handedOver);
      loaded.set(kind, ca);
      ca.catch(() => loaded.delete(kind));
    }
    return ca;
  };
  // The server's issuance gate (the authorize webhook) is asked for SSH certificates too.
  const gated = depot.gate ? { gate: depot.gate, audit: depot.ledger.audit } : undefined;
  return async (request) => issueSshCertificate(depot.ledger.ssh, await caOf(request.kind), request, new Date(), gated);
}

/**
 * One page of certificates in issue order (notBefore, then serial); the
 * cursor is the last one's position, so pages hold steady while new
 * certificates are issued. `read` asks the ledger for the records after a
 * position, at most `take` of them: the query starts at the cursor (an
 * index seek), so the last page of 100,000 costs what the first does.
 */
export async function pageOf(
  read: (after: PagePosition | undefined, take: number) => AsyncIterable<CertificateSummary>,
  cursor: string | undefined,
  limit: number,
): Promise<CertificatePage> {
  const after = cursor === undefined ? undefined : positionOf(cursor);
  const certificates: CertificateSummary[] = [];
  let more = false;
  // One more than a page, to know whether another follows.
  for await (const record of read(after, limit + 1)) {
    // A guard, not the paging: a ledger that did not honour `after` still gives the right page.
    if (after && !isAfter(record, after)) continue;
    if (certificates.length === limit) {
      more = true;
      break;
    }
    certificates.push(record);
  }
  const last = certificates.at(-1);
  return { certificates, ...(more && last ? { next: cursorOf(last) } : {}) };
}

/** The cursor's wire format: base64url of the JSON `[notBefore ISO string, serial]` of the page's last record. */
function cursorOf(record: CertificateSummary): string {
  return Buffer.from(JSON.stringify([record.notBefore.toISOString(), record.serial])).toString("base64url");
}

function positionOf(cursor: string): PagePosition {
  const refused = () => new HttpProblem(400, "cursor is not one this API gave out", { slug: "bad-request" });
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, "base64url").toString());
  } catch {
    throw refused();
  }
  if (!Array.isArray(parsed) || parsed.length !== 2) throw refused();
  const [date, serial] = parsed as unknown[];
  if (typeof date !== "string" || typeof serial !== "string" || !/^[0-9a-f]{1,64}$/.test(serial)) throw refused();
  const notBefore = new Date(date);
  // Only a date this API wrote: the ledger compares the ISO text.
  if (Number.isNaN(notBefore.getTime()) || notBefore.toISOString() !== date) throw refused();
  return { notBefore, serial };
}

function isAfter(record: CertificateSummary, position: PagePosition): boolean {
  const date = record.notBefore.getTime();
  const at = position.notBefore.getTime();
  return date > at || (date === at && record.serial > position.serial);
}
