import { DepotError } from "../errors.ts";

/**
 * Checks that nothing listens on host:port before any worker is spawned.
 * The probe binds *without* SO_REUSEPORT: it fails on any listener there,
 * including another depot's workers, which would otherwise silently share
 * the port with ours (SO_REUSEPORT lets sockets of one user do that).
 */
export function probePort(host: string, port: number): void {
  try {
    const probe = Bun.listen({ hostname: host, port, socket: { data() {} } });
    probe.stop(true);
  } catch (error) {
    throw new DepotError("E_SERVER", listenErrorMessage(error, host, port));
  }
}

export function listenErrorMessage(error: unknown, host: string, port: number): string {
  const code = (error as NodeJS.ErrnoException)?.code;
  const where = `${host}:${port}`;
  if (code === "EADDRINUSE") return `cannot listen on ${where}: the port is in use`;
  if (code === "EACCES") return `cannot listen on ${where}: permission denied`;
  if (code === "EADDRNOTAVAIL") return `cannot listen on ${where}: no such local address`;
  return `cannot listen on ${where}: ${(error as Error)?.message ?? error}`;
}
