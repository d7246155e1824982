/**
 * A TLS harness on the real openssl CLI, for the mutual-TLS and CRL tests:
 * `s_server -rev` (it sends each line back reversed, so a reply proves data
 * went through after the handshake) and `s_client` exchanges with it. Every
 * child has a timeout and is killed by `killChildren`.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { depotOk, drain, pemBlocks } from "./helpers.ts";
import { waitFor } from "./server-helpers.ts";

export const MESSAGE = "hello from a depot client";
export const REPLY = [...MESSAGE].reverse().join("");

const children = new Set<Bun.Subprocess>();

function spawn(cmd: string[], timeout: number): Bun.Subprocess<"pipe", "pipe", "pipe"> {
  const proc = Bun.spawn(cmd, { stdin: "pipe", stdout: "pipe", stderr: "pipe", timeout, killSignal: "SIGKILL" });
  children.add(proc);
  void proc.exited.then(() => children.delete(proc));
  return proc;
}

/** Kills every child still running; resolves with how many are left (0). */
export async function killChildren(): Promise<number> {
  const running = [...children];
  for (const proc of running) proc.kill("SIGKILL");
  await Promise.all(running.map((proc) => proc.exited));
  return children.size;
}

/** Writes `depot generate` output (key then certificate) to NAME.key and NAME.crt in `dir`. */
export function issueToFiles(depotPath: string, args: string[], dir: string, name: string): { cert: string; key: string } {
  const [key, cert, ...rest] = pemBlocks(depotOk(["generate", depotPath, ...args]));
  if (!key || !cert || rest.length) throw new Error("generate did not print a key and a certificate");
  const paths = { key: join(dir, `${name}.key`), cert: join(dir, `${name}.crt`) };
  writeFileSync(paths.key, key, { mode: 0o600 });
  writeFileSync(paths.cert, cert);
  return paths;
}

export interface TlsServer {
  port: number;
  log: { text: string };
  proc: Bun.Subprocess<"pipe", "pipe", "pipe">;
}

/** `openssl s_server -rev` on a port the kernel picks, with `args` (certificate, verification, CRL). */
export async function startTlsServer(args: string[], timeoutMs: number, lifetimeMs = 60_000): Promise<TlsServer> {
  const proc = spawn(["openssl", "s_server", "-accept", "127.0.0.1:0", "-rev", ...args], lifetimeMs);
  const log = { text: "" };
  void drain(proc.stdout, log);
  void drain(proc.stderr, log);
  await waitFor(() => /^ACCEPT .*:(\d+)$/m.test(log.text) || proc.exitCode !== null, timeoutMs, "s_server to listen");
  const match = /^ACCEPT .*:(\d+)$/m.exec(log.text);
  if (!match) throw new Error(`s_server did not start: ${log.text}`);
  return { port: Number(match[1]), log, proc };
}

export interface Exchange {
  exitCode: number | null;
  stdout: string;
  stderr: string;
  /** What the server logged during this connection. */
  serverLog: string;
}

/**
 * Connects with s_client and `args`, sends MESSAGE and waits for the reversed
 * reply or for s_client to give up; then closes stdin so it says goodbye and
 * exits, and waits for the server to log the connection's outcome.
 */
export async function exchange(server: TlsServer, args: string[], timeoutMs: number): Promise<Exchange> {
  const logStart = server.log.text.length;
  const proc = spawn(
    ["openssl", "s_client", "-connect", `127.0.0.1:${server.port}`, "-servername", "localhost", "-verify_return_error", "-brief", "-no_ign_eof", ...args],
    timeoutMs,
  );
  const out = { text: "" };
  const err = { text: "" };
  const drained = Promise.all([drain(proc.stdout, out), drain(proc.stderr, err)]);
  proc.stdin.write(`${MESSAGE}\n`);
  await proc.stdin.flush();
  await waitFor(() => out.text.includes(REPLY) || proc.exitCode !== null, timeoutMs, "s_client").catch(() => {});
  await proc.stdin.end();
  await proc.exited;
  await drained;
  await waitFor(() => /CONNECTION (CLOSED|FAILURE)/.test(server.log.text.slice(logStart)), timeoutMs, "the server to log the connection").catch(() => {});
  return { exitCode: proc.exitCode, stdout: out.text, stderr: err.text, serverLog: server.log.text.slice(logStart) };
}
