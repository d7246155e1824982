/**
 * @module
 * Issuing one SSH certificate: the request checked (principals, key id,
 * validity, options), the issuance gate asked (authorize only: the enrich
 * webhook adds nothing to SSH certificates), a random 64-bit serial, the
 * certificate signed by the user or host CA, and its row recorded with its
 * audit record before anyone is given the certificate.
 */
import type { AuditActor, AuditLog } from "../audit.ts";
import { type IssuanceGate, passGate } from "../issuance-gate.ts";
import { SerialCollisionError } from "../ledger.ts";
import { DepotError } from "../../errors.ts";
import { signSshCertificate, type SshCertificateKind, type SshCriticalOptions } from "./certificate.ts";
import { parseSshPublicKey, sshFingerprint, type SshPublicKey } from "./keys.ts";
import type { SshCa } from "./ssh-ca.ts";
import { type SshCertificateRecord, sshIssueEntry, type SshStore } from "./store.ts";

/** What the defaults give when a request names no validity: a working day for a user (as step-ca), a month for a host. */
export const DEFAULT_SSH_VALIDITY_MS: Record<SshCertificateKind, number> = { user: 16 * 3_600_000, host: 30 * 86_400_000 };
/** The longest validity depot signs: a year. */
export const MAX_SSH_VALIDITY_MS = 366 * 86_400_000;
/** As X.509 certificates: a little before now, so a server whose clock is behind accepts it at once. */
const BACKDATE_MS = 5 * 60_000;
const MAX_PRINCIPALS = 256;

export interface SshIssueRequest {
  /** The key to certify, one line as in id_ed25519.pub. */
  publicKey: string;
  kind: SshCertificateKind;
  principals: string[];
  /** Default: the first principal. */
  keyId?: string;
  /** Milliseconds; default DEFAULT_SSH_VALIDITY_MS. */
  validityMs?: number;
  criticalOptions?: SshCriticalOptions;
  /** User certificates' extensions; default OpenSSH's five permit-* flags. */
  extensions?: string[];
  requester: AuditActor;
}

const bad = (message: string) => new DepotError("E_BAD_ARGUMENT", message);

/** A principal: a user or host name, no spaces, commas or controls (sshd splits on them). */
function checkPrincipal(principal: string): string {
  if (!/^[^\s,\p{Cc}]{1,255}$/u.test(principal)) throw bad(`principal '${principal.slice(0, 64)}' must be 1 to 255 characters without spaces, commas or control characters`);
  return principal;
}

function checkSourceAddress(cidr: string): string {
  // sshd's own parser decides in the end; this keeps obvious mistakes out of a signed certificate.
  if (!/^[0-9a-fA-F:.]+(\/\d{1,3})?$/.test(cidr)) throw bad(`source address '${cidr.slice(0, 64)}' is not an address or CIDR block`);
  return cidr;
}

const KNOWN_EXTENSIONS = new Set(["permit-X11-forwarding", "permit-agent-forwarding", "permit-port-forwarding", "permit-pty", "permit-user-rc", "no-touch-required"]);

/** Checks a request and fills its defaults; what a caller's policy then judges. */
export function checkSshRequest(request: SshIssueRequest): Required<Omit<SshIssueRequest, "criticalOptions" | "extensions">> & Pick<SshIssueRequest, "criticalOptions" | "extensions"> {
  if (request.kind !== "user" && request.kind !== "host") throw bad(`SSH certificate type must be user or host`);
  parsedKey(request.publicKey);
  const principals = [...new Set(request.principals.map(checkPrincipal))];
  if (principals.length === 0) throw bad("an SSH certificate needs at least one principal (a user name, or the host's names)");
  if (principals.length > MAX_PRINCIPALS) throw bad(`at most ${MAX_PRINCIPALS} principals`);
  const keyId = request.keyId ?? principals[0]!;
  if (!/^[^\p{Cc}]{1,255}$/u.test(keyId)) throw bad("the key id must be 1 to 255 characters without control characters");
  const validityMs = request.validityMs ?? DEFAULT_SSH_VALIDITY_MS[request.kind];
  if (!(validityMs > 0) || validityMs > MAX_SSH_VALIDITY_MS) throw bad("an SSH certificate's validity must be more than 0 and at most 366 days");
  const options = request.criticalOptions;
  if (request.kind === "host" && (options?.forceCommand !== undefined || options?.sourceAddress?.length)) throw bad("force-command and source-address are for user certificates");
  if (request.kind === "host" && request.extensions?.length) throw bad("extensions are for user certificates");
  if (options?.forceCommand !== undefined && (options.forceCommand.length === 0 || /\p{Cc}/u.test(options.forceCommand))) throw bad("force-command must be a command line without control characters");
  options?.sourceAddress?.forEach(checkSourceAddress);
  for (const name of request.extensions ?? []) if (!KNOWN_EXTENSIONS.has(name)) throw bad(`unknown extension '${name.slice(0, 64)}' (known: ${[...KNOWN_EXTENSIONS].join(", ")})`);
  return { ...request, principals, keyId, validityMs };
}

function parsedKey(line: string): SshPublicKey {
  try {
    return parseSshPublicKey(line);
  } catch (error) {
    throw bad(`the SSH public key: ${(error as Error).message}`);
  }
}

/** A random serial in 1 .. 2^64-1: 64 bits from the CSPRNG, never 0 (which a KRL cannot list). */
function newSshSerial(): bigint {
  for (;;) {
    const serial = new DataView(crypto.getRandomValues(new Uint8Array(8)).buffer).getBigUint64(0);
    if (serial !== 0n) return serial;
  }
}

/** A server's issuance gate and the audit chain its denials go to (`Depot.gate`, `ledger.audit`). */
export interface SshGate {
  gate: IssuanceGate;
  audit: AuditLog;
}

/**
 * Signs and records one certificate; resolves only after its ledger row and
 * audit record are committed. With `gated`, the gate is asked first (face
 * `ssh`, the principals as names): a denial throws before a serial is drawn.
 */
export async function issueSshCertificate(store: SshStore, ca: SshCa, request: SshIssueRequest, now = new Date(), gated?: SshGate): Promise<SshCertificateRecord> {
  const checked = checkSshRequest(request);
  if (ca.kind !== checked.kind) throw new DepotError("E_SERVER", `the ${ca.kind} CA cannot sign a ${checked.kind} certificate`);
  const publicKey = parsedKey(request.publicKey);
  const decision = gated
    ? await passGate(
        gated.gate,
        gated.audit,
        {
          face: "ssh",
          profile: checked.kind,
          subject: checked.keyId,
          subjectAltNames: checked.principals.map((value) => ({ type: "principal" as const, value })),
          keyType: publicKey.type,
          days: checked.validityMs / 86_400_000,
          requester: checked.requester.requester,
          ...(checked.requester.client ? { client: checked.requester.client } : {}),
        },
        { enrich: false },
      )
    : undefined;
  const webhooks = decision && Object.keys(decision.notes).length > 0 ? decision.notes : undefined;
  const validAfter = new Date(Math.floor((now.getTime() - BACKDATE_MS) / 1000) * 1000);
  const validBefore = new Date(validAfter.getTime() + BACKDATE_MS + checked.validityMs);
  for (let attempt = 1; ; attempt++) {
    const serial = newSshSerial();
    const certificate = signSshCertificate(
      { publicKey, kind: checked.kind, serial, keyId: checked.keyId, principals: checked.principals, validAfter, validBefore, criticalOptions: checked.criticalOptions, extensions: checked.extensions },
      ca.privateKey,
      ca.publicKey,
    );
    const record: SshCertificateRecord = {
      serial: serial.toString(),
      kind: checked.kind,
      keyId: checked.keyId,
      principals: checked.principals,
      keyType: publicKey.type,
      keyFingerprint: sshFingerprint(publicKey.blob),
      validAfter,
      validBefore,
      certificate: certificate.line,
      status: "valid",
    };
    try {
      await store.record(record, sshIssueEntry(record, checked.requester, webhooks));
      return record;
    } catch (error) {
      if (error instanceof SerialCollisionError && attempt < 3) continue;
      throw error;
    }
  }
}
