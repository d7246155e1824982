/**
 * @module
 * Where the HTTPS listener's own certificate lives in a depot, and the names
 * it gets by default. No crypto here: the supervisor's `start` reads it.
 */
import { isIP } from "node:net";
import { hostname } from "node:os";
import { join } from "node:path";

export function httpsCertificatePaths(depotRoot: string): { certPath: string; keyPath: string } {
  return { certPath: join(depotRoot, "https.crt"), keyPath: join(depotRoot, "private", "https.key") };
}

const HOST_NAME = /^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** localhost, the loopback addresses and this host's name (left out if it is no DNS name). */
export function defaultHttpsNames(): string[] {
  const host = hostname().toLowerCase();
  return [...new Set(["localhost", "127.0.0.1", "::1", ...(HOST_NAME.test(host) && !isIP(host) ? [host] : [])])];
}
