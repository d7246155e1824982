/**
 * @module
 * A server as a user starts it, for the benches that compare against it
 * (cfssl.ts, footprint.ts): a fresh EC P-256 depot in `work`, `depot start`
 * with default options but the port, pid file and log file (kept out of
 * $HOME), resolved once its state file lists 2 workers. `extraArgs` adds
 * listeners (stepca.ts: `--https-port`, `--acme`).
 */
import type { Subprocess } from "bun";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { dropFromPageCache } from "./_page-cache.ts";
import { freePort } from "./_ports.ts";

export interface DefaultServer {
  process: Subprocess;
  port: number;
  depotPath: string;
  pidFile: string;
}

export async function startDefaultServer(depotBinary: string, work: string, extraArgs: string[] = [], env: Record<string, string> = {}): Promise<DefaultServer> {
  const depotPath = join(work, "depot");
  const init = Bun.spawnSync([depotBinary, "init", depotPath, "Bench CA", "--key-type", "ec-p256"]);
  if (init.exitCode !== 0) throw new Error(`depot init failed: ${init.stderr}`);
  const port = freePort();
  const pidFile = join(work, "depot.pid");
  dropFromPageCache(depotBinary);
  const proc = Bun.spawn([depotBinary, "start", depotPath, "--port", String(port), "--pid-file", pidFile, "--log-file", join(work, "depot.log"), ...extraArgs], {
    stdout: "ignore",
    stderr: "ignore",
    stdin: "ignore",
    env: { ...process.env, ...env },
  });
  const stateFile = `${pidFile}.json`;
  const started = performance.now();
  while (!(existsSync(stateFile) && JSON.parse(readFileSync(stateFile, "utf8")).workers.length === 2)) {
    if (performance.now() - started > 15_000) throw new Error("depot did not start in 15 s");
    await Bun.sleep(10);
  }
  return { process: proc, port, depotPath, pidFile };
}
