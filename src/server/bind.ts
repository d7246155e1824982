/**
 * @module
 * Owning the server's names before anything listens: every listener's
 * host:port and the pid file, for as long as the supervisor lives.
 */
import { resolve } from "node:path";
import { DepotError } from "../errors.ts";
import { addressOf } from "./listeners/types.ts";

interface Address {
  host: string;
  port: number;
}

/**
 * Checks that nothing listens on any of the addresses before a worker is
 * spawned. The probe binds *without* SO_REUSEPORT: it fails on any listener
 * there, including another depot's workers, which would otherwise silently
 * share the port with ours (SO_REUSEPORT lets sockets of one user do that).
 */
export function probePorts(addresses: readonly Address[]): void {
  for (const { host, port } of addresses) {
    try {
      const probe = Bun.listen({ hostname: host, port, socket: { data() {} } });
      probe.stop(true);
    } catch (error) {
      throw new DepotError("E_SERVER", listenErrorMessage(error, host, port));
    }
  }
}

export function listenErrorMessage(error: unknown, host: string, port: number): string {
  const code = (error as NodeJS.ErrnoException)?.code;
  const where = addressOf({ host, port });
  if (code === "EADDRINUSE") return `cannot listen on ${where}: the port is in use`;
  if (code === "EACCES") return `cannot listen on ${where}: permission denied`;
  if (code === "EADDRNOTAVAIL") return `cannot listen on ${where}: no such local address`;
  return `cannot listen on ${where}: ${(error as Error)?.message ?? error}`;
}

/**
 * Holds an abstract Unix socket named after each thing this server must
 * own alone (every listener's host:port, its pid file) for as long as the
 * supervisor lives. Checking the pid file and probing the ports leave a gap
 * in which a second `depot start` could pass the same checks; binding these
 * names cannot succeed twice, and the kernel frees them when the process
 * dies, even by SIGKILL. Returns a function that releases them.
 */
export function claimServerNames(addresses: readonly Address[], pidFile: string): () => void {
  const held: { stop(closeActiveConnections?: boolean): void }[] = [];
  // Abstract names belong to no user: the uid in them keeps one user's
  // claim from blocking another's start.
  const uid = process.getuid?.() ?? 0;
  const claims: [string, string][] = addresses.map(({ host, port }) => [`depot:${uid}:${host}:${port}`, `cannot listen on ${addressOf({ host, port })}: the port is in use`]);
  claims.push([`depot-pid:${uid}:${new Bun.CryptoHasher("sha256").update(resolve(pidFile)).digest("hex")}`, `a depot server is already starting or running with the pid file ${pidFile}`]);
  const release = () => {
    for (const listener of held) listener.stop(true);
    held.length = 0;
  };
  for (const [name, busy] of claims) {
    try {
      held.push(Bun.listen({ unix: `\0${name}`, socket: { data() {} } }));
    } catch {
      release();
      throw new DepotError("E_SERVER", busy);
    }
  }
  return release;
}
