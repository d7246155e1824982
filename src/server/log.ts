import { appendFileSync, closeSync, openSync, writeSync } from "node:fs";

export const LOG_LEVELS = ["debug", "info", "warn", "error"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

/**
 * One line per event, in the original's format: `[  pid] 2026-11-28 07:00:00| message`.
 * Only the supervisor writes the log: workers send their lines to it over
 * their stdout, so lines never interleave. Each line goes out in a single
 * write(2) on an O_APPEND descriptor.
 */
export class Logger {
  private fd: number | undefined;

  constructor(
    readonly level: LogLevel,
    readonly path: string | undefined,
    /** Also copy lines to stderr (foreground runs); off when stderr is the log file. */
    private readonly toStderr: boolean,
  ) {
    if (path) this.fd = openSync(path, "a", 0o640);
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
        // A full disk must not stop the server; stderr still gets the line.
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

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

function timestamp(date = new Date()): string {
  const two = (n: number) => String(n).padStart(2, "0");
  return `${date.getFullYear()}-${two(date.getMonth() + 1)}-${two(date.getDate())} ${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}`;
}

/** The first log file we can append to: the given one, else /var/log/depot.log, else ~/depot.log. */
export function chooseLogFile(candidates: string[]): string | undefined {
  for (const candidate of candidates) {
    try {
      appendFileSync(candidate, "", { mode: 0o640 });
      return candidate;
    } catch {
      // Not writable: try the next, as the original did.
    }
  }
  return undefined;
}
