/**
 * @module
 * What a ledger keeps of SSH certificates: a row per certificate (never a
 * key), revocations, and what the KRL must list. Each ledger (SQLite,
 * PostgreSQL) implements it on its own connection, with the audit record in
 * the transaction of the change, as for X.509 certificates.
 */
import type { AuditActor, AuditEntry, WebhookNotes } from "../audit.ts";
import type { SshCertificateKind } from "./certificate.ts";

export interface SshCertificateRecord {
  /** The certificate's serial, decimal (as ssh-keygen -L prints it). */
  serial: string;
  kind: SshCertificateKind;
  keyId: string;
  principals: string[];
  /** The certified key's type, e.g. ssh-ed25519. */
  keyType: string;
  /** The certified key's fingerprint, `SHA256:...`. */
  keyFingerprint: string;
  validAfter: Date;
  validBefore: Date;
  /** The certificate, one line as in a `-cert.pub` file. */
  certificate: string;
  status: "valid" | "revoked";
  revokedAt?: Date;
  revocationReason?: string;
}

export type SshCertificateSummary = Omit<SshCertificateRecord, "certificate">;

/** What the KRL lists and the count of revocations it covers (its version). */
export interface SshRevocations {
  /** Revocations ever recorded: a KRL covering fewer is out of date. */
  count: number;
  /** Revoked serials of unexpired certificates, per CA. */
  serials: Record<SshCertificateKind, bigint[]>;
}

export interface SshStore {
  /** Records a certificate with its audit record, in one transaction; a taken serial throws SerialCollisionError. */
  record(certificate: SshCertificateRecord, audit: AuditEntry): Promise<void>;
  find(serial: string): Promise<SshCertificateRecord | undefined>;
  /** Marks a valid certificate revoked and counts it, with its audit record; unknown or already revoked is an error. */
  revoke(serial: string, reason: string, at: Date, actor?: AuditActor): Promise<SshCertificateRecord>;
  /** Certificates in issue order, without their certificate lines. */
  list(query?: { status?: "valid" | "revoked" | "expired"; now?: Date }): Promise<SshCertificateSummary[]>;
  /** What a KRL published now must list, read in one transaction. */
  revocations(now: Date): Promise<SshRevocations>;
}

/** The audit records of SSH certificates: the same chain, their own events; never a key. */
function sshEntry(event: "ssh-issue" | "ssh-revoke", record: SshCertificateSummary, actor: AuditActor): AuditEntry {
  return {
    event,
    requester: actor.requester,
    ...(actor.client ? { client: actor.client } : {}),
    serial: record.serial,
    subject: record.keyId,
    profile: `ssh-${record.kind}`,
  };
}

/** The record of one SSH issuance, with what the authorize webhook did if it was asked. */
export function sshIssueEntry(record: SshCertificateRecord, actor: AuditActor, webhooks?: WebhookNotes): AuditEntry {
  return { ...sshEntry("ssh-issue", record, actor), sans: record.principals, keyType: record.keyType, ...(webhooks ? { webhooks } : {}) };
}

export function sshRevokeEntry(record: SshCertificateSummary, reason: string, actor: AuditActor): AuditEntry {
  return { ...sshEntry("ssh-revoke", record, actor), reason };
}

/** Status as `depot list` shows it: revoked, expired, or valid. */
export function sshStatusAt(record: SshCertificateSummary, now: Date): "valid" | "revoked" | "expired" {
  if (record.status === "revoked") return "revoked";
  return record.validBefore <= now ? "expired" : "valid";
}
