/**
 * @module
 * What an API token may ask of the SSH CAs: which kind (user, host), which
 * principals and key ids (globs, `*` any text), and how long. A token made
 * without SSH allowances signs no SSH certificate.
 */
import { DepotError } from "../../errors.ts";
import type { SshCertificateKind } from "./certificate.ts";

export interface SshTokenPolicy {
  /** The kinds of certificate the token may ask for. */
  kinds: SshCertificateKind[];
  /** Every principal asked for must match one of these globs. */
  principals: string[];
  /** The key id must match one of these globs; absent allows any. */
  keyIds?: string[];
  /** Longest validity, milliseconds; absent: the depot's longest. */
  maxValidityMs?: number;
}

export interface SshPolicyRequest {
  kind: SshCertificateKind;
  principals: string[];
  keyId: string;
  validityMs: number;
}

/** A glob where `*` is any text and everything else is literal. */
function globRegex(glob: string): RegExp {
  return new RegExp(`^${glob.split("*").map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join(".*")}$`);
}

/** The token's SSH allowances as `depot token create` reads them; refuses an empty or malformed one. */
export function sshPolicyOf(options: { kinds: string[]; principals: string[]; keyIds: string[]; maxValidityMs?: number }): SshTokenPolicy | undefined {
  if (options.kinds.length === 0) {
    if (options.principals.length || options.keyIds.length || options.maxValidityMs !== undefined) {
      throw new DepotError("E_BAD_ARGUMENT", "--ssh-principal, --ssh-key-id and --ssh-max-valid need --ssh user or --ssh host");
    }
    return undefined;
  }
  for (const kind of options.kinds) if (kind !== "user" && kind !== "host") throw new DepotError("E_BAD_ARGUMENT", `--ssh '${kind}': user or host`);
  if (options.principals.length === 0) throw new DepotError("E_BAD_ARGUMENT", "--ssh needs --ssh-principal PATTERN (repeatable; '*' allows any principal)");
  for (const glob of [...options.principals, ...options.keyIds]) {
    if (!/^[^\s,\p{Cc}]{1,255}$/u.test(glob)) throw new DepotError("E_BAD_ARGUMENT", `SSH pattern '${glob.slice(0, 64)}' must be 1 to 255 characters without spaces, commas or control characters`);
  }
  return {
    kinds: [...new Set(options.kinds as SshCertificateKind[])],
    principals: options.principals,
    ...(options.keyIds.length ? { keyIds: options.keyIds } : {}),
    ...(options.maxValidityMs !== undefined ? { maxValidityMs: options.maxValidityMs } : {}),
  };
}

/** Why the request is outside the token's SSH policy, or undefined when it is within. */
export function sshPolicyRefusal(policy: SshTokenPolicy | undefined, request: SshPolicyRequest): string | undefined {
  if (!policy) return "SSH certificates (it was made without --ssh)";
  if (!policy.kinds.includes(request.kind)) return `SSH ${request.kind} certificates (only ${policy.kinds.join(", ")})`;
  const principals = policy.principals.map(globRegex);
  for (const principal of request.principals) {
    if (!principals.some((p) => p.test(principal))) return `the principal ${principal} (allowed: ${policy.principals.join(", ")})`;
  }
  if (policy.keyIds && !policy.keyIds.map(globRegex).some((p) => p.test(request.keyId))) return `the key id ${request.keyId} (allowed: ${policy.keyIds.join(", ")})`;
  if (policy.maxValidityMs !== undefined && request.validityMs > policy.maxValidityMs) return `a validity of ${request.validityMs / 1000} s (at most ${policy.maxValidityMs / 1000} s)`;
  return undefined;
}

export function describeSshPolicy(policy: SshTokenPolicy): string {
  return [
    `ssh ${policy.kinds.join(",")} for ${policy.principals.join(" ")}`,
    policy.keyIds ? `key id ${policy.keyIds.join(" ")}` : undefined,
    policy.maxValidityMs !== undefined ? `max ${policy.maxValidityMs / 1000} s` : undefined,
  ]
    .filter(Boolean)
    .join(", ");
}
