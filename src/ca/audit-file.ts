/**
 * @module
 * The audit log file (`--audit-log`): the ledger's audit records as JSON
 * lines, appended by one writer (the supervisor). Where to resume is read
 * from the file itself, its last line's `seq`, so a restart neither repeats
 * nor skips a record; a new (or rotated) file starts with the records made
 * from then on (`depot audit export` prints the earlier ones). No crypto
 * here: the supervisor loads this module.
 */
import { closeSync, fstatSync, openSync, readSync, writeSync } from "node:fs";
import { ioError } from "../errors.ts";
import type { AuditLog } from "./audit.ts";

/** The `seq` of the file's last complete line, or undefined for an empty, absent or unreadable file. */
export function lastSeqInFile(path: string): number | undefined {
  let fd: number;
  try {
    fd = openSync(path, "r");
  } catch {
    return undefined;
  }
  try {
    const size = fstatSync(fd).size;
    const length = Math.min(size, 64 * 1024);
    const buffer = Buffer.alloc(length);
    readSync(fd, buffer, 0, length, size - length);
    const lines = buffer.toString("utf8").split("\n").filter((line) => line.trim() !== "");
    for (let i = lines.length - 1; i >= 0; i--) {
      try {
        const seq = (JSON.parse(lines[i]!) as { seq?: unknown }).seq;
        if (typeof seq === "number" && Number.isSafeInteger(seq)) return seq;
      } catch {
        // A torn last line (a crash mid-write): look further back.
      }
    }
    return undefined;
  } finally {
    closeSync(fd);
  }
}

/** Appends lines to the audit log (O_APPEND, mode 0600: subjects and client addresses are not for everyone). */
export class AuditFile {
  private fd: number | undefined;

  constructor(readonly path: string) {}

  append(lines: string[]): void {
    if (lines.length === 0) return;
    try {
      this.fd ??= openSync(this.path, "a", 0o600);
      writeSync(this.fd, `${lines.join("\n")}\n`);
    } catch (error) {
      throw ioError("write", this.path, error);
    }
  }

  /** After a rotation (USR1): the next line goes to a new file at the same path. */
  reopen(): void {
    this.close();
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

/**
 * The upkeep process's side: reads records newer than the last one it
 * forwarded and hands them on as JSON lines (to the supervisor, which
 * appends them to the file).
 */
export class AuditForwarder {
  private constructor(
    private readonly audit: AuditLog,
    private position: number,
  ) {}

  /** From `after` (a seq), or from the newest record now when `after` is -1. */
  static async start(audit: AuditLog, after: number): Promise<AuditForwarder> {
    return new AuditForwarder(audit, after >= 0 ? after : await audit.lastSeq());
  }

  async forward(send: (lines: string[]) => void): Promise<number> {
    let forwarded = 0;
    for (;;) {
      const records = await this.audit.after(this.position, 500);
      if (records.length === 0) return forwarded;
      send(records.map((record) => JSON.stringify(record)));
      this.position = records.at(-1)!.seq;
      forwarded += records.length;
    }
  }
}
