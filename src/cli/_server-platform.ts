/**
 * @module The server's one platform check. The command line runs wherever
 * Bun does (the release includes macOS binaries), but the server relies on
 * Linux: SO_REUSEPORT spreading connections across workers, abstract Unix
 * socket names for its claims, and /proc for pid checks and settings.
 */
import { DepotError } from "../errors.ts";

export function requireServerPlatform(platform: string = process.platform): void {
  if (platform === "linux") return;
  throw new DepotError(
    "E_SERVER",
    `the depot server needs Linux (it relies on SO_REUSEPORT, abstract Unix sockets and /proc); on ${platform === "darwin" ? "macOS" : platform} the other commands work (init, generate, sign, revoke, crl, list, show, config)`,
  );
}
