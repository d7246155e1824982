import { closeSync, writeSync } from "node:fs";

/**
 * How a `--daemon` start learns the outcome: the starting command passes a
 * pipe as fd 3 and names it in this variable; the server writes one line,
 * `ready <pid>` or `error <reason>`, and closes it.
 */
export const READY_FD_ENV = "DEPOT_READY_FD";

/** Writes the one line and closes the pipe; a starter that is gone hears nothing. */
export function tellStarter(fd: number, line: string): void {
  try {
    writeSync(fd, `${line}\n`);
    closeSync(fd);
  } catch {
    // The starting command is gone; nothing to tell.
  }
}
