/**
 * @module
 * Depot hosts on one PostgreSQL ledger, as the README makes them: a depot
 * made on `db`, a second host's folder copied from it (modes kept), and a
 * real `dist/depot start` on a folder, ready when its log says so.
 */
import { expect } from "bun:test";
import type { Subprocess } from "bun";
import { existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { DEPOT_BIN, depot, tempDir } from "./helpers.ts";
import type { PgDatabase } from "./pg-server.ts";
import { freePort, killServer, waitFor } from "./server-helpers.ts";

/** A depot on `db`, and a second host's folder made the README's way; `before(first)` runs between (e.g. `depot scep init`), `alsoCopy` names its files the copy takes. */
export function twoHostFolders(db: PgDatabase, options: { before?: (first: string) => void; alsoCopy?: string[] } = {}): [string, string] {
  const first = join(tempDir("depot-host-a-"), "ca");
  const init = depot(["init", first, "Shared CA", "--key-type", "ec-p256", "--ledger", db.url], { env: db.env });
  if (init.exitCode !== 0) throw new Error(`init failed: ${init.stderr}`);
  options.before?.(first);
  const second = join(tempDir("depot-host-b-"), "ca");
  // The README's commands, word for word (and the files a test adds).
  const files = ["depot.cnf", "private", "certificates/ca.crt", ...(options.alsoCopy ?? [])].join(" ");
  const copy = Bun.spawnSync(["sh", "-c", `tar -C '${first}' -cpf - ${files} | (mkdir -m 0755 '${second}' && tar -C '${second}' -xpf -)`]);
  if (copy.exitCode !== 0) throw new Error(`copy failed: ${copy.stderr}`);
  expect(statSync(join(second, "private")).mode & 0o777).toBe(0o700);
  expect(statSync(join(second, "private", "ca.key")).mode & 0o777).toBe(0o400);
  return [first, second];
}

export interface PgHost {
  /** The line protocol's port. */
  port: number;
  process: Subprocess<"ignore", "pipe", "pipe">;
  log(): string;
  kill(): Promise<void>;
}

/** `depot start` on `path` with the ledger's credentials, its own HOME, pid and log files; `flags` after the line port. */
export async function startPgHost(path: string, db: PgDatabase, flags: string[]): Promise<PgHost> {
  const home = tempDir("depot-host-home-");
  const port = freePort();
  const logFile = join(home, "depot.log");
  const proc = Bun.spawn([DEPOT_BIN, "start", path, "--port", String(port), "--pid-file", join(home, "depot.pid"), "--log-file", logFile, ...flags], {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, ...db.env, HOME: home },
  });
  const log = () => (existsSync(logFile) ? readFileSync(logFile, "utf8") : "");
  const host: PgHost = { port, process: proc, log, kill: () => killServer(proc) };
  try {
    await waitFor(() => /All \d+ workers ready/.test(log()), 20_000, () => `host on ${port} not ready; log:\n${log()}`);
  } catch (error) {
    await host.kill();
    throw error;
  }
  return host;
}
