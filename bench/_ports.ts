/**
 * @module
 * A free TCP port on loopback for a benchmark's server: the kernel picks one
 * (port 0) and the probe lets it go at once.
 */
export function freePort(): number {
  const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = probe.port;
  probe.stop(true);
  return port;
}
