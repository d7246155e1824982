/**
 * @module
 * What the line protocol does against a depot: the `LineServices` that
 * `protocol.ts` calls (an interface, so every request is tested with fakes,
 * without a depot or a socket), and `depotLineServices`, their
 * implementation over an opened `Depot`, which a worker's line listener
 * makes for each connection (the client's address goes into the audit
 * records). The line-protocol counterpart of `src/http/api/services.ts` and
 * `depot-services.ts`.
 */
import type { AuditActor } from "../ca/audit.ts";
import type { RevocationReason } from "../ca/crl.ts";
import type { Depot } from "../ca/depot.ts";
import { type DistinguishedName, printable } from "../ca/dn.ts";
import type { KeyType } from "../ca/key-types.ts";
import type { KeyPair } from "../ca/keys.ts";
import type { LogLevel } from "../log-level.ts";

/** What the protocol needs done; each answer is the text sent back, PEM or one line. */
export interface LineServices {
  /** A fresh private key, its client certificate and the chain (two tiers), PEM, for the subject. */
  generate(subject: DistinguishedName): Promise<string>;
  /** A certificate and the chain, PEM, for a PEM certificate request: a client one, or under `template` (depot.cnf's). */
  sign(csrPem: string, template?: string): Promise<string>;
  /** The CRL as published. */
  crl(): Promise<string>;
  /** Records the revocation (a server's upkeep publishes the CRL); answers a one-line confirmation. */
  revoke(serial: string, reason: RevocationReason): Promise<string>;
  /** `revoke` over the socket is off unless the server was started with --allow-revoke. */
  allowRevoke: boolean;
  /** `shutdown` is off unless the server was started with --allow-shutdown. */
  allowShutdown: boolean;
}

export interface DepotLineServicesOptions {
  /** A key pair of this type (a worker hands out pooled keys). */
  makeKeys(type: KeyType): Promise<KeyPair>;
  /** Where a revocation is told (the server's log). */
  log(level: LogLevel, message: string): void;
  allowRevoke: boolean;
  allowShutdown: boolean;
}

/** The line protocol's operations for one client (`client`, its address, is audited with each issuance and revocation). */
export function depotLineServices(depot: Depot, client: string | undefined, options: DepotLineServicesOptions): LineServices {
  const requester: AuditActor = { requester: "line", ...(client ? { client } : {}) };
  return {
    generate: async (subject) => {
      const issued = await depot.issue({ profile: "client", subject, requester, face: "line" }, options.makeKeys);
      return issued.privateKeyPem + issued.certificatePem + depot.chainPem;
    },
    sign: async (csrPem, template) => {
      // An unknown template is refused before the request is read.
      const profile = template === undefined ? "client" : depot.templates.get(template).base;
      return (await depot.signCsr(csrPem, { profile, ...(template ? { template } : {}), requester, face: "line" })).certificatePem + depot.chainPem;
    },
    crl: async () => depot.currentCrlPem(),
    revoke: async (serialText, reason) => {
      const { serial } = await depot.findBySerial(serialText);
      // Recorded only: the upkeep process publishes the CRL, one for a whole burst.
      const { record } = await depot.revoke(serial, reason, { publish: false, requester });
      options.log("info", `revoked ${record.serial.toUpperCase()} (${printable(record.subject)}) over the socket; the upkeep process publishes the CRL`);
      return `OK revoked ${record.serial.toUpperCase()}\n`;
    },
    allowRevoke: options.allowRevoke,
    allowShutdown: options.allowShutdown,
  };
}
