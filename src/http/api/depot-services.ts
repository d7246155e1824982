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
}

export function depotApiServices(depot: Depot, options: DepotServicesOptions = {}): ApiServices {
  const makeKeys = options.makeKeys ?? generateKeyPair;
  return {
    tokens: depot.ledger.tokens,
    caPem: depot.issuer.certificatePem.trim() + "\n",
    bundlePems: depot.bundlePems,
    defaultDays: depot.defaultDays,
    defaultKeyType: depot.defaultKeyType,
    // The audit record is written by the ledger, in the transaction of the row.
    issue: (request, requester) => depot.issue({ ...request, requester }, makeKeys),
    readCsr: readCertificateRequest,
    signCsr: (requested, request, requester) =>
      depot.signPublicKey({ ...request, publicKeyDer: requested.publicKeyDer, keyType: requested.keyType, family: requested.family, requester }),
    find: (serial) => depot.ledger.find(serial),
    page: (filter, cursor, limit, now) => pageOf(depot.ledger.each({ ...(filter ? { status: filter } : {}), now, includeCa: false }), cursor, limit),
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
    ...(options.metrics ? { metrics: options.metrics } : {}),
    now: () => new Date(),
  };
}

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
  return async (request) => issueSshCertificate(depot.ledger.ssh, await caOf(request.kind), request);
}

/**
 * One page of certificates in issue order (notBefore, then serial); the
 * cursor is the last one's position, so pages hold steady while new
 * certificates are issued.
 */
export async function pageOf(records: AsyncIterable<CertificateSummary>, cursor: string | undefined, limit: number): Promise<CertificatePage> {
  let after: [string, string] | undefined;
  if (cursor !== undefined) {
    try {
      after = JSON.parse(Buffer.from(cursor, "base64url").toString()) as [string, string];
      if (!Array.isArray(after) || typeof after[0] !== "string" || typeof after[1] !== "string") throw new Error();
    } catch {
      throw new HttpProblem(400, "cursor is not one this API gave out", { slug: "bad-request" });
    }
  }
  const key = (r: CertificateSummary): [string, string] => [r.notBefore.toISOString(), r.serial];
  const certificates: CertificateSummary[] = [];
  let more = false;
  // The ledger yields in (notBefore, serial) order: skip to the cursor, take one more than a page to know whether another follows.
  for await (const record of records) {
    const [date, serial] = key(record);
    if (after && (date < after[0] || (date === after[0] && serial <= after[1]))) continue;
    if (certificates.length === limit) {
      more = true;
      break;
    }
    certificates.push(record);
  }
  const last = certificates.at(-1);
  return { certificates, ...(more && last ? { next: Buffer.from(JSON.stringify(key(last))).toString("base64url") } : {}) };
}
