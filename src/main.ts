#!/usr/bin/env bun
// First: @peculiar/x509 needs it loaded before its own module code runs,
// and a lazily imported chunk may otherwise be evaluated before it.
import "reflect-metadata";
import { main } from "./cli/main.ts";
import { SERVE_COMMAND, UPKEEP_COMMAND, WORKER_COMMAND } from "./server/self.ts";

const argv = process.argv.slice(2);
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
  // The background server of a `start --daemon` (server/daemon.ts).
  const { runDaemonChild } = await import("./server/daemon.ts");
  process.exit(await runDaemonChild());
} else {
  const status = await main(argv);
  // A failed command exits at once: whatever it left open (a half-started
  // server's claims, a timer) must not keep the process alive.
  if (status !== 0) process.exit(status);
}
