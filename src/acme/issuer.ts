/**
 * @module What the ACME server needs from the CA, as an interface (so the
 * server is tested with fakes beside the real depot), and its implementation
 * on a `Depot`: the server profile (or `--acme-template`), the order's
 * names, the ACME lifetime (within the template's days).
 * Certificates go through the depot's own signing, so they appear in
 * `depot list`, OCSP and the CRL like any other.
 */

import type { Depot, IssueRequest } from "../ca/depot.ts";
import type { RevocationReason } from "../ca/crl.ts";
import type { KeyFamily } from "../ca/key-types.ts";
import type { CertificateRecord } from "../ca/ledger.ts";
import { attribute } from "../ca/dn.ts";
import type { Identifier } from "./types.ts";

export interface AcmeIssueRequest {
  publicKeyDer: Uint8Array<ArrayBuffer>;
  keyType: string;
  family: KeyFamily;
  identifiers: Identifier[];
  commonName?: string;
  days: number;
  /** `acme:<account id>`, for the audit trail. */
  requester: string;
  /** The client's IP address, for the audit trail. */
  client?: string;
  /** ACME's name policy (--acme-allow, the account's binding), run again on names the enrich webhook adds. */
  withinPolicy?: IssueRequest["withinPolicy"];
  /** The order being finalized (finalize always names it): valid with the certificate's serial in the transaction that records it. */
  orderId?: string;
}

export interface AcmeIssuer {
  issue(request: AcmeIssueRequest): Promise<{ serial: string; certificatePem: string }>;
  revoke(serial: string, reason: RevocationReason, requester: { requester: string; client?: string }): Promise<void>;
  find(serial: string): Promise<CertificateRecord | undefined>;
  /** The issuing chain after the leaf (the CA certificate), PEM. */
  chainPem: string;
  /** The CA's subject key identifier, hex: the first half of an ARI certID. */
  keyIdHex: string;
}

/**
 * `publishCrl: false` in a server's workers: the revocation is recorded and
 * the upkeep process publishes the CRL, one for a whole burst. `template`:
 * a server-based template of depot.cnf to issue under (`--acme-template`).
 */
export function depotIssuer(depot: Depot, options: { publishCrl?: boolean; template?: string } = {}): AcmeIssuer {
  const publish = options.publishCrl !== false;
  const template = options.template === undefined ? undefined : depot.templates.require(options.template, "--acme-template", "server");
  // ACME's lifetime (--acme-days) within the template's longest: clients cannot ask for another.
  const longest = template?.days ?? Infinity;
  return {
    chainPem: depot.issuer.certificatePem.trim() + "\n",
    // What the leaves' AKI holds: the CA's SKI, or its key's SHA-1 (RFC 5280 method 1).
    keyIdHex: Buffer.from(depot.issuer.keyId).toString("hex"),
    async issue(request) {
      const issued = await depot.signPublicKey({
        profile: "server",
        ...(template ? { template: template.name } : {}),
        subject: request.commonName ? [attribute("CN", request.commonName)] : [],
        subjectAltNames: request.identifiers.map((id) => id.value),
        publicKeyDer: request.publicKeyDer,
        keyType: request.keyType,
        family: request.family,
        days: Math.min(request.days, longest),
        requester: { requester: request.requester, ...(request.client ? { client: request.client } : {}) },
        face: "acme",
        ...(request.withinPolicy ? { withinPolicy: request.withinPolicy } : {}),
        ...(request.orderId ? { recordTerms: { finishesAcmeOrder: request.orderId } } : {}),
      });
      return { serial: issued.serial, certificatePem: issued.certificatePem };
    },
    async revoke(serial, reason, requester) {
      await depot.revoke(serial, reason, { publish, requester });
    },
    find: (serial) => depot.ledger.find(serial),
  };
}
