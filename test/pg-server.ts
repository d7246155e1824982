/**
 * @module
 * A real PostgreSQL server for the tests: Debian's `postgresql` (installed
 * when missing, like every outside tool), a throw-away cluster in a temp
 * folder owned by the `postgres` user (PostgreSQL refuses to run as root,
 * and CI runs as root), listening on 127.0.0.1 on a free port, with a
 * password for its superuser. Started once per test run, on first use, and
 * stopped when the run ends. Each test takes a fresh database from it.
 */
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SQL } from "bun";
import { ensureTool } from "./tools.ts";

export interface PgServer {
  port: number;
  /** The superuser's name and password (the tests' depots use a role of their own). */
  superuser: string;
  password: string;
  /** Stops the server (fast shutdown: connections are cut) and starts it again on the same port. */
  stop(): void;
  start(): void;
}

export interface PgDatabase {
  /** postgres://user@127.0.0.1:port/db, without the password, as depot.cnf keeps it. */
  url: string;
  password: string;
  /** The environment a depot process needs to reach it (PGPASSWORD). */
  env: Record<string, string>;
  /** Runs SQL as the database's owner. */
  query<T = Record<string, unknown>>(text: string, ...params: unknown[]): Promise<T[]>;
}

const TEST_PASSWORD = "depot-test-password";
let server: PgServer | undefined;
let databases = 0;

/** The binaries of the newest PostgreSQL installed under /usr/lib/postgresql. */
function postgresBin(): string | undefined {
  const root = "/usr/lib/postgresql";
  if (!existsSync(root)) return undefined;
  const versions = readdirSync(root)
    .filter((v) => existsSync(join(root, v, "bin", "initdb")))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] ? join(root, versions[0], "bin") : undefined;
}

function run(command: string[], asUser: string | undefined, what: string): string {
  const argv = asUser ? ["runuser", "-u", asUser, "--", ...command] : command;
  const result = spawnSync(argv[0]!, argv.slice(1), { encoding: "utf8", cwd: "/" });
  if (result.status !== 0) throw new Error(`test set-up: ${what} failed (${argv.join(" ")}): ${(result.stderr || result.stdout || String(result.error)).slice(-2000)}`);
  return result.stdout;
}

function freePort(): number {
  const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = probe.port;
  probe.stop(true);
  return port;
}

/** The one PostgreSQL server of this test run, installed and started on first use. */
export function pgServer(): PgServer {
  if (server) return server;
  const began = performance.now();
  if (!postgresBin()) ensureTool("pg_ctlcluster", "postgresql");
  const bin = postgresBin();
  if (!bin) throw new Error("test set-up: installed postgresql, but found no /usr/lib/postgresql/*/bin/initdb");
  const installed = performance.now();

  // As root, the cluster belongs to `postgres` (the package's user); otherwise to us.
  const asUser = process.getuid?.() === 0 ? "postgres" : undefined;
  const owner = asUser ? spawnSync("id", ["-u", asUser], { encoding: "utf8" }).stdout.trim() : undefined;
  const group = asUser ? spawnSync("id", ["-g", asUser], { encoding: "utf8" }).stdout.trim() : undefined;
  const home = mkdtempSync(join(tmpdir(), "depot-pg-"));
  chmodSync(home, 0o700);
  if (owner) chownSync(home, Number(owner), Number(group));
  const data = join(home, "data");
  const pwfile = join(home, "pwfile");
  writeFileSync(pwfile, `${TEST_PASSWORD}\n`, { mode: 0o600 });
  if (owner) chownSync(pwfile, Number(owner), Number(group));
  run([join(bin, "initdb"), "-D", data, "-U", "postgres", "--pwfile", pwfile, "--auth-host=scram-sha-256", "--auth-local=trust", "-E", "UTF8", "--no-sync"], asUser, "initdb");
  rmSync(pwfile);

  const port = freePort();
  const options = `-p ${port} -k ${home} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200`;
  const pgCtl = (action: string[]) => run([join(bin, "pg_ctl"), "-D", data, "-l", join(home, "server.log"), "-o", options, "-w", "-t", "60", ...action], asUser, `pg_ctl ${action[0]}`);
  pgCtl(["start"]);
  process.stderr.write(
    `test set-up: PostgreSQL (${bin}) on 127.0.0.1:${port}; install check ${((installed - began) / 1000).toFixed(1)} s, initdb + start ${((performance.now() - installed) / 1000).toFixed(1)} s\n`,
  );
  // bun test fires no "exit" event; a watchdog stops the cluster once this
  // process is gone, however it ended (even SIGKILL).
  const stopCommand = [...(asUser ? ["runuser", "-u", asUser, "--"] : []), join(bin, "pg_ctl"), "-D", data, "-m", "immediate", "stop"].map((a) => `'${a}'`).join(" ");
  const watchdog = `while kill -0 ${process.pid} 2>/dev/null; do sleep 1; done; ${stopCommand} >/dev/null 2>&1; rm -rf '${home}'`;
  Bun.spawn(["sh", "-c", watchdog], { stdin: "ignore", stdout: "ignore", stderr: "ignore", detached: true }).unref();
  server = {
    port,
    superuser: "postgres",
    password: TEST_PASSWORD,
    stop() {
      pgCtl(["-m", "fast", "stop"]);
    },
    start() {
      pgCtl(["start"]);
    },
  };
  return server;
}

/** A new, empty database owned by a new role with a password, on the run's server. */
export async function pgDatabase(): Promise<PgDatabase> {
  const pg = pgServer();
  const name = `depot_${process.pid}_${++databases}`;
  const admin = new SQL({ url: `postgres://postgres@127.0.0.1:${pg.port}/postgres`, password: pg.password, max: 1 });
  try {
    await admin.unsafe(`CREATE ROLE ${name} LOGIN PASSWORD '${TEST_PASSWORD}'`);
    await admin.unsafe(`CREATE DATABASE ${name} OWNER ${name}`);
  } finally {
    await admin.close();
  }
  const url = `postgres://${name}@127.0.0.1:${pg.port}/${name}`;
  return {
    url,
    password: TEST_PASSWORD,
    env: { PGPASSWORD: TEST_PASSWORD },
    async query<T>(text: string, ...params: unknown[]) {
      const sql = new SQL({ url, password: TEST_PASSWORD, max: 1 });
      try {
        return (await sql.unsafe(text, params)) as T[];
      } finally {
        await sql.close();
      }
    },
  };
}
