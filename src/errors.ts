/**
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
  | "E_SERVER";

export class DepotError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "DepotError";
  }
}

/** Turns a failed file-system call into a one-line message naming the path. */
export function ioError(action: string, path: string, cause: unknown): DepotError {
  const code = (cause as NodeJS.ErrnoException)?.code;
  const reason =
    code === "EACCES" || code === "EPERM"
      ? "permission denied"
      : code === "ENOENT"
        ? "no such file or directory"
        : code === "ENOTDIR"
          ? "a part of the path is not a folder"
          : code === "EROFS"
            ? "read-only file system"
            : code === "ENOSPC"
              ? "no space left on device"
              : String((cause as Error)?.message ?? cause);
  return new DepotError("E_IO", `cannot ${action} ${path}: ${reason}`);
}
