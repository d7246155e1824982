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

/** A section as `parseConfigLines` reads it: where its header is, and each key's value and line. */
export interface ConfigSection {
  /** The header's line, counted from 1. */
  line: number;
  entries: Map<string, { value: string; line: number }>;
  /** Keys given twice in the section, with the line of the second (the later value wins in `parseConfig`). */
  repeated: { key: string; line: number }[];
  /** Lines that are neither a header nor `key = value` (`parseConfig` skips them). */
  unreadable: number[];
}

/**
 * Every section in the order written, with line numbers, for what is
 * refused with its line (templates.ts). A header seen twice gives two
 * sections; `parseConfig` keeps the later one, as it always did.
 */
export function parseConfigLines(text: string): { name: string; section: ConfigSection }[] {
  const sections: { name: string; section: ConfigSection }[] = [];
  let current: ConfigSection | undefined;
  const lines = text.split(/\r?\n/);
  for (let index = 0; index < lines.length; index++) {
    // A `#` starts a comment unless escaped as `\#` (labels may hold one).
    const line = lines[index]!.replace(/(?<!\\)#.*$/, "").trim();
    if (line === "") continue;
    const header = /^\[\s*(.+?)\s*\]$/.exec(line);
    if (header) {
      current = { line: index + 1, entries: new Map(), repeated: [], unreadable: [] };
      sections.push({ name: unescape(header[1]!), section: current });
      continue;
    }
    const pair = /^([^=]+?)\s*=\s*(.*)$/.exec(line);
    if (pair && current) {
      const key = unescape(pair[1]!);
      if (current.entries.has(key)) current.repeated.push({ key, line: index + 1 });
      current.entries.set(key, { value: unescape(pair[2]!), line: index + 1 });
    } else current?.unreadable.push(index + 1);
  }
  return sections;
}

export function parseConfig(text: string): ConfigSections {
  const sections: ConfigSections = new Map();
  for (const { name, section } of parseConfigLines(text)) {
    sections.set(name, new Map([...section.entries].map(([key, { value }]) => [key, value])));
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

/**
 * depot.cnf with `settings` in place of the CA's own sections and every
 * other section (the templates) kept as it was: what `depot ledger
 * migrate` writes back.
 */
export function configWithSettings(sections: ConfigSections, settings: DepotSettings): string {
  const merged = parseConfig(configFromSettings(settings));
  const own = new Set(["ca", sections.get("ca")?.get("label")]);
  for (const [name, entries] of sections) if (!own.has(name) && !merged.has(name)) merged.set(name, entries);
  return formatConfig(merged);
}
