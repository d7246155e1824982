/**
 * @module
 * The ledger: where a depot records what it issued and revoked. The
 * `Ledger` interface the backends (src/store/sqlite/, src/store/postgres/)
 * implement, and `OpenLedger`, the factory's type: the domain is handed
 * one and never picks a backend itself.
 */
import type { Profile } from "./profiles.ts";
import { DepotError } from "../errors.ts";
import type { DepotSettings } from "./config.ts";
import type { CrlEntry } from "./crl.ts";
import type { AuditActor, AuditEntry, AuditLog } from "./audit.ts";
import type { DepotLayout } from "./layout.ts";
import type { TokenStore } from "./tokens.ts";
import type { SshStore } from "./ssh/store.ts";
import type { AcmeStore } from "./acme-store.ts";
import type { ScepStore } from "./scep/store.ts";

export type CertificateType = Profile | "ca";
export type CertificateStatus = "valid" | "revoked";

/** One issued certificate as the ledger keeps it. */
export interface CertificateRecord {
  /** The serial's magnitude in lower-case hex, no leading zero bytes (see serial.ts). */
  serial: string;
  subject: string;
  type: CertificateType;
  /** The depot.cnf template it was issued under (templates.ts); absent: the built-in named by `type`. */
  template?: string;
  keyType: string;
  notBefore: Date;
  notAfter: Date;
  /** SHA-256 of the DER certificate, lower-case hex. */
  fingerprint: string;
  pem: string;
  status: CertificateStatus;
  revokedAt?: Date;
  revocationReason?: string;
}

/** A record without its PEM: what listing needs, a tenth of the bytes. */
export type CertificateSummary = Omit<CertificateRecord, "pem">;

/** Another certificate already has this serial (2^-128 for depot's own; possible with adopted ones). */
export class SerialCollisionError extends Error {
  constructor(readonly serial: string) {
    super(`serial ${serial} is already taken by another certificate`);
    this.name = "SerialCollisionError";
  }
}

/** What `list` and `each` select: by status as `depot list` shows it, and the CA's own row only when asked. */
export interface ListQuery {
  status?: "valid" | "revoked" | "expired";
  /** The moment that tells valid from expired (default: now). */
  now?: Date;
  /** Whether the CA certificate's row is included (default: yes). */
  includeCa?: boolean;
  /** Only records after this one in the listing's order (not_before, then serial): a page's cursor. */
  after?: { notBefore: Date; serial: string };
  /** At most this many records (a page). */
  limit?: number;
}

/** The next CRL, as one transaction took it: its number and what it must list. */
export interface CrlClaim {
  crlNumber: number;
  /** The ledger's revocation count at the claim: the CRL covers every revocation up to it. */
  revocations: number;
  revoked: CrlEntry[];
}

/** What was revoked and what the published CRL covers, to tell whether a new CRL is due. */
export interface CrlState {
  /** Revocations ever recorded (a counter that only grows). */
  revocations: number;
  /** The newest published CRL: its number, the revocation count it covers, its validity (unknown for a depot 0.1.0 CRL). */
  published: { crlNumber: number; revocations: number; thisUpdate?: Date; nextUpdate?: Date };
}

/**
 * What must still hold when an issuance is recorded. `tokenUnrevoked`: the
 * API token that asked (found by its hash: a name may be given to a new
 * token once the old one is revoked) exists and is not revoked. The HTTPS API
 * trusts a token it has seen before without reading the ledger again on
 * every request (a read after another worker's commit: 18 µs a request
measured A/B, up to ~40 in noisier runs); its
 * revocation is checked here instead, in the transaction of the row, so a
 * revoked token gets nothing recorded, however recently it was revoked.
 */
export interface RecordCondition {
  tokenUnrevoked: { name: string; hash: string };
}

/**
 * What commits with an issuance's row, in its transaction. `condition`: see
 * RecordCondition. `finishesAcmeOrder`: the id of the ACME order this
 * certificate finalizes, which becomes valid with the row's serial; so no
 * crash can leave a recorded certificate behind an order still processing,
 * whose next finalize would issue a second (and the order's own write
 * transaction is saved). The row is recorded only while the order is still
 * open (pending, or processing): of two finalizes that raced, the second
 * gets E_ORDER_SETTLED and records nothing. That is what lets finalize sign
 * without claiming the order first (one write transaction less an order).
 */
export interface RecordTerms {
  condition?: RecordCondition;
  finishesAcmeOrder?: string;
}

/** What every ledger throws when the order a row would finish is no longer open (RecordTerms). */
export function orderSettled(orderId: string): DepotError {
  return new DepotError("E_ORDER_SETTLED", `ACME order ${orderId} was finalized by another request first; nothing was issued`);
}

/** What every ledger throws when a RecordCondition does not hold. */
export function conditionRefused(condition: RecordCondition): DepotError {
  return new DepotError("E_REVOKED_TOKEN", `token '${condition.tokenUnrevoked.name}' was revoked (or is no longer known); nothing was issued`);
}

/**
 * Where a depot records what it issued. Claiming a serial and recording the
 * certificate are one `record` call, atomic in every implementation: a
 * duplicate serial throws SerialCollisionError and leaves nothing behind.
 * Asynchronous so that a networked ledger (PostgreSQL, for several hosts) can
 * implement it too.
 */
export interface Ledger {
  /**
   * Records a certificate and, in the same transaction, its audit record
   * (every issuance has one; the CA's own row has none), and what `terms`
   * adds. With a condition, only if it holds in that transaction, where no
   * other writer can change it before the commit; else E_REVOKED_TOKEN and
   * nothing is recorded (nor any order finished). Likewise E_ORDER_SETTLED
   * when the order `terms` would finish is no longer open.
   */
  record(certificate: CertificateRecord, audit?: AuditEntry, terms?: RecordTerms): Promise<void>;
  /** Records certificates found on disk (a depot made by the original); existing serials are kept. */
  adopt(certificates: CertificateRecord[]): Promise<number>;
  /** Whether `adopt` has run to the end once, so files on disk are all recorded. */
  hasAdopted(): Promise<boolean>;
  find(serial: string): Promise<CertificateRecord | undefined>;
  /**
   * Marks a valid certificate revoked and counts the revocation, with its
   * audit record in the same transaction; an unknown or already revoked
   * serial is an error.
   */
  revoke(serial: string, reason: string, at: Date, actor?: AuditActor): Promise<CertificateRecord>;
  /** API tokens: their hashes, policies, use counts and rate windows. */
  readonly tokens: TokenStore;
  /** The audit trail's hash chain. */
  readonly audit: AuditLog;
  /** SSH certificates and their revocations, on the same chain. */
  readonly ssh: SshStore;
  /** The ACME server's accounts, orders and nonces, on the ledger's own connection or pool (closed with it). */
  readonly acme: AcmeStore;
  /** SCEP enrolments' transactionIDs and the certificates they got (GetCertInitial). */
  readonly scep: ScepStore;
  /**
   * A number that differs from the one read before whenever the ledger may
   * have been written since, by this process or any other: what an OCSP
   * cache checks before it trusts an answer it holds. Cheap enough to call
   * per request.
   */
  changeVersion(): number;
  /**
   * Takes the next CRL number and, in the same transaction, the certificates
   * revoked and not yet expired: a higher number always lists at least as much.
   */
  claimCrl(now: Date): Promise<CrlClaim>;
  /**
   * Runs `publish` (which must be synchronous: it renames the CRL file into
   * place) only if no CRL with a higher number was published, and records
   * what it covers, so that two processes writing crl.pem at once leave the
   * newer one, and a CRL that failed to be written is seen as not published.
   */
  publishIfNewest(claim: CrlClaim, validity: { thisUpdate: Date; nextUpdate: Date }, publish: () => void): Promise<boolean>;
  crlState(): Promise<CrlState>;
  /**
   * Takes the lease on publishing CRLs when due (`refreshCrl`) until
   * `until`, unless another holder has it: so one process at a time signs a
   * large CRL for the upkeep, not every server process at once. A holder's
   * own lease is extended; an expired one is taken over.
   */
  leaseCrlPublication(holder: number, now: Date, until: Date): Promise<boolean>;
  releaseCrlPublication(holder: number): Promise<void>;
  /**
   * For a rebuilt ledger: marks revoked what the last published CRL listed
   * (serials without a record are kept as CRL-only revocations), and takes
   * up its CRL number, so numbers never go backwards.
   * Returns how many records it revoked and how many serials it kept CRL-only.
   */
  restoreRevocations(crlNumber: number, entries: CrlEntry[]): Promise<{ revoked: number; crlOnly: number }>;
  /** Every record the query selects, in order of issue, all at once. */
  list(query?: ListQuery): Promise<CertificateRecord[]>;
  /** The same without PEMs, one record at a time: memory stays flat whatever the ledger's size. */
  each(query?: ListQuery): AsyncIterable<CertificateSummary>;
  /** Serials of every certificate but the CA's, without the rest of their records. */
  leafSerials(): Promise<string[]>;
  count(): Promise<number>;
  /** Whether it holds no record at all (a ledger always holds the CA's once made): cheaper than count. */
  isEmpty(): Promise<boolean>;
  /** Makes a write-ahead log's commits durable and checkpoints it when due, for a ledger that has one (SQLite) and whose servers leave it to one process (`walCheckpoints: "elsewhere"`). */
  checkpoint?(): Promise<void>;
  close(): void;
}

export interface LedgerOpening {
  /** Make a new, empty ledger (init, rebuild); otherwise the ledger must exist, or the depot must never have had one. */
  create?: boolean;
  /**
   * `elsewhere`: another process (a server's upkeep process) checkpoints the
   * SQLite WAL, so this one does not do it inside its commits: a
   * checkpoint's fsync would hold a worker's event loop.
   */
  walCheckpoints?: "here" | "elsewhere";
}

/**
 * Opens a depot's ledger, of the kind its depot.cnf names: the backends'
 * factory (`openLedger` in src/store/open-ledger.ts), which the domain is
 * given by its caller (`Depot.open`'s `openLedger`) or installed once by
 * loading that module, and never imports itself.
 */
export type OpenLedger = (layout: DepotLayout, settings: DepotSettings, opening?: LedgerOpening) => Promise<Ledger>;

let installedOpener: OpenLedger | undefined;

/** Called by src/store/open-ledger.ts when it loads: the opener a caller that names none gets. */
export function installLedgerOpener(open: OpenLedger): void {
  installedOpener = open;
}

/** The caller's opener, or the installed one; without either, no ledger can be opened. */
export function ledgerOpenerOr(open: OpenLedger | undefined): OpenLedger {
  const opener = open ?? installedOpener;
  if (!opener) throw new DepotError("E_LEDGER", "no ledger backend is loaded: open depots with openDepot (src/store/open-depot.ts), or import src/store/open-ledger.ts");
  return opener;
}
