/**
 * @module
 * `depot start`: parses the flags into `ServerOptions` and calls `serve`
 * (`src/server/index.ts`), which does the work. The process that runs it
 * becomes the supervisor, so the flags are read here (`runStart`) without
 * citty, whose node:util would stay in its memory for the server's life;
 * citty only renders `start --help` from the same definition.
 */
import type { CommandDef } from "citty";
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { type DepotSettings, parseConfig, settingsFromConfig } from "../ca/config.ts";
import { depotLayout } from "../ca/layout.ts";
import { dirname, resolve } from "node:path";
import { DepotError } from "../errors.ts";
import type { ListenerSpec, ServerOptions } from "../server/index.ts";
import { parseOcspValidity } from "../http/public/options.ts";
import { parsePublicUrl } from "../ca/public-url.ts";
import { LOG_LEVELS, type LogLevel } from "../server/log.ts";
import { defaultDepotPath, defaultPidFile } from "../server/paths.ts";
import type { HttpsListenerSpec } from "../server/listeners/types.ts";
import { ACME_START_ARGS, acmeFromStartArgs } from "../acme/options.ts";
import { parseDurationMs } from "../duration.ts";
import { allValues, lastOf, rejectUnknownArgs } from "./_strict.ts";
import { requireServerPlatform } from "./_server-platform.ts";
import { passphraseArgs } from "./_passphrase-args.ts";
import { unlockCaKeyToServe } from "./_server-key.ts";
import type { CpuAffinity } from "../server/cpu-affinity.ts";
import { webhookSettings } from "../server/webhooks/settings.ts";

const args = {
  path: { type: "positional", required: false, description: "The depot to serve (default: $DEPOT_PATH, else $XDG_DATA_HOME/depot, created on first start)" },
  host: { type: "string", alias: "H", description: "Address to listen on (127.0.0.1)" },
  port: { type: "string", alias: "P", description: "Port to listen on (35553)" },
  "process-count": { type: "string", alias: "n", description: "Worker processes (2)" },
  "cpu-affinity": { type: "string", description: "auto (default): each worker kept on one CPU once ready, spread over the CPUs the server may use (its key-making thread pool free, all of it while that pool is busy); off: the kernel places the workers" },
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
  "renew-after-expiry": { type: "string", description: "POST /v1/renew also renews a certificate that expired at most this long ago, e.g. 7d (off: an expired certificate is refused)" },
  "api-url": { type: "string", description: "The HTTPS API's base URL as clients reach it (default: depot.cnf's api_url)" },
  "audit-log": { type: "string", description: "Also append the audit records (issuances, revocations, token changes) to this file as JSON lines" },
  "http-port": { type: "string", description: "Port of the plain-HTTP listener: OCSP, CRL, CA certificate, health, metrics (off unless given)" },
  "http-host": { type: "string", description: "Address of the plain-HTTP listener (default: --host)" },
  "scep-template": { type: "string", description: "The depot.cnf template of SCEP enrolments whose challenge names none (default: the challenge's --type)" },
  "public-url": { type: "string", description: "Plain-HTTP base URL as clients reach it: certificates carry OCSP, CA and CRL locations under it (default: depot.cnf's public_url)" },
  "ocsp-validity": { type: "string", description: "How long an OCSP answer is valid and may be cached: seconds, or with s, m, h, d (1h)" },
  "on-crl-change": { type: "string", description: "Command run after each new crl.pem, e.g. 'systemctl reload nginx' (default: depot.cnf's on_crl_change)" },
  "authorize-webhook": { type: "string", description: "POST each issuance (every face) to this URL before signing; it allows or denies (docs/webhooks.md)" },
  "enrich-webhook": { type: "string", description: "POST each issuance to this URL after authorize; it allows (adding names and --webhook-extension extensions) or denies" },
  "webhook-secret-file": { type: "string", description: "File (0600) holding the secret webhook requests are signed with (HMAC-SHA256); required with a webhook" },
  "webhook-timeout": { type: "string", description: "How long a webhook may take, e.g. 500ms or 2s (2s); then the issuance fails (503) unless --webhook-fail-open" },
  "webhook-fail-open": { type: "boolean", description: "Issue anyway when a webhook cannot be reached or times out (never when it denies or answers wrongly); audited" },
  "webhook-ca": { type: "string", description: "PEM file of CA certificates to trust for https:// webhooks (e.g. this depot's ca.crt)" },
  "webhook-extension": { type: "string", description: "An extension OID the enrich webhook may add (repeatable; default: none)" },
  ...ACME_START_ARGS,
  ...passphraseArgs,
} as const;

export default {
  meta: { name: "start", description: "Run the depot server: a supervisor and its worker processes." },
  args,
  run: ({ rawArgs }) => runStart(rawArgs),
} satisfies CommandDef<typeof args>;

/** Runs `depot start` with its raw arguments; resolves with the exit status. */
export async function runStart(rawArgs: string[]): Promise<number> {
  requireServerPlatform();
  const parsed = rejectUnknownArgs(rawArgs, args, false, ["https-name", "acme-allow", "webhook-extension"]);
  const options = serverOptions(parsed);
  const webhooks = webhookSettings({
    authorize: lastOf(parsed["authorize-webhook"]),
    enrich: lastOf(parsed["enrich-webhook"]),
    secretFile: lastOf(parsed["webhook-secret-file"]),
    timeout: lastOf(parsed["webhook-timeout"]),
    failOpen: parsed["webhook-fail-open"] === true,
    caFile: lastOf(parsed["webhook-ca"]),
    extensions: allValues(rawArgs, "webhook-extension"),
  });
  if (webhooks) options.webhooks = webhooks;
  options.depot = await depotToServe(parsed.path as string | undefined);
  const settings = depotSettings(options.depot);
  const https = await httpsListener(parsed, rawArgs, options.depot, settings);
  if (https) options.listeners.push(https);
  const renewAfterExpiry = lastOf(parsed["renew-after-expiry"]);
  if (renewAfterExpiry !== undefined) {
    if (!https) throw new DepotError("E_BAD_ARGUMENT", "--renew-after-expiry needs --https-port (renewal is POST /v1/renew)");
    https.renewAfterExpiryMs = parseDurationMs(renewAfterExpiry, "--renew-after-expiry");
  }
  const apiUrl = lastOf(parsed["api-url"]) ?? settings?.apiUrl;
  if (apiUrl !== undefined) {
    options.apiUrl = parseApiUrl(apiUrl);
    if (https) https.apiUrl = options.apiUrl;
  }
  // ACME's directory builds its absolute URLs from --api-url when given.
  const acme = acmeFromStartArgs(rawArgs, https !== undefined);
  if (https && acme) https.acme = options.apiUrl ? { ...acme, apiUrl: options.apiUrl } : acme;
  const handedKeys = await unlockCaKeyToServe(options.depot, parsed);
  if (handedKeys !== undefined) options.handedKeys = handedKeys;
  const { serve } = await import("../server/index.ts");
  return serve(options);
}

/** The flags as `ServerOptions`, each checked (the depot path is filled in after). */
function serverOptions(parsed: Record<string, unknown>): ServerOptions {
  const processCount = integer(parsed["process-count"], "process-count", 2, 1, 64);
  const line: ListenerSpec = { kind: "line", host: lastOf(parsed.host) ?? "127.0.0.1", port: integer(parsed.port, "port", 35553, 1, 65535) };
  const http = httpListenerOf(parsed, line.host);
  if (http && http.port === line.port && http.host === line.host) throw new DepotError("E_BAD_ARGUMENT", `--http-port ${http.port} is the line protocol's port; give another`);
  const publicUrl = lastOf(parsed["public-url"]);
  const onCrlChange = lastOf(parsed["on-crl-change"]);
  const scepTemplate = lastOf(parsed["scep-template"]);
  return {
    depot: "",
    listeners: http ? [line, http] : [line],
    ...(publicUrl !== undefined ? { publicUrl: parsePublicUrl(publicUrl) } : {}),
    ...(onCrlChange ? { onCrlChange } : {}),
    ...(scepTemplate ? { scepTemplate } : {}),
    processCount,
    cpuAffinity: cpuAffinityOf(lastOf(parsed["cpu-affinity"]) ?? "auto"),
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

/** The `http` listener from --http-port (off unless given), --http-host (default: --host) and --ocsp-validity. */
function httpListenerOf(parsed: Record<string, unknown>, host: string): ListenerSpec | undefined {
  if (lastOf(parsed["http-port"]) === undefined) {
    for (const flag of ["http-host", "ocsp-validity"]) {
      if (lastOf(parsed[flag]) !== undefined) throw new DepotError("E_BAD_ARGUMENT", `--${flag} needs --http-port`);
    }
    return undefined;
  }
  const validity = lastOf(parsed["ocsp-validity"]);
  return {
    kind: "http",
    host: lastOf(parsed["http-host"]) ?? host,
    port: integer(parsed["http-port"], "http-port", 0, 1, 65535),
    ...(validity ? { ocspValiditySeconds: parseOcspValidity(validity) } : {}),
  };
}

/**
 * `--https-port`: the API's listener, with the depot's own certificate
 * (issued by the upkeep process before the workers start) unless
 * --https-cert/--https-key name one.
 */
async function httpsListener(parsed: Record<string, unknown>, rawArgs: string[], depot: string, settings: DepotSettings | undefined): Promise<HttpsListenerSpec | undefined> {
  const given = ["https-host", "https-name", "https-cert", "https-key"].filter((flag) => lastOf(parsed[flag]) !== undefined);
  const portText = lastOf(parsed["https-port"]) ?? settings?.httpsPort;
  if (portText === undefined) {
    if (given.length > 0) throw new DepotError("E_BAD_ARGUMENT", `--${given[0]} needs --https-port`);
    return undefined;
  }
  const port = integer(portText, "https-port", 0, 1, 65535);
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
  // Only with --https-port: it loads node:net (7 MB), which would stay in the supervisor.
  const { defaultHttpsNames, httpsCertificatePaths } = await import("../server/https-files.ts");
  const { certPath, keyPath } = httpsCertificatePaths(resolve(depot));
  return { kind: "https", host, port, certFile: certPath, keyFile: keyPath, issueNames: names.length > 0 ? names : defaultHttpsNames() };
}

/** depot.cnf's settings, read without opening the depot (the supervisor loads no crypto); undefined if unreadable (the upkeep process says why). */
function depotSettings(depot: string): DepotSettings | undefined {
  try {
    return settingsFromConfig(parseConfig(readFileSync(depotLayout(resolve(depot)).config, "utf8")));
  } catch {
    return undefined;
  }
}

/** An https:// base URL, without query or fragment; kept without a trailing slash. */
export function parseApiUrl(text: string): string {
  let url: URL | undefined;
  try {
    url = new URL(text);
  } catch {
    url = undefined;
  }
  if (!url || url.protocol !== "https:" || url.search !== "" || url.hash !== "" || url.username !== "" || url.password !== "") {
    throw new DepotError("E_BAD_ARGUMENT", `--api-url must be an https:// URL without query, fragment or credentials, not '${text}'`);
  }
  return url.href.replace(/\/+$/, "");
}

/** The given depot, or the default one, made on first start so that `depot` alone serves at once. */
async function depotToServe(given: string | undefined): Promise<string> {
  if (given) return given;
  const path = defaultDepotPath();
  if (!existsSync(path)) {
    // The supervisor loads no CA library, except this once: reflect-metadata before x509.
    await import("reflect-metadata");
    const { createDepot } = await import("../ca/create.ts");
    const { openLedger } = await import("../store/open-ledger.ts");
    // The XDG data folder may not exist yet; createDepot makes only the depot's own folder.
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
    await createDepot(path, { label: "Depot CA", openLedger });
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

function cpuAffinityOf(text: string): CpuAffinity {
  if (text === "auto" || text === "off") return text;
  throw new DepotError("E_BAD_ARGUMENT", `--cpu-affinity must be auto or off, not '${text}'`);
}

function logLevelOf(text: string): LogLevel {
  const level = LOG_LEVELS.find((l) => l === text.toLowerCase());
  if (!level) throw new DepotError("E_BAD_ARGUMENT", `--log-level must be one of ${LOG_LEVELS.join(", ")}, not '${text}'`);
  return level;
}
