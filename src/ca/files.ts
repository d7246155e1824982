import { randomBytes } from "node:crypto";
import { renameSync, rmSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { ioError } from "../errors.ts";

/**
 * Writes a file whole or not at all: into a temporary file beside it, then a
 * rename, so a reader (or a crash) never sees half a certificate. `mode`
 * applies from creation, so a key is never readable by others, not even
 * for a moment.
 */
export function writeFileAtomic(path: string, data: string | Uint8Array, mode = 0o644): void {
  const temporary = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`);
  try {
    writeFileSync(temporary, data, { mode, flag: "wx" });
    renameSync(temporary, path);
  } catch (error) {
    rmSync(temporary, { force: true });
    throw ioError("write", path, error);
  }
}
