import { command } from "./_command.ts";
import { DepotError } from "../errors.ts";
import { inspectPidFile, isAlive } from "../server/pidfile.ts";
import { defaultPidFile } from "../server/paths.ts";
import { lastOf } from "./_strict.ts";

const args = {
  "pid-file": { type: "string", alias: "p", description: "PID file (~/.depot.pid)" },
  wait: { type: "string", description: "Seconds to wait for the server to exit (60)" },
} as const;

export default command({
  meta: { name: "stop", description: "Stop a running server gracefully (QUIT) and wait until it has exited." },
  args,
  async run({ args: parsed }) {
    const pidFile = lastOf(parsed["pid-file"]) ?? defaultPidFile();
    const waitSeconds = Number(lastOf(parsed.wait) ?? 60);
    if (!Number.isFinite(waitSeconds) || waitSeconds <= 0) throw new DepotError("E_BAD_ARGUMENT", `--wait must be a number of seconds above 0, not '${lastOf(parsed.wait)}'`);
    const server = inspectPidFile(pidFile);
    if (server.kind === "untrusted") throw new DepotError("E_SERVER", `not trusting the pid file: ${server.reason}`);
    if (server.kind !== "running") throw new DepotError("E_SERVER", "can't find a running server");
    process.kill(server.pid, "SIGQUIT");
    const deadline = Date.now() + waitSeconds * 1000;
    while (isAlive(server.pid)) {
      if (Date.now() > deadline) throw new DepotError("E_SERVER", `the server (pid ${server.pid}) did not stop within ${waitSeconds} s`);
      await Bun.sleep(50);
    }
    console.log(`Stopped the depot server (pid ${server.pid})`);
  },
});
