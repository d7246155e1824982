/**
 * @module
 * Where commands put what they issue: a private key never lands readable by
 * others (an `--out` file is created 0600; standard output redirected to a
 * file is tightened to 0600), and a file is never left empty or half
 * written when the command fails.
 */
import { closeSync, fchmodSync, fstatSync, openSync, rmSync, writeSync } from "node:fs";
import { writeFileAtomic } from "../ca/files.ts";
import { DepotError, ioError, notDeliveredError } from "../errors.ts";

/**
 * Creates `path` for a secret (mode 0600, never over an existing file) and
 * returns its descriptor. Claimed before the certificate is issued: a
 * refused --out must not leave a recorded certificate whose key nobody kept.
 */
export function claimSecretFile(path: string): number {
  try {
    return openSync(path, "wx", 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") throw new DepotError("E_IO", `${path} already exists; depot does not overwrite a key`);
    throw ioError("write", path, error);
  }
}

/** A certificate already recorded in a depot's ledger, for the message when it cannot be delivered. */
export interface Recorded {
  serial: string;
  depotPath: string;
  /** An SSH certificate (revoked with `depot ssh revoke`, decimal serial); default X.509. */
  kind?: "x509" | "ssh";
}

/** Writes a claimed secret file and closes it; on failure the file is removed. */
export function fillSecretFile(fd: number, path: string, data: string | Uint8Array, recorded?: Recorded): void {
  try {
    writeSync(fd, typeof data === "string" ? Buffer.from(data) : data);
    closeSync(fd);
  } catch (error) {
    closeSync(fd);
    rmSync(path, { force: true });
    throw undelivered(recorded, ioError("write", path, error));
  }
}

/** Drops a claimed file after a failure before anything was written. */
export function abandonSecretFile(fd: number, path: string): void {
  closeSync(fd);
  rmSync(path, { force: true });
}

/** Writes a certificate (public) to `path` atomically, mode 0644: a failure leaves no empty file. */
export function writePublicFile(path: string, data: string, recorded: Recorded): void {
  try {
    writeFileAtomic(path, data, 0o644);
  } catch (error) {
    throw undelivered(recorded, error instanceof DepotError ? error : ioError("write", path, error));
  }
}

/** Writes to standard output; a failure after the ledger commit says what to revoke. */
export function writeStdout(data: string, recorded: Recorded): void {
  try {
    process.stdout.write(data);
  } catch (error) {
    throw undelivered(recorded, ioError("write", "standard output", error));
  }
}

/** The certificate exists in the ledger: say so, so the operator can revoke it. */
function undelivered(recorded: Recorded | undefined, error: DepotError): DepotError {
  return recorded ? notDeliveredError(recorded.serial, recorded.depotPath, error, recorded.kind) : error;
}

/**
 * When standard output is a regular file (`depot generate ... > bob.pem`),
 * makes it 0600 before a private key goes into it, and says so. Refuses
 * when it cannot, rather than leave the key readable by others.
 */
export function secureStdoutForSecret(): void {
  let stat;
  try {
    stat = fstatSync(1);
  } catch {
    return;
  }
  if (!stat.isFile() || (stat.mode & 0o077) === 0) return;
  try {
    fchmodSync(1, 0o600);
  } catch {
    throw new DepotError("E_IO", "standard output is a file others can read, and depot cannot make it private (mode 0600); use --out FILE");
  }
  process.stderr.write("depot: standard output is a file: made it mode 0600 (owner only), as it holds a private key\n");
}
