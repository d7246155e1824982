import { command } from "./_command.ts";
import { DepotError } from "../errors.ts";
import { addressOf } from "../server/listeners/types.ts";
import { inspectPidFile } from "../server/pidfile.ts";
import { defaultPidFile } from "../server/paths.ts";
import { lastOf } from "./_strict.ts";

const args = {
  "pid-file": { type: "string", alias: "p", description: "PID file (~/.depot.pid)" },
} as const;

export default command({
  meta: { name: "status", description: "Say whether a server runs, with its pid, address and workers. Exits 1 if none runs." },
  args,
  async run({ args: parsed }) {
    const server = inspectPidFile(lastOf(parsed["pid-file"]) ?? defaultPidFile());
    if (server.kind === "untrusted") throw new DepotError("E_SERVER", `not trusting the pid file: ${server.reason}`);
    if (server.kind !== "running") {
      console.log("depot is not running");
      return 1;
    }
    const state = server.state;
    console.log(`depot is running: pid ${server.pid}`);
    if (state) {
      // The line listener by its address alone, as before; other kinds named.
      const listeners = state.listeners ?? [{ kind: "line", host: state.host, port: state.port }];
      console.log(`listening on ${listeners.map((l) => (l.kind === "line" ? addressOf(l) : `${addressOf(l)} (${l.kind})`)).join(", ")}`);
      console.log(`depot: ${state.depot}`);
      console.log(`workers: ${state.workers.join(" ")}`);
    }
    return 0;
  },
});
