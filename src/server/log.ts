/**
 * @module
 * The server's log: one line per event, in the original's format:
 * `[  pid] 2026-11-28 07:00:00| message` (the time in UTC). Only the supervisor writes it:
 * workers and the upkeep process send their lines over their stdout, so
 * lines never interleave. Each line goes out in a single write(2) on an
 * O_APPEND descriptor.
 */
import { closeSync, constants, openSync, writeSync } from "node:fs";
import { DepotError } from "../errors.ts";
import { LOG_LEVELS, type LogLevel } from "../log-level.ts";

export { LOG_LEVELS, type LogLevel };

/**
 * Opens a log file for appending, never through a symbolic link: in a
 * folder others can write to, a planted link would make the server (often
 * root) append to whatever it points at.
 */
export function openLogFile(path: string): number {
  try {
    return openSync(path, constants.O_WRONLY | constants.O_APPEND | constants.O_CREAT | constants.O_NOFOLLOW, 0o640);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException)?.code;
    if (code === "ELOOP") throw new DepotError("E_IO", `refusing the log file ${path}: it is a symbolic link (give the file's real path)`);
    throw new DepotError("E_IO", `cannot write the log file ${path}: ${code === "EACCES" || code === "EPERM" ? "permission denied" : code === "ENOENT" ? "no such folder" : ((error as Error)?.message ?? error)}`);
  }
}

export class Logger {
  private fd: number | undefined;

  constructor(
    readonly level: LogLevel,
    private readonly path: string | undefined,
    /** Also write lines to stderr (the foreground without a log file). */
    private readonly toStderr: boolean,
  ) {
    if (path) this.fd = openLogFile(path);
  }

  enabled(level: LogLevel): boolean {
    return LOG_LEVELS.indexOf(level) >= LOG_LEVELS.indexOf(this.level);
  }

  write(level: LogLevel, message: string, pid = process.pid): void {
    if (!this.enabled(level)) return;
    const prefix = level === "info" ? "" : `${level.toUpperCase()}: `;
    const line = `[${String(pid).padStart(5)}] ${timestamp()}| ${prefix}${message.replace(/[\r\n]+/g, " ").replace(/[\u0000-\u001f\u007f]/g, "?")}\n`;
    if (this.fd !== undefined) {
      try {
        writeSync(this.fd, line);
      } catch {
        // A full disk must not stop the server.
      }
    }
    if (this.toStderr) {
      try {
        writeSync(2, line);
      } catch {
        // stderr closed (terminal gone): nothing more to do.
      }
    }
  }

  debug = (message: string) => this.write("debug", message);
  info = (message: string) => this.write("info", message);
  warn = (message: string) => this.write("warn", message);
  error = (message: string) => this.write("error", message);

  /**
   * Opens the log file again by its name (SIGUSR1, after logrotate moved
   * it away); lines keep going to the old file if the new one cannot open.
   */
  reopen(): void {
    if (!this.path) return;
    let fd: number;
    try {
      fd = openLogFile(this.path);
    } catch (error) {
      this.error(`cannot reopen the log: ${(error as Error).message}`);
      return;
    }
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = fd;
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

/**
 * UTC, in the original's layout. Local time would load the time-zone
 * database into the supervisor (about 4 MB of its peak memory), and a
 * server's log reads the same whatever the host's zone.
 */
function timestamp(date = new Date()): string {
  return date.toISOString().slice(0, 19).replace("T", " ");
}

/** The first log file we can append to: /var/log/depot.log, else ~/depot.log (a daemon's default). */
export function chooseLogFile(candidates: string[]): string | undefined {
  for (const candidate of candidates) {
    try {
      closeSync(openLogFile(candidate));
      return candidate;
    } catch {
      // Not writable: try the next, as the original did.
    }
  }
  return undefined;
}
