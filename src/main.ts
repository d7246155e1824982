#!/usr/bin/env bun
import { SERVER_SETTINGS, withSettings } from "./server/runtime-settings.ts";
import { currentSelfCommand, SERVE_COMMAND, UPKEEP_COMMAND, WORKER_COMMAND } from "./server/self.ts";

const argv = process.argv.slice(2);
/** Set for the process that runWithServerSettings() starts, and taken out of its environment at once. */
const SETTINGS_APPLIED = "DEPOT_RUNTIME_SETTINGS_APPLIED";
if (isSupervisor(argv) && argv[0] !== SERVE_COMMAND && !argv.includes("--daemon")) runWithServerSettings(argv);
// @peculiar/x509 needs reflect-metadata loaded before its own module code
// runs: load it before any chunk that may import x509. The supervisor (a
// server's start, its daemon copy) never loads x509, and is spared it.
if (!isSupervisor(argv)) await import("reflect-metadata");
if (argv[0] === WORKER_COMMAND) {
  // A worker process, spawned by the supervisor; loaded lazily so the
  // command line does not pay for the server's modules.
  const { runWorker } = await import("./server/worker.ts");
  await runWorker();
} else if (argv[0] === UPKEEP_COMMAND) {
  // The supervisor's upkeep process (server/upkeep-process.ts).
  const { runUpkeep } = await import("./server/upkeep-process.ts");
  await runUpkeep();
} else if (argv[0] === SERVE_COMMAND) {
  // The background server of a `start --daemon` (server/daemon.ts starts it).
  const { runDaemonChild } = await import("./server/index.ts");
  process.exit(await runDaemonChild());
} else {
  const { main } = await import("./cli/main.ts");
  const status = await main(argv);
  // A failed command exits at once: whatever it left open (a half-started
  // server's claims, a timer) must not keep the process alive.
  if (status !== 0) process.exit(status);
}

/**
 * A supervisor runs with the runtime settings its children get
 * (server/runtime-settings.ts): the runtime reads them from the environment
 * only as it starts, so the process replaces itself (execve: the same pid,
 * stdio, session and arguments) once, before it has done anything. Its
 * wake-ups then cost an idle server ~0.7 instead of ~3.2 ms of CPU a second.
 * A `--daemon` start does not: it only starts the copy that becomes the
 * supervisor, with these settings (daemon.ts), and waits on a pipe that an
 * execve would close.
 */
function runWithServerSettings(args: string[]): void {
  // Once only, even under a runtime that took its settings out of the environment it hands on.
  if (process.env[SETTINGS_APPLIED] !== undefined) {
    delete process.env[SETTINGS_APPLIED];
    return;
  }
  const env = withSettings(process.env, SERVER_SETTINGS);
  if (!env) return;
  try {
    const [program, ...before] = currentSelfCommand();
    process.execve!(program!, [program!, ...before, ...args], { ...env, [SETTINGS_APPLIED]: "1" });
  } catch {
    // A runtime without execve: the server runs as before, only dearer when idle.
  }
}

/** Whether this process becomes a server's supervisor: `start`, bare `depot` (or options only), the daemon's copy; not help. */
function isSupervisor(args: string[]): boolean {
  if (args.includes("--help") || args.includes("-h")) return false;
  const [first] = args;
  return first === SERVE_COMMAND || first === "start" || first === undefined || (first.startsWith("-") && first !== "--version" && first !== "-v");
}
