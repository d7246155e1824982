import { closeSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { ioError } from "../errors.ts";

/**
 * Writes a file whole or not at all: into a temporary file beside it, then a
 * rename, so a reader (or a crash) never sees half a certificate. `mode`
 * applies from creation, not after.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o644): void {
  const temporary = join(dirname(path), `.${basename(path)}.${process.pid}.${randomHex(4)}.tmp`);
  try {
    // open/write/close rather than writeFileSync, which also ftruncates:
    // on this kind of disk every syscall here shows in issuance throughput.
    const fd = openSync(temporary, "wx", mode);
    try {
      writeSync(fd, typeof data === "string" ? Buffer.from(data) : data);
    } finally {
      closeSync(fd);
    }
    renameSync(temporary, path);
  } catch (error) {
    try {
      rmSync(temporary, { force: true });
    } catch {
      // Nothing to remove where nothing could be created (Bun says EFAULT for a path through a file).
    }
    throw ioError("write", path, error);
  }
}

/**
 * Creates a file that must not exist yet and writes it in one call, for the
 * certificate files (see certificate-files.ts: half the CPU of a temporary
 * name and a rename). A reader may see it empty for the microseconds
 * between the two; a write that fails (a full disk) removes it, so that it
 * counts as missing and is restored later.
 */
export function writeNewFile(path: string, data: string, mode = 0o644): void {
  const bytes = Buffer.from(data);
  let fd: number;
  try {
    fd = openSync(path, "wx", mode);
  } catch (error) {
    throw ioError("write", path, error);
  }
  try {
    for (let written = 0; written < bytes.length; ) {
      const wrote = writeSync(fd, bytes, written);
      if (wrote <= 0) throw new Error("the disk took no more bytes");
      written += wrote;
    }
  } catch (error) {
    try {
      rmSync(path, { force: true });
    } catch {
      // Left empty or short: a later restore finds it among the newest files.
    }
    throw ioError("write", path, error);
  } finally {
    closeSync(fd);
  }
}

/** Random hex for temporary names; WebCrypto, so that a caller (the supervisor) need not load node:crypto (7 MB). */
function randomHex(bytes: number): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(bytes))).toString("hex");
}
