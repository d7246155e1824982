import { readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic, writeNewFile } from "./files.ts";
import { certificateFileName } from "./serial.ts";

/** Longest a certificate's file waits while the server is busy answering. */
const MAX_DEFER_MS = 50;

/**
 * Serials compared between two turns of the event loop in restoreMissing: a
 * million take over 10 s on a busy machine, and the process doing it (the
 * upkeep process at server start) must keep sending its heartbeat meanwhile.
 */
export const RESTORE_CHECKS_PER_TURN = 4096;

/**
 * How many of the most recently recorded certificates restoreMissing also
 * checks for an empty file: a process killed between creating a file and
 * its one write leaves it empty, and only the newest files can be so.
 */
export const RECENT_FILES_CHECKED = 4096;

/**
 * The `certificates/<decimal serial>.crt` files. The ledger is the record
 * of what was issued; the files mirror it in the original's layout. Each is
 * created under its final name and written in one call, not written under
 * a temporary name and renamed: a file is then 19-21 µs of CPU instead of
 * 40-43, and the two workers take the folder's lock once per file instead
 * of twice. A crash between the creation and the write leaves an empty
 * file, which restoreMissing rewrites. Creating a file costs 0.1-0.6 ms of
 * kernel time on the disks measured here, more than signing an EC
 * certificate, so a server may defer them while it is busy: a
 * certificate issued alone has its file
 * before its answer goes out; during a burst, files are written once no
 * other issuance is in progress, or at most MAX_DEFER_MS later, so the
 * answers go out first. A file lost to a crash in that window is restored
 * from the ledger (`restoreMissing`: at server start, and by the
 * supervisor right after a worker crashed).
 */
export class CertificateFiles {
  private readonly pending = new Map<string, string>();
  private timer: Timer | undefined;

  constructor(
    private readonly directory: string,
    private readonly deferred: boolean,
    /**
     * A file that cannot be written (disk full) must not undo an issuance
     * the ledger has committed: the error is reported here, and the file is
     * restored from the ledger later (see restoreMissing).
     */
    private readonly onError: (error: unknown) => void,
  ) {}

  write(serial: string, pem: string, busy: boolean): void {
    const path = join(this.directory, certificateFileName(serial));
    if (!this.deferred || !busy) {
      this.writeOne(path, pem);
      if (this.pending.size > 0) setImmediate(() => this.flush());
      return;
    }
    this.pending.set(path, pem);
    this.timer ??= setTimeout(() => this.flush(), MAX_DEFER_MS);
  }

  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    for (const [path, pem] of this.pending) {
      this.pending.delete(path);
      this.writeOne(path, pem);
    }
  }

  private writeOne(path: string, pem: string): void {
    try {
      writeNewFile(path, pem);
    } catch (error) {
      this.onError(error);
    }
  }

  /**
   * Writes the file of every recorded certificate that has none, or an
   * empty one among the RECENT_FILES_CHECKED newest; returns how many.
   * `serials` come in the order they were recorded. Only the serials are
   * compared, so a large depot costs a directory listing, one small query
   * and a few thousand stats, and PEMs are read only for the files written.
   */
  async restoreMissing(serials: string[], pemOf: (serial: string) => Promise<string | undefined>): Promise<number> {
    const present = new Set(readdirSync(this.directory));
    const recentFrom = serials.length - RECENT_FILES_CHECKED;
    let restored = 0;
    let checked = 0;
    for (const [index, serial] of serials.entries()) {
      if (++checked % RESTORE_CHECKS_PER_TURN === 0) await new Promise((resolve) => setImmediate(resolve));
      const name = certificateFileName(serial);
      if (present.has(name) && (index < recentFrom || !isEmpty(join(this.directory, name)))) continue;
      const path = join(this.directory, name);
      const pem = await pemOf(serial);
      if (pem === undefined) continue;
      // Atomic here: it may replace an empty file a reader already sees.
      writeFileAtomic(path, pem);
      restored++;
    }
    return restored;
  }
}

function isEmpty(path: string): boolean {
  try {
    return statSync(path).size === 0;
  } catch {
    return false; // Gone since the listing: the next restore sees it missing.
  }
}
