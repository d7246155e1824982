import { defineCommand } from "citty";
import { DepotError } from "../errors.ts";
import { inspectPidFile } from "../server/pidfile.ts";
import { defaultPidFile } from "../server/paths.ts";
import { lastOf, rejectUnknownArgs } from "./_strict.ts";

const args = {
  "pid-file": { type: "string", alias: "p", description: "PID file (~/.depot.pid)" },
} as const;

export default defineCommand({
  meta: { name: "status", description: "Say whether a server runs, with its pid, address and workers. Exits 1 if none runs." },
  args,
  async run({ rawArgs, args: parsed }) {
    rejectUnknownArgs(rawArgs, args);
    const server = inspectPidFile(lastOf(parsed["pid-file"]) ?? defaultPidFile());
    if (server.kind === "untrusted") throw new DepotError("E_SERVER", `not trusting the pid file: ${server.reason}`);
    if (server.kind !== "running") {
      console.log("depot is not running");
      return 1;
    }
    const state = server.state;
    console.log(`depot is running: pid ${server.pid}`);
    if (state) {
      console.log(`listening on ${state.host}:${state.port}`);
      console.log(`depot: ${state.depot}`);
      console.log(`workers: ${state.workers.join(" ")}`);
    }
    return 0;
  },
});
