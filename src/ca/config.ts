/**
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
 * depot's settings. depot's additions (key_type, default_days, crl_days) are
 * further keys there, so the original still reads the file.
 */
export type ConfigSections = Map<string, Map<string, string>>;

export function parseConfig(text: string): ConfigSections {
  const sections: ConfigSections = new Map();
  let current: Map<string, string> | undefined;
  for (const rawLine of text.split(/\r?\n/)) {
    const line = rawLine.replace(/(^|\s)#.*$/, "").trim();
    if (line === "") continue;
    const header = /^\[\s*(.+?)\s*\]$/.exec(line);
    if (header) {
      current = new Map();
      sections.set(header[1]!, current);
      continue;
    }
    const pair = /^([^=]+?)\s*=\s*(.*)$/.exec(line);
    if (pair && current) current.set(pair[1]!, pair[2]!);
  }
  return sections;
}

export function formatConfig(sections: ConfigSections): string {
  const blocks: string[] = [];
  for (const [name, entries] of sections) {
    const lines = [`[ ${name} ]`];
    for (const [key, value] of entries) lines.push(`${key.padEnd(15)} = ${value}`);
    blocks.push(lines.join("\n"));
  }
  return `${blocks.join("\n\n")}\n`;
}

/** The settings a depot keeps in its label's section. */
export interface DepotSettings {
  label: string;
  path: string;
  keyType?: string;
  defaultDays?: string;
  crlDays?: string;
}

const KEYS: [keyof DepotSettings, string][] = [
  ["path", "path"],
  ["keyType", "key_type"],
  ["defaultDays", "default_days"],
  ["crlDays", "crl_days"],
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
  return formatConfig(
    new Map([
      ["ca", new Map([["label", settings.label]])],
      [settings.label, own],
    ]),
  );
}
