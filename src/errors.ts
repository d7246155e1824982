/**
 * @module
 * The one error class the library throws. Only the CLI entry point and the
 * protocol handler turn it into an exit status or an `ERROR` line; anything
 * else that escapes is a bug and is reported as such.
 */
export type ErrorCode =
  | "E_BAD_DN"
  | "E_BAD_ARGUMENT"
  | "E_BAD_CSR"
  | "E_NOT_A_DEPOT"
  | "E_DEPOT_EXISTS"
  | "E_NOT_FOUND"
  | "E_ALREADY_REVOKED"
  | "E_IO"
  | "E_INSECURE_KEY"
  | "E_BAD_PASSPHRASE"
  | "E_LEDGER"
  | "E_NOT_DELIVERED"
  | "E_SERVER"
  /** `depot renew`: the CA server could not be reached or refused the renewal. */
  | "E_RENEW"
  | "E_LEDGER_UNAVAILABLE"
  /** An issuance gate (the authorize or enrich webhook) said no: nothing was issued. */
  | "E_DENIED"
  /** An issuance gate could not decide (a webhook timed out, failed or answered wrongly): nothing was issued. */
  | "E_GATE_UNAVAILABLE"
  /** The API token that asked was revoked before the certificate could be recorded: nothing was issued. */
  | "E_REVOKED_TOKEN"
  /** The ACME order a certificate would finalize was finalized by another request first: nothing was issued. */
  | "E_ORDER_SETTLED";

export class DepotError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "DepotError";
  }
}

/** The message of anything thrown: an Error's message, else the value as text. */
export function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message;
  if (typeof error === "object" && error !== null && typeof (error as { message?: unknown }).message === "string") return (error as { message: string }).message;
  return String(error);
}

/** The errno code of a failed system call (ENOENT, ENOSPC, ...), if it is one. */
export function errnoOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null | undefined)?.code;
  return typeof code === "string" ? code : undefined;
}

/** What an errno means, in words a person acts on. */
export function reasonOf(error: unknown): string {
  switch (errnoOf(error)) {
    case "EACCES":
    case "EPERM":
      return "permission denied";
    case "ENOENT":
      return "no such file or directory";
    case "ENOTDIR":
      return "a part of the path is not a folder";
    case "EROFS":
      return "read-only file system";
    case "ENOSPC":
    case "EDQUOT":
      return "no space left on device";
    case "ELOOP":
      return "it is a symbolic link";
    default:
      return messageOf(error);
  }
}

/** Turns a failed file-system call into a one-line message naming the path; the original error is its `cause`. */
export function ioError(action: string, path: string, cause: unknown): DepotError {
  return new DepotError("E_IO", `cannot ${action} ${path}: ${reasonOf(cause)}`, { cause });
}

/**
 * A certificate the ledger holds but that never reached its requester (the
 * output file could not be written): the operator must know its serial to
 * revoke it, since nobody kept its key.
 */
export function notDeliveredError(serial: string, depotPath: string, cause: unknown, kind: "x509" | "ssh" = "x509"): DepotError {
  // An SSH certificate certifies the user's own key: only the certificate is lost, not a key nobody kept.
  const [what, shown, lost, revoke] =
    kind === "ssh" ? ["SSH certificate", serial, "", "depot ssh revoke"] : ["certificate", serial.toUpperCase(), " nobody holds its key:", "depot revoke"];
  return new DepotError(
    "E_NOT_DELIVERED",
    `${what} ${shown} was issued and recorded in the ledger but not delivered (${messageOf(cause)});${lost} revoke it with: ${revoke} ${depotPath} ${shown}`,
    { cause },
  );
}
