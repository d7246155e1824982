/**
 * @module The server's ACME settings as flags give them (`--acme`,
 * `--acme-allow`, `--acme-days`, `--acme-require-eab`,
 * `--acme-orders-per-hour`, `--acme-http-port`, `--acme-tls-port`,
 * `--acme-resolver`, `--acme-template`), checked once in the supervisor so that a mistake stops
 * `depot start` with one line instead of failing in every worker. The result
 * is plain JSON, handed to workers inside the HTTPS listener's description.
 */

import { isIP } from "node:net";
import { DepotError } from "../errors.ts";
import { allValues } from "../args.ts";
import { NamePolicy } from "./policy.ts";
import { DEFAULT_ACME_DAYS, DEFAULT_ORDERS_PER_HOUR } from "./defaults.ts";

export interface AcmeSettings {
  allow: string[];
  days: number;
  requireEab: boolean;
  ordersPerHour: number;
  httpPort: number;
  tlsPort: number;
  /** HOST:PORT of the DNS server validators ask; absent: the system's. */
  resolver?: string;
  /** The HTTPS base URL as clients reach it (`--api-url`); absent: each request's own origin. */
  apiUrl?: string;
  /** The depot.cnf template ACME issues under (base server; the upkeep process checks it at start); absent: the built-in server. */
  template?: string;
}

export interface AcmeFlags {
  allow?: string[];
  days?: string;
  requireEab?: boolean;
  ordersPerHour?: string;
  httpPort?: string;
  tlsPort?: string;
  resolver?: string;
  template?: string;
}

const bad = (message: string): never => {
  throw new DepotError("E_BAD_ARGUMENT", message);
};

function integer(text: string | undefined, flag: string, fallback: number, min: number, max: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!/^\d+$/.test(text.trim()) || value < min || value > max) bad(`${flag} must be a whole number from ${min} to ${max}, not '${text}'`);
  return value;
}

export function acmeSettings(flags: AcmeFlags): AcmeSettings {
  const allow = (flags.allow ?? []).map((p) => p.trim()).filter(Boolean);
  new NamePolicy(allow); // a malformed pattern is refused here, with its name
  const settings: AcmeSettings = {
    allow,
    days: integer(flags.days, "--acme-days", DEFAULT_ACME_DAYS, 1, 825),
    requireEab: flags.requireEab === true,
    ordersPerHour: integer(flags.ordersPerHour, "--acme-orders-per-hour", DEFAULT_ORDERS_PER_HOUR, 1, 1_000_000),
    httpPort: integer(flags.httpPort, "--acme-http-port", 80, 1, 65535),
    tlsPort: integer(flags.tlsPort, "--acme-tls-port", 443, 1, 65535),
  };
  if (flags.resolver !== undefined) settings.resolver = parseResolver(flags.resolver);
  // Whether depot.cnf has it is known only once the depot is open: the upkeep process checks it before any worker starts.
  if (flags.template !== undefined) settings.template = flags.template.trim();
  return settings;
}

/** HOST:PORT or [IPv6]:PORT, or a bare address (port 53); node:dns takes an address, not a name. */
export function parseResolver(text: string): string {
  const trimmed = text.trim();
  const bracketed = /^\[([0-9a-f:.]+)\](?::(\d+))?$/i.exec(trimmed);
  const plain = /^([0-9.]+)(?::(\d+))?$/.exec(trimmed);
  const [address, port] = bracketed ? [bracketed[1]!, bracketed[2]] : plain ? [plain[1]!, plain[2]] : isIP(trimmed) === 6 ? [trimmed, undefined] : [undefined, undefined];
  if (!address || !isIP(address)) return bad(`--acme-resolver must be an IP address with an optional port (127.0.0.1:8053, [::1]:53), not '${text}'`);
  const portNumber = integer(port, "--acme-resolver's port", 53, 1, 65535);
  return isIP(address) === 6 ? `[${address}]:${portNumber}` : `${address}:${portNumber}`;
}

/** The `depot start` flags for ACME, in citty's form, for start's args (help and unknown-flag checks). */
export const ACME_START_ARGS = {
  acme: { type: "boolean", description: "Serve ACME (RFC 8555) at https://HOST:HTTPS_PORT/acme/directory; needs --https-port (off unless given: ACME issues to whoever proves control of a name)" },
  "acme-allow": { type: "string", description: "A name ACME may certify: DNS glob (*.internal.example.com) or IP CIDR (10.0.0.0/8); repeatable (default: any)" },
  "acme-days": { type: "string", description: `Lifetime of ACME certificates in days (default ${DEFAULT_ACME_DAYS}: short, so a leaked key ages out within a week; clients renew on their own)` },
  "acme-require-eab": { type: "boolean", description: "ACME accounts need an external account binding (make keys with: depot acme eab)" },
  "acme-orders-per-hour": { type: "string", description: `Orders one ACME account may make per hour (default ${DEFAULT_ORDERS_PER_HOUR})` },
  "acme-http-port": { type: "string", description: "Port the http-01 validator connects to on the client's host (default 80)" },
  "acme-tls-port": { type: "string", description: "Port the tls-alpn-01 validator connects to on the client's host (default 443)" },
  "acme-resolver": { type: "string", description: "DNS server (IP[:PORT]) for the validators' A/AAAA/TXT lookups (default: the system's)" },
  "acme-template": { type: "string", description: "Issue ACME certificates under this depot.cnf template (its base must be server; default: the built-in server)" },
} as const;

/**
 * Reads the ACME flags of `depot start` from its raw arguments: undefined
 * without `--acme`; any other --acme-* flag without it is refused, as is
 * --acme without an HTTPS listener.
 */
export function acmeFromStartArgs(rawArgs: string[], httpsListener: boolean): AcmeSettings | undefined {
  const values = (name: string) => allValues(rawArgs, name);
  const flag = (name: string) => rawArgs.includes(`--${name}`);
  const enabled = flag("acme");
  const others = Object.keys(ACME_START_ARGS).filter((name) => name !== "acme" && (flag(name) || values(name).length > 0));
  if (!enabled) {
    if (others.length > 0) bad(`--${others[0]} needs --acme`);
    return undefined;
  }
  if (!httpsListener) bad("--acme needs --https-port (ACME is served on the HTTPS listener)");
  const last = (name: string) => values(name).at(-1);
  const flags: AcmeFlags = { allow: values("acme-allow"), requireEab: flag("acme-require-eab") };
  for (const [key, name] of [["days", "acme-days"], ["ordersPerHour", "acme-orders-per-hour"], ["httpPort", "acme-http-port"], ["tlsPort", "acme-tls-port"], ["resolver", "acme-resolver"], ["template", "acme-template"]] as const) {
    const value = last(name);
    if (value !== undefined) flags[key] = value;
  }
  return acmeSettings(flags);
}
