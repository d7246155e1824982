/**
 * @module
 * `depot start`: parses the flags into `ServerOptions` and calls `serve`
 * (`src/server/index.ts`), which does the work.
 */
import { defineCommand } from "citty";
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { DepotError } from "../errors.ts";
import type { ServerOptions } from "../server/index.ts";
import { LOG_LEVELS, type LogLevel } from "../server/log.ts";
import { defaultDepotPath, defaultPidFile } from "../server/paths.ts";
import { defaultHttpsNames, httpsCertificatePaths } from "../http/api/https-files.ts";
import type { HttpsListenerSpec } from "../server/listeners/types.ts";
import { allValues, lastOf, rejectUnknownArgs } from "./_strict.ts";
import { requireServerPlatform } from "./_server-platform.ts";
import { passphraseArgs } from "./_passphrase.ts";
import { unlockCaKeyToServe } from "./_server-key.ts";

const args = {
  path: { type: "positional", required: false, description: "The depot to serve (default: $DEPOT_PATH, else $XDG_DATA_HOME/depot, created on first start)" },
  host: { type: "string", alias: "H", description: "Address to listen on (127.0.0.1)" },
  port: { type: "string", alias: "P", description: "Port to listen on (35553)" },
  "process-count": { type: "string", alias: "n", description: "Worker processes (2)" },
  "max-connection-queue": { type: "string", alias: "q", description: "Connections one worker holds unanswered (reading, waiting, in work) before it answers ERROR busy (1024)" },
  "pid-file": { type: "string", alias: "p", description: "PID file (~/.depot.pid)" },
  "log-file": { type: "string", alias: "l", description: "Log file (in the foreground: stderr unless given; with --daemon: /var/log/depot.log if writable, else ~/depot.log)" },
  "log-level": { type: "string", description: "debug, info (default), warn or error" },
  "key-pool": { type: "string", description: "Key pairs each worker makes ahead while idle, to absorb a burst (32; 0 disables)" },
  timeout: { type: "string", description: "Seconds a worker may go without a heartbeat before it is killed and replaced, and that a graceful stop waits for requests in flight (30)" },
  daemon: { type: "boolean", alias: "d", description: "Run in the background; returns once every worker listens" },
  "allow-revoke": { type: "boolean", description: "Let clients revoke certificates over the socket (off: anyone who can connect could revoke)" },
  "allow-shutdown": { type: "boolean", description: "Let clients stop a worker with the shutdown command (off: anyone who can connect could keep recycling the workers)" },
  "open-line-protocol": { type: "boolean", description: "Allow --host beyond loopback for the line protocol, which has no authentication: anyone who reaches it gets certificates" },
  "https-port": { type: "string", description: "Serve the HTTPS JSON API (/v1/, token-authenticated) on this port (off unless given)" },
  "https-host": { type: "string", description: "Address of the HTTPS API (default: --host)" },
  "https-name": { type: "string", description: "A name of the HTTPS certificate the depot issues itself (repeatable; default: localhost, 127.0.0.1, ::1 and the host name)" },
  "https-cert": { type: "string", description: "Serve this certificate (PEM, with its chain) instead of one the depot issues; needs --https-key" },
  "https-key": { type: "string", description: "The key of --https-cert (PEM)" },
  "audit-log": { type: "string", description: "Also append the audit records (issuances, revocations, token changes) to this file as JSON lines" },
  ...passphraseArgs,
} as const;

export default defineCommand({
  meta: { name: "start", description: "Run the depot server: a supervisor and its worker processes." },
  args,
  async run({ rawArgs, args: parsed }) {
    requireServerPlatform();
    rejectUnknownArgs(rawArgs, args);
    const options = serverOptions(parsed);
    options.depot = await depotToServe(parsed.path as string | undefined);
    const https = httpsListener(parsed, rawArgs, options.depot);
    if (https) options.listeners.push(https);
    const caKeyPem = await unlockCaKeyToServe(options.depot, parsed);
    if (caKeyPem !== undefined) options.caKeyPem = caKeyPem;
    const { serve } = await import("../server/index.ts");
    return serve(options);
  },
});

/** The flags as `ServerOptions`, each checked (the depot path is filled in after). */
function serverOptions(parsed: Record<string, unknown>): ServerOptions {
  const processCount = integer(parsed["process-count"], "process-count", 2, 1, 64);
  return {
    depot: "",
    listeners: [{ kind: "line", host: lastOf(parsed.host) ?? "127.0.0.1", port: integer(parsed.port, "port", 35553, 1, 65535) }],
    processCount,
    maxConnectionQueue: integer(parsed["max-connection-queue"], "max-connection-queue", 1024, 1, 100_000),
    keyPool: integer(parsed["key-pool"], "key-pool", 32, 0, 10_000),
    timeoutMs: Math.round(number(parsed.timeout, "timeout", 30, 0.1, 86_400) * 1000),
    logLevel: logLevelOf(lastOf(parsed["log-level"]) ?? "info"),
    logFile: lastOf(parsed["log-file"]),
    pidFile: lastOf(parsed["pid-file"]) ?? defaultPidFile(),
    daemon: parsed.daemon === true,
    allowRevoke: parsed["allow-revoke"] === true,
    allowShutdown: parsed["allow-shutdown"] === true,
    openLineProtocol: parsed["open-line-protocol"] === true,
    ...(lastOf(parsed["audit-log"]) ? { auditLog: resolve(lastOf(parsed["audit-log"])!) } : {}),
    testHooks: process.env.DEPOT_TEST_HOOKS === "1",
  };
}

/**
 * `--https-port`: the API's listener, with the depot's own certificate
 * (issued by the upkeep process before the workers start) unless
 * --https-cert/--https-key name one.
 */
function httpsListener(parsed: Record<string, unknown>, rawArgs: string[], depot: string): HttpsListenerSpec | undefined {
  const given = ["https-host", "https-name", "https-cert", "https-key"].filter((flag) => lastOf(parsed[flag]) !== undefined);
  if (lastOf(parsed["https-port"]) === undefined) {
    if (given.length > 0) throw new DepotError("E_BAD_ARGUMENT", `--${given[0]} needs --https-port`);
    return undefined;
  }
  const port = integer(parsed["https-port"], "https-port", 0, 1, 65535);
  const host = lastOf(parsed["https-host"]) ?? lastOf(parsed.host) ?? "127.0.0.1";
  const certFile = lastOf(parsed["https-cert"]);
  const keyFile = lastOf(parsed["https-key"]);
  if ((certFile === undefined) !== (keyFile === undefined)) throw new DepotError("E_BAD_ARGUMENT", "--https-cert and --https-key go together");
  if (certFile !== undefined && keyFile !== undefined) {
    if (allValues(rawArgs, "https-name").length > 0) throw new DepotError("E_BAD_ARGUMENT", "--https-name is for the certificate the depot issues; leave it out with --https-cert");
    for (const file of [certFile, keyFile]) if (!existsSync(file)) throw new DepotError("E_BAD_ARGUMENT", `${file} does not exist`);
    return { kind: "https", host, port, certFile: resolve(certFile), keyFile: resolve(keyFile) };
  }
  const names = allValues(rawArgs, "https-name");
  const { certPath, keyPath } = httpsCertificatePaths(resolve(depot));
  return { kind: "https", host, port, certFile: certPath, keyFile: keyPath, issueNames: names.length > 0 ? names : defaultHttpsNames() };
}

/** The given depot, or the default one, made on first start so that `depot` alone serves at once. */
async function depotToServe(given: string | undefined): Promise<string> {
  if (given) return given;
  const path = defaultDepotPath();
  if (!existsSync(path)) {
    const { createDepot } = await import("../ca/create.ts");
    await createDepot(path, { label: "Depot CA" });
    console.log(`Created a depot in ${path}`);
    console.log(`CA certificate: ${path}/certificates/ca.crt`);
    console.log("To serve another depot: depot start PATH (make one with: depot init PATH)");
  }
  return path;
}

function number(value: unknown, name: string, fallback: number, min: number, max: number): number {
  const text = lastOf(value);
  if (text === undefined) return fallback;
  const parsed = Number(text);
  if (!Number.isFinite(parsed) || parsed < min || parsed > max) {
    throw new DepotError("E_BAD_ARGUMENT", `--${name} must be a number from ${min} to ${max}, not '${text}'`);
  }
  return parsed;
}

function integer(value: unknown, name: string, fallback: number, min: number, max: number): number {
  const parsed = number(value, name, fallback, min, max);
  if (!Number.isInteger(parsed)) throw new DepotError("E_BAD_ARGUMENT", `--${name} must be a whole number from ${min} to ${max}, not '${lastOf(value)}'`);
  return parsed;
}

function logLevelOf(text: string): LogLevel {
  const level = LOG_LEVELS.find((l) => l === text.toLowerCase());
  if (!level) throw new DepotError("E_BAD_ARGUMENT", `--log-level must be one of ${LOG_LEVELS.join(", ")}, not '${text}'`);
  return level;
}
