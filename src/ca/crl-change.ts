/**
 * @module
 * `--on-crl-change CMD` (`on_crl_change` in depot.cnf): a command run after
 * each new crl.pem, by whichever process wrote it (a server's worker or
 * upkeep, or the CLI), e.g. `systemctl reload nginx`, because a web server
 * reads its CRL file only when it loads its configuration.
 *
 * The command runs with `sh -c`, DEPOT_CRL and DEPOT_CRL_NUMBER in its
 * environment, its output captured (a worker's stdout is its message pipe),
 * and at most COMMAND_TIMEOUT_MS before it is killed.
 */
import { type CommandOutcome, howItEnded, runShellCommand } from "../shell-command.ts";

export type { CommandOutcome } from "../shell-command.ts";

/** What a depot tells its `onCrlPublished` listener. */
export interface CrlPublished {
  path: string;
  crlNumber: number;
}

export const COMMAND_TIMEOUT_MS = 60_000;

export function runCrlChangeCommand(command: string, published: CrlPublished, timeoutMs = COMMAND_TIMEOUT_MS): Promise<CommandOutcome> {
  return runShellCommand(command, { DEPOT_CRL: published.path, DEPOT_CRL_NUMBER: String(published.crlNumber) }, timeoutMs);
}

/** One line saying how the command ended. */
export function describeOutcome(outcome: CommandOutcome, crlNumber: number): string {
  return `on-crl-change \`${outcome.command}\` (CRL ${crlNumber}) ${howItEnded(outcome, COMMAND_TIMEOUT_MS)}`;
}

/**
 * The default listener (the CLI): runs the command, waits for it (the
 * process is about to exit) and prints how it ended on stderr. Nothing
 * when no command is configured.
 */
export function crlChangeReporter(command: string | undefined): ((published: CrlPublished) => Promise<void>) | undefined {
  if (!command) return undefined;
  return async (published) => {
    try {
      console.error(`depot: ${describeOutcome(await runCrlChangeCommand(command, published), published.crlNumber)}`);
    } catch (error) {
      console.error(`depot: on-crl-change \`${command}\` could not be run: ${(error as Error)?.message ?? error}`);
    }
  };
}

/**
 * A server's listener (the upkeep process): runs the command without
 * holding up the publication, and logs how it ended.
 */
export function crlChangeLogger(
  command: () => string | undefined,
  log: (level: "info" | "warn" | "error", message: string) => void,
): (published: CrlPublished) => void {
  return (published) => {
    const cmd = command();
    if (!cmd) return;
    runCrlChangeCommand(cmd, published)
      .then((outcome) => log(outcome.exitCode === 0 ? "info" : "warn", describeOutcome(outcome, published.crlNumber)))
      .catch((error: unknown) => log("error", `on-crl-change \`${cmd}\` could not be run: ${(error as Error)?.message ?? error}`));
  };
}
