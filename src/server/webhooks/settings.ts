/**
 * @module
 * The issuance webhooks' settings, as `depot start` reads them from its
 * flags and hands them to each worker in its config: the URLs, the file
 * holding the shared secret (its path only: the secret itself never
 * travels in argv, the environment or a config), the timeout, fail-open,
 * the private CA to trust and the extensions enrich may add. Loaded by the
 * supervisor, so it imports nothing heavy.
 */
import { readFileSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { DEPOT_EXTENSIONS, isDottedOid } from "../../ca/extension-oids.ts";
import { parseTimeoutMs } from "../../duration.ts";
import { DepotError, ioError } from "../../errors.ts";

export interface WebhookSettings {
  /** POSTed before every issuance: allow or deny. */
  authorize?: string;
  /** POSTed after authorize: allow (adding names and extensions) or deny. */
  enrich?: string;
  /** The file holding the HMAC secret (read by each worker; 0600 or 0400). */
  secretFile: string;
  timeoutMs: number;
  /** Issue anyway when a webhook cannot be reached or times out (never when it denies or answers wrongly). */
  failOpen: boolean;
  /** PEM certificates to trust for https:// webhooks, besides the system's. */
  caFile?: string;
  /** Extension OIDs enrich may add. */
  extensions: string[];
}

export const DEFAULT_WEBHOOK_TIMEOUT_MS = 2_000;

/** The longest secret file read (a secret is a line of 32 to 128 characters). */
const MAX_SECRET_BYTES = 4_096;

/** `depot start`'s webhook flags, each checked; undefined when no webhook is given (and then no other webhook flag may be). */
export function webhookSettings(flags: {
  authorize?: string;
  enrich?: string;
  secretFile?: string;
  timeout?: string;
  failOpen: boolean;
  caFile?: string;
  extensions: string[];
}): WebhookSettings | undefined {
  if (flags.authorize === undefined && flags.enrich === undefined) {
    const stray = [
      ["webhook-secret-file", flags.secretFile],
      ["webhook-timeout", flags.timeout],
      ["webhook-fail-open", flags.failOpen || undefined],
      ["webhook-ca", flags.caFile],
      ["webhook-extension", flags.extensions[0]],
    ].find(([, value]) => value !== undefined);
    if (stray) throw new DepotError("E_BAD_ARGUMENT", `--${stray[0]} needs --authorize-webhook or --enrich-webhook`);
    return undefined;
  }
  if (flags.secretFile === undefined) {
    throw new DepotError("E_BAD_ARGUMENT", "a webhook needs --webhook-secret-file FILE: the shared secret its requests are signed with (make one with: openssl rand -hex 32 > FILE; chmod 600 FILE)");
  }
  if (flags.extensions.length > 0 && flags.enrich === undefined) throw new DepotError("E_BAD_ARGUMENT", "--webhook-extension is what --enrich-webhook may add; give --enrich-webhook");
  const secretFile = resolve(flags.secretFile);
  readWebhookSecret(secretFile);
  const caFile = flags.caFile === undefined ? undefined : resolve(flags.caFile);
  if (caFile !== undefined) readWebhookCa(caFile);
  return {
    ...(flags.authorize !== undefined ? { authorize: webhookUrl(flags.authorize, "--authorize-webhook") } : {}),
    ...(flags.enrich !== undefined ? { enrich: webhookUrl(flags.enrich, "--enrich-webhook") } : {}),
    secretFile,
    timeoutMs: flags.timeout === undefined ? DEFAULT_WEBHOOK_TIMEOUT_MS : parseTimeoutMs(flags.timeout, "--webhook-timeout", 50, 60_000),
    failOpen: flags.failOpen,
    ...(caFile !== undefined ? { caFile } : {}),
    extensions: [...new Set(flags.extensions.map(enrichableOid))],
  };
}

/**
 * A webhook's URL: https://, or http:// to this machine only (loopback),
 * where nobody else can read or change the request on the wire. No
 * credentials in it (they would show in the log): the HMAC authenticates.
 */
export function webhookUrl(text: string, flag: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new DepotError("E_BAD_ARGUMENT", `${flag} must be an https:// URL, not '${text}'`);
  }
  if (url.username !== "" || url.password !== "") throw new DepotError("E_BAD_ARGUMENT", `${flag} must not carry credentials: the requests are signed with --webhook-secret-file`);
  if (url.protocol === "https:") return url.href;
  if (url.protocol === "http:" && isLoopbackHost(url.hostname)) return url.href;
  if (url.protocol === "http:") throw new DepotError("E_BAD_ARGUMENT", `${flag} may be http:// only on this machine (127.0.0.1, ::1, localhost); use https:// for ${url.host}`);
  throw new DepotError("E_BAD_ARGUMENT", `${flag} must be an https:// URL, not '${text}'`);
}

function isLoopbackHost(hostname: string): boolean {
  return hostname === "localhost" || hostname === "[::1]" || /^127\.\d+\.\d+\.\d+$/.test(hostname);
}

function enrichableOid(text: string): string {
  if (!isDottedOid(text)) throw new DepotError("E_BAD_ARGUMENT", `--webhook-extension must be a dotted OID like 1.3.6.1.4.1.55555.1, not '${text}'`);
  if (DEPOT_EXTENSIONS.has(text)) throw new DepotError("E_BAD_ARGUMENT", `--webhook-extension ${text} is an extension depot writes itself; a webhook may not add it (names go in the enrich answer's subjectAltNames)`);
  return text;
}

/**
 * The shared secret: the file's content without surrounding white space,
 * at least 16 bytes, from a regular file neither group nor others may read
 * (as the CA key: 0600 or 0400). Read by `start` to check it and by each
 * worker to use it.
 */
export function readWebhookSecret(path: string): Buffer {
  let mode: number;
  let size: number;
  try {
    const stat = statSync(path);
    if (!stat.isFile()) throw new DepotError("E_BAD_ARGUMENT", `--webhook-secret-file ${path} is not a file`);
    mode = stat.mode;
    size = stat.size;
  } catch (error) {
    if (error instanceof DepotError) throw error;
    throw ioError("read the webhook secret file", path, error);
  }
  if (mode & 0o077) throw new DepotError("E_INSECURE_KEY", `${path} can be read by other users; the webhook secret must be private: chmod 600 ${path}`);
  if (size > MAX_SECRET_BYTES) throw new DepotError("E_BAD_ARGUMENT", `--webhook-secret-file ${path} is larger than ${MAX_SECRET_BYTES} bytes; it should hold one secret`);
  let secret: Buffer;
  try {
    secret = Buffer.from(readFileSync(path, "utf8").trim(), "utf8");
  } catch (error) {
    throw ioError("read the webhook secret file", path, error);
  }
  if (secret.length < 16) throw new DepotError("E_BAD_ARGUMENT", `--webhook-secret-file ${path} holds ${secret.length} bytes; a secret needs at least 16 (openssl rand -hex 32)`);
  return secret;
}

/** The --webhook-ca file: PEM certificates. */
export function readWebhookCa(path: string): string {
  let pem: string;
  try {
    pem = readFileSync(path, "utf8");
  } catch (error) {
    throw ioError("read --webhook-ca", path, error);
  }
  if (!pem.includes("-----BEGIN CERTIFICATE-----")) throw new DepotError("E_BAD_ARGUMENT", `--webhook-ca ${path} holds no PEM certificate`);
  return pem;
}
