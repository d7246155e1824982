/**
 * @module
 * The audit trail: one record per issuance, revocation, token change and
 * issuance a webhook denied, never a key. Records form one SHA-256 hash chain in the ledger: each
 * carries the hash of the one before and is appended inside the transaction
 * of the change it records, so concurrent writers (workers, the CLI, other
 * hosts sharing a ledger) extend one chain, and no change commits unrecorded.
 */
import { createHash } from "node:crypto";

export type AuditEvent = "issue" | "revoke" | "token-create" | "token-revoke" | "ssh-issue" | "ssh-revoke" | "deny";

/**
 * What the issuance webhooks did (issuance-gate.ts), kept with the issuance
 * or the denial: `allowed`, `denied`, or `failed open: <why>` for each
 * webhook that was called; enrich also lists what it added.
 */
export interface WebhookNotes {
  authorize?: string;
  enrich?: string | { addedNames: string[]; addedExtensions: string[] };
}

/** What a caller says about a change. */
export interface AuditEntry {
  event: AuditEvent;
  /** Who asked: `token:NAME` (HTTPS API), `line` (line protocol), `cli`. */
  requester: string;
  /** The client's IP address (line protocol, HTTPS API). */
  client?: string;
  serial?: string;
  subject?: string;
  sans?: string[];
  profile?: string;
  /** The depot.cnf template an issuance was made under (absent for the built-ins client and server). */
  template?: string;
  keyType?: string;
  /** A revocation's reason; a denial's (the webhook's words). */
  reason?: string;
  /** The token created or revoked (its name; never the token). */
  token?: string;
  /** A SCEP enrolment's transactionID (RFC 8894), so its certificate can be traced to the client's request. */
  transaction?: string;
  /** What the authorize and enrich webhooks did, when any were called. */
  webhooks?: WebhookNotes;
}

/** Who asked for a change: what the audit trail calls them. */
export interface AuditActor {
  /** `token:NAME` (HTTPS API), `line` (line protocol), `cli`, `server` (the HTTPS listener's own certificate), `library`. */
  requester: string;
  /** The client's IP address (line protocol, HTTPS API). */
  client?: string;
  /** A SCEP request's transactionID, written into the issuance's audit record. */
  transaction?: string;
}

/** Whom the library names when its caller did not say. */
export const LIBRARY_ACTOR: AuditActor = { requester: "library" };

/** The entry's fields that say who asked (no client field when none is known). */
function actorFields(actor: AuditActor): Pick<AuditEntry, "requester" | "client" | "transaction"> {
  return { requester: actor.requester, ...(actor.client ? { client: actor.client } : {}), ...(actor.transaction ? { transaction: actor.transaction } : {}) };
}

/** The record of one issuance (never the key), with what the webhooks did if any were called. */
export function issueEntry(
  certificate: { serial: string; subject: string; type: string; template?: string; keyType: string },
  sans: string[] | undefined,
  actor: AuditActor = LIBRARY_ACTOR,
  webhooks?: WebhookNotes,
): AuditEntry {
  return {
    event: "issue",
    ...actorFields(actor),
    serial: certificate.serial,
    subject: certificate.subject,
    ...(sans && sans.length > 0 ? { sans } : {}),
    profile: certificate.type,
    ...(certificate.template ? { template: certificate.template } : {}),
    keyType: certificate.keyType,
    ...(webhooks ? { webhooks } : {}),
  };
}

/** The record of an issuance a webhook denied: who asked, for what, and the webhook's reason (no serial: none was used). */
export function denyEntry(
  asked: { subject: string; names: string[]; profile: string; keyType: string },
  reason: string,
  actor: AuditActor,
  webhooks: WebhookNotes,
): AuditEntry {
  return {
    event: "deny",
    ...actorFields(actor),
    subject: asked.subject,
    ...(asked.names.length > 0 ? { sans: asked.names } : {}),
    profile: asked.profile,
    keyType: asked.keyType,
    reason,
    webhooks,
  };
}

/** The record of one revocation. */
export function revokeEntry(certificate: { serial: string; subject: string; type: string }, reason: string, actor: AuditActor = LIBRARY_ACTOR): AuditEntry {
  return {
    event: "revoke",
    ...actorFields(actor),
    serial: certificate.serial,
    subject: certificate.subject,
    profile: certificate.type,
    reason,
  };
}

/** An entry as the chain holds it. */
export interface AuditRecord extends AuditEntry {
  seq: number;
  time: string;
  /** SHA-256 (hex) of the record before; 64 zeros for the first. */
  previous: string;
  /** SHA-256 (hex) of `previous` + "\n" + the record's canonical JSON. */
  hash: string;
}

export type AuditVerdict = { ok: true; count: number; head: string } | { ok: false; count: number; seq: number; problem: string };

/** Where the chain lives; a PostgreSQL ledger implements the same. */
export interface AuditLog {
  /** Appends in a transaction of its own (token changes made outside the ledger's). */
  append(entry: AuditEntry, at?: Date): Promise<AuditRecord>;
  /** Records after `seq`, oldest first, at most `limit` (for export and for tailing into --audit-log). */
  after(seq: number, limit: number): Promise<AuditRecord[]>;
  /** Walks the whole chain and says where it breaks. */
  verify(): Promise<AuditVerdict>;
  /** The newest record's seq (0 when there is none). */
  lastSeq(): Promise<number>;
}

export const GENESIS = "0".repeat(64);

// New keys go at the end: records written before them hash as they did.
const ENTRY_KEYS = ["event", "requester", "client", "serial", "subject", "sans", "profile", "keyType", "reason", "token", "template", "transaction", "webhooks"] as const;

/** The record's JSON with a fixed key order and no undefined fields: what the hash covers. */
export function canonicalBody(seq: number, time: string, entry: AuditEntry): string {
  const ordered: Record<string, unknown> = { seq, time };
  for (const key of ENTRY_KEYS) if (entry[key] !== undefined) ordered[key] = entry[key];
  return JSON.stringify(ordered);
}

export function chainHash(previous: string, body: string): string {
  return createHash("sha256").update(`${previous}\n${body}`).digest("hex");
}

/** A record as one line of `depot audit export` and of --audit-log. */
export function auditLine(record: AuditRecord): string {
  return JSON.stringify(record);
}

/** A stored row (any ledger) as the record it holds. */
export function recordOf(row: { body: string; previous: string; hash: string }): AuditRecord {
  return { ...(JSON.parse(row.body) as AuditRecord), previous: row.previous, hash: row.hash };
}

/**
 * The chain's checks, one stored row at a time in seq order: the same for
 * every ledger (SQLite walks its rows in one query, PostgreSQL in pages).
 */
export class AuditChainWalk {
  private expectedSeq = 1;
  private previous = GENESIS;

  /** The seq the next row must have (where a paged walk resumes). */
  get nextSeq(): number {
    return this.expectedSeq;
  }

  /** The verdict when the chain holds up to here. */
  get verdict(): AuditVerdict {
    return { ok: true, count: this.expectedSeq - 1, head: this.previous };
  }

  /** The broken verdict if `row` does not extend the chain, else undefined (and the walk moves past it). */
  check(row: { seq: number; body: string; previous: string; hash: string }): AuditVerdict | undefined {
    const expectedSeq = this.expectedSeq;
    const broken = (problem: string, seq = row.seq): AuditVerdict => ({ ok: false, count: expectedSeq - 1, seq, problem });
    if (row.seq !== expectedSeq) return broken(`record ${expectedSeq}${row.seq > expectedSeq + 1 ? ` to ${row.seq - 1}` : ""} missing (next is ${row.seq})`, expectedSeq);
    if (row.previous !== this.previous) return broken(`record ${row.seq} does not follow record ${row.seq - 1} (its previous hash differs)`);
    if (chainHash(row.previous, row.body) !== row.hash) return broken(`record ${row.seq} was altered (its hash does not match its content)`);
    let body: { seq?: unknown };
    try {
      body = JSON.parse(row.body) as { seq?: unknown };
    } catch {
      return broken(`record ${row.seq} is not JSON`);
    }
    if (body.seq !== row.seq) return broken(`record ${row.seq} holds seq ${String(body.seq)}`);
    this.previous = row.hash;
    this.expectedSeq++;
    return undefined;
  }
}
