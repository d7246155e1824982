/**
 * @module
 * depot.cnf, in the original's OpenSSL-config format:
 *
 *   [ ca ]
 *   label           = Example Certificate Authority
 *
 *   [ Example Certificate Authority ]
 *   path            = /tmp/example-ca
 *   key_type        = rsa-2048
 *
 * The `[ ca ]` section names the label; the label's own section holds the
 * depot's settings. depot's additions (key_type, default_days, crl_days,
 * public_url, on_crl_change) are
 * further keys there, so the original still reads the file.
 */
export type ConfigSections = Map<string, Map<string, string>>;

export function parseConfig(text: string): ConfigSections {
  const sections: ConfigSections = new Map();
  let current: Map<string, string> | undefined;
  for (const rawLine of text.split(/\r?\n/)) {
    // A `#` starts a comment unless escaped as `\#` (labels may hold one).
    const line = rawLine.replace(/(?<!\\)#.*$/, "").trim();
    if (line === "") continue;
    const header = /^\[\s*(.+?)\s*\]$/.exec(line);
    if (header) {
      current = new Map();
      sections.set(unescape(header[1]!), current);
      continue;
    }
    const pair = /^([^=]+?)\s*=\s*(.*)$/.exec(line);
    if (pair && current) current.set(unescape(pair[1]!), unescape(pair[2]!));
  }
  return sections;
}

export function formatConfig(sections: ConfigSections): string {
  const blocks: string[] = [];
  for (const [name, entries] of sections) {
    const lines = [`[ ${escape(name)} ]`];
    for (const [key, value] of entries) lines.push(`${key.padEnd(15)} = ${escape(value)}`);
    blocks.push(lines.join("\n"));
  }
  return `${blocks.join("\n\n")}\n`;
}

const escape = (text: string) => text.replace(/[\\#]/g, "\\$&");
const unescape = (text: string) => text.replace(/\\([\\#])/g, "$1");

/** The settings a depot keeps in its label's section. */
export interface DepotSettings {
  label: string;
  path: string;
  keyType?: string;
  defaultDays?: string;
  crlDays?: string;
  /** Where the ledger lives: `sqlite` (the default, ledger.sqlite3 in the depot), or postgres://user@host:5432/db (no password here). */
  ledger?: string;
  /** A file holding the PostgreSQL ledger's password (else PGPASSWORD). */
  ledgerPasswordFile?: string;
  /** Connections per process to the PostgreSQL ledger. */
  ledgerPool?: string;
  /** The HTTPS API's port when `depot start` is not given --https-port (off when absent). */
  httpsPort?: string;
  /** The HTTPS base URL as clients reach it (ACME's absolute URLs); `depot start --api-url` overrides it. */
  apiUrl?: string;
  /** The plain-HTTP base URL (AIA and CDP in every certificate; see public-url.ts). */
  publicUrl?: string;
  /** A command run after each new crl.pem (see ca/crl-change.ts). */
  onCrlChange?: string;
}

const KEYS: [keyof DepotSettings, string][] = [
  ["path", "path"],
  ["keyType", "key_type"],
  ["defaultDays", "default_days"],
  ["crlDays", "crl_days"],
  ["ledger", "ledger"],
  ["ledgerPasswordFile", "ledger_password_file"],
  ["ledgerPool", "ledger_pool"],
  ["httpsPort", "https_port"],
  ["apiUrl", "api_url"],
  ["publicUrl", "public_url"],
  ["onCrlChange", "on_crl_change"],
];

export function settingsFromConfig(sections: ConfigSections): DepotSettings | undefined {
  const label = sections.get("ca")?.get("label");
  if (!label) return undefined;
  const own = sections.get(label) ?? new Map<string, string>();
  const settings: DepotSettings = { label, path: own.get("path") ?? "" };
  for (const [field, key] of KEYS) {
    const value = own.get(key);
    if (value !== undefined) settings[field] = value;
  }
  return settings;
}

export function configFromSettings(settings: DepotSettings): string {
  const own = new Map<string, string>();
  for (const [field, key] of KEYS) {
    const value = settings[field];
    if (value !== undefined) own.set(key, value);
  }
  // A depot labelled "ca" keeps its settings in the one [ ca ] section.
  if (settings.label === "ca") return formatConfig(new Map([["ca", new Map([["label", "ca"], ...own])]]));
  return formatConfig(
    new Map([
      ["ca", new Map([["label", settings.label]])],
      [settings.label, own],
    ]),
  );
}
