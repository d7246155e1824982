/**
 * @module
 * The issuance gate: what is asked before anything is signed, whether the
 * issuance may go ahead and what it gains (names, extensions). The domain
 * defines it; a server implements it over HTTP (`src/server/webhooks/`, the
 * authorize and enrich webhooks). Every face issues through
 * `Depot.signPublicKey` (SSH through `issueSshCertificate`), which pass the
 * gate with `passGate`: a denial is audited and thrown before a serial is
 * drawn; a gate that cannot decide throws `GateUnavailable`, and nothing
 * is signed either.
 */
import { DepotError } from "../errors.ts";
import { RETRY_AFTER_SECONDS } from "../public-error.ts";
import { type AuditActor, type AuditLog, denyEntry, type WebhookNotes } from "./audit.ts";
import { oid, readElementWithin, TAG, tlv } from "./der.ts";
import { DEPOT_EXTENSIONS } from "./extension-oids.ts";
import type { SubjectAltName } from "./profiles.ts";

/** The face a request came in by, so the gate may judge each its own way. */
export type IssuanceFace = "line" | "api" | "est" | "acme" | "scep" | "renew" | "ssh" | "library";

/** A name the certificate would carry: a subjectAltName, or an SSH certificate's principal. */
export type GateName = SubjectAltName | { type: "principal"; value: string };

/** One issuance as the gate sees it: what would be signed, and who asked. */
export interface GateRequest {
  face: IssuanceFace;
  /** client or server (X.509); user or host (SSH). */
  profile: string;
  /** The template the request names, once templates exist; absent until then. */
  template?: string;
  /** RFC 4514, as the ledger writes it (SSH: the key id). */
  subject: string;
  /** Every name the certificate would carry, in its order (SSH: the principals). */
  subjectAltNames: GateName[];
  keyType: string;
  /** Validity in days (fractional for renewals and SSH). */
  days: number;
  requester: string;
  client?: string;
}

/** An extension the enrich webhook adds; checked against the request's enrichable OIDs before it is encoded. */
export interface GateExtension {
  oid: string;
  critical: boolean;
  /** The extension's value (what extnValue's OCTET STRING holds), one DER element. */
  valueDer: Uint8Array;
}

/** What the gate allows: names and extensions added (none for a plain allow), and what each webhook did, for the audit. */
export interface GateDecision {
  addNames: SubjectAltName[];
  addExtensions: GateExtension[];
  notes: WebhookNotes;
}

export interface IssuanceGate {
  /**
   * Allows (resolves) or denies (throws `IssuanceDenied`); throws
   * `GateUnavailable` when it cannot decide. `enrich: false` asks only
   * whether (SSH certificates: nothing to add).
   */
  decide(request: GateRequest, options?: { enrich?: boolean }): Promise<GateDecision>;
}

/** The gate said no. Nothing was signed; the denial is in the audit chain. */
export class IssuanceDenied extends DepotError {
  constructor(
    /** Which webhook denied. */
    readonly webhook: "authorize" | "enrich",
    /** The webhook's reason, made safe for one line (no controls, at most 300 characters). */
    readonly reason: string,
    /** What the webhooks did up to the denial. */
    readonly notes: WebhookNotes,
  ) {
    super("E_DENIED", `issuance denied by the ${webhook} webhook${reason ? `: ${reason}` : ""}`);
  }
}

/** The gate could not decide (timeout, no connection, a wrong answer): fail closed, nothing was signed. */
export class GateUnavailable extends DepotError {
  constructor(what: string, options?: { cause?: unknown }) {
    super("E_GATE_UNAVAILABLE", `${what}; nothing was issued, retry in ${RETRY_AFTER_SECONDS} s`, options);
  }
}

/** A webhook's words as one printable line: they reach line-protocol clients and the audit chain. */
export function safeReason(text: string): string {
  const line = text.replace(/[\p{Cc}\p{Cf}\u2028\u2029]+/gu, " ").trim();
  return line.length > 300 ? `${line.slice(0, 300)}...` : line;
}

/** What an issuance gets without a gate: nothing added, nothing to note. */
export const NOTHING_ADDED: GateDecision = Object.freeze({ addNames: [], addExtensions: [], notes: {} }) as GateDecision;

/**
 * Asks the gate (none: allowed as is). A denial is appended to the audit
 * chain before it is thrown; if that append fails, its error is thrown
 * instead (a ledger that cannot record is 503): no denial goes unaudited.
 */
export async function passGate(gate: IssuanceGate | undefined, audit: AuditLog, request: GateRequest, options?: { enrich?: boolean }): Promise<GateDecision> {
  if (!gate) return NOTHING_ADDED;
  try {
    return await gate.decide(request, options);
  } catch (error) {
    if (error instanceof IssuanceDenied) {
      const actor: AuditActor = { requester: request.requester, ...(request.client ? { client: request.client } : {}) };
      const asked = { subject: request.subject, names: request.subjectAltNames.map((name) => name.value), profile: request.profile, keyType: request.keyType };
      await audit.append(denyEntry(asked, error.reason, actor, error.notes));
    }
    throw error;
  }
}

/**
 * The added extensions as DER, each checked: its OID among `enrichable`
 * (and not one depot writes), listed once, its value one well-formed DER
 * element. Anything else is the webhook's mistake: `GateUnavailable`, fail
 * closed.
 */
export function addedExtensionsDer(added: GateExtension[], enrichable: readonly string[], templateSets: readonly string[] = []): Uint8Array[] {
  // An extension the template already writes would appear twice: RFC 5280 forbids it.
  const seen = new Set<string>(templateSets);
  return added.map((extension) => {
    const refuse = (why: string) => new GateUnavailable(`the enrich webhook added extension ${extension.oid}, ${why}`);
    if (DEPOT_EXTENSIONS.has(extension.oid)) throw refuse("which depot writes itself");
    if (!enrichable.includes(extension.oid)) throw refuse(`which it may not add (${enrichable.length ? `allowed: ${enrichable.join(", ")}` : "no extension is enrichable; see --webhook-extension"})`);
    if (seen.has(extension.oid)) throw refuse(templateSets.includes(extension.oid) ? "which the template sets itself" : "twice");
    seen.add(extension.oid);
    if (!isOneElement(extension.valueDer)) throw refuse("whose value is not one DER element");
    const critical = extension.critical ? [tlv(TAG.BOOLEAN, new Uint8Array([0xff]))] : [];
    return tlv(TAG.SEQUENCE, oid(extension.oid), ...critical, tlv(TAG.OCTET_STRING, extension.valueDer));
  });
}

function isOneElement(der: Uint8Array): boolean {
  try {
    return der.length > 0 && readElementWithin(der, 0, der.length).end === der.length;
  } catch {
    return false;
  }
}

/** The names after enrichment: the certificate's own, then each added one not already there. */
export function withAddedNames(names: SubjectAltName[], added: SubjectAltName[]): SubjectAltName[] {
  const all = [...names];
  for (const name of added) if (!all.some((n) => n.type === name.type && n.value === name.value)) all.push(name);
  return all;
}
