/**
 * @module
 * `depot renew`: renews a certificate through a depot server's
 * `POST /v1/renew`, proving possession of its key (no token). Once and now
 * by default; with `--daemon`, whenever it falls due, until SIGTERM or
 * SIGINT (src/renew/daemon.ts). Runs on the certificate's host, not the CA's.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parseDurationMs } from "../duration.ts";
import { DepotError, ioError } from "../errors.ts";
import { command } from "./_command.ts";
import { lastOf } from "./_strict.ts";

const args = {
  cert: { type: "string", description: "The certificate to renew (PEM); replaced by the new one, same mode", required: true },
  key: { type: "string", description: "Its private key (PEM); replaced, 0600, with --new-key", required: true },
  server: { type: "string", description: "The depot server's HTTPS API, e.g. https://ca.example.com:8443", required: true },
  "ca-file": { type: "string", description: "CA certificates (PEM) to trust for the server's TLS certificate (default: the system's)" },
  "new-key": { type: "boolean", description: "Make a new key of the same type and have it certified (default: keep the key)" },
  exec: { type: "string", description: "Command run with sh -c after each renewal, e.g. 'systemctl reload nginx' (DEPOT_CERT, DEPOT_KEY, DEPOT_SERIAL set)" },
  daemon: { type: "boolean", description: "Keep running: renew whenever due (two thirds of the life gone), until SIGTERM or SIGINT; logs to stderr" },
  every: { type: "string", description: "With --daemon: how often to look at the certificate (default: 1h, or a tenth of its life if shorter)" },
  "renew-before": { type: "string", description: "With --daemon: also renew when less than this is left, e.g. 7d" },
} as const;

export default command({
  meta: { name: "renew", description: "Renew a certificate through a depot server (POST /v1/renew), proving possession of its key; once, or as a daemon." },
  args,
  check: ({ args: parsed }) => {
    if (!parsed.daemon) for (const flag of ["every", "renew-before"] as const) if (lastOf(parsed[flag]) !== undefined) throw new DepotError("E_BAD_ARGUMENT", `--${flag} is for --daemon`);
    durations(parsed);
  },
  async run({ args: parsed }) {
    const caFile = lastOf(parsed["ca-file"]);
    let caPem: string | undefined;
    if (caFile !== undefined) {
      try {
        caPem = readFileSync(caFile, "utf8");
      } catch (error) {
        throw ioError("read", caFile, error);
      }
    }
    const exec = lastOf(parsed.exec);
    const settings = {
      certPath: resolve(lastOf(parsed.cert)!),
      keyPath: resolve(lastOf(parsed.key)!),
      server: lastOf(parsed.server)!,
      ...(caPem !== undefined ? { caPem } : {}),
      newKey: parsed["new-key"] === true,
      ...(exec ? { exec } : {}),
      log: (line: string) => console.error(`${new Date().toISOString()} depot renew: ${line}`),
    };
    const { renewOnce, runRenewDaemon } = await import("../renew/daemon.ts");
    if (!parsed.daemon) {
      await renewOnce(settings);
      return 0;
    }
    const stop = new AbortController();
    const onSignal = (name: string) => () => {
      settings.log(`${name}: stopping`);
      stop.abort();
    };
    const onTerm = onSignal("SIGTERM");
    const onInt = onSignal("SIGINT");
    process.on("SIGTERM", onTerm);
    process.on("SIGINT", onInt);
    try {
      await runRenewDaemon({ ...settings, ...durations(parsed), signal: stop.signal });
    } finally {
      process.off("SIGTERM", onTerm);
      process.off("SIGINT", onInt);
    }
    return 0;
  },
});

function durations(parsed: Record<string, unknown>): { everyMs?: number; renewBeforeMs?: number } {
  const every = lastOf(parsed.every);
  const renewBefore = lastOf(parsed["renew-before"]);
  return {
    ...(every !== undefined ? { everyMs: parseDurationMs(every, "--every") } : {}),
    ...(renewBefore !== undefined ? { renewBeforeMs: parseDurationMs(renewBefore, "--renew-before") } : {}),
  };
}
