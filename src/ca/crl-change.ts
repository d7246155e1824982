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

/** What a depot tells its `onCrlPublished` listener. */
export interface CrlPublished {
  path: string;
  crlNumber: number;
}

export interface CommandOutcome {
  command: string;
  exitCode: number | null;
  /** The signal that ended it (SIGKILL when it ran past the timeout). */
  signal: string | null;
  timedOut: boolean;
  /** The end of what it printed, for a message when it failed. */
  output: string;
}

export const COMMAND_TIMEOUT_MS = 60_000;

export async function runCrlChangeCommand(command: string, published: CrlPublished, timeoutMs = COMMAND_TIMEOUT_MS): Promise<CommandOutcome> {
  const child = Bun.spawn(["sh", "-c", command], {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, DEPOT_CRL: published.path, DEPOT_CRL_NUMBER: String(published.crlNumber) },
  });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill("SIGKILL");
  }, timeoutMs);
  const [stdout, stderr] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  clearTimeout(timer);
  return {
    command,
    exitCode: child.exitCode,
    signal: child.signalCode === null ? null : String(child.signalCode),
    timedOut,
    output: (stdout + stderr).trim().slice(-500),
  };
}

/** One line saying how the command ended. */
export function describeOutcome(outcome: CommandOutcome, crlNumber: number): string {
  const how = outcome.timedOut
    ? `was killed after ${COMMAND_TIMEOUT_MS / 1000} s`
    : outcome.exitCode !== null
      ? `exited with status ${outcome.exitCode}`
      : `was ended by ${outcome.signal}`;
  const output = outcome.exitCode !== 0 && outcome.output ? `: ${outcome.output.replace(/\s*\n\s*/g, " | ")}` : "";
  return `on-crl-change \`${outcome.command}\` (CRL ${crlNumber}) ${how}${output}`;
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
