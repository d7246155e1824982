/**
 * @module
 * Help text: depot renders its own rather than citty's renderUsage, to show
 * what citty's cannot (required options in the usage line, init's CA-name
 * words, an example for every command) and to wrap at the terminal's width
 * (80 columns when not a terminal) instead of padding to the widest line.
 * Also the "did you mean" of a mistyped command or option.
 */
import type { ArgDef, ArgsDef, CommandDef } from "citty";

/** Examples for each command, run as printed (test/cli.test.ts checks they parse). */
export const EXAMPLES: Record<string, string[]> = {
  depot: [
    "depot init ~/ca Example CA",
    "depot generate ~/ca --type client --cn \"Bob Owner\" --out bob.pem",
    "depot start ~/ca --process-count 4",
  ],
  start: ["depot start ~/ca", "depot start ~/ca --port 35553 --process-count 4 --daemon", "depot --process-count 4   # the same as depot start"],
  stop: ["depot stop", "depot stop --pid-file /run/depot.pid --wait 120"],
  status: ["depot status"],
  init: ["depot init ~/ca Example CA", "depot init ~/ca --key-type ec-p256 --days 90"],
  generate: [
    "depot generate ~/ca --type client --cn \"Bob Owner\" --email bob@example.com --out bob.pem",
    "depot generate ~/ca --type client --cn \"Bob Owner\" --out bob.pem --p12 bob.p12",
    "depot generate ~/ca --type server --cn www.example.com --san 10.0.0.5 --out www.pem",
    "depot generate ~/ca --template vpn-server --cn vpn.example.com --out vpn.pem",
  ],
  sign: [
    "openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout www.key -subj /CN=www.example.com -out req.pem",
    "depot sign ~/ca --csr req.pem --type server --out www.crt",
  ],
  p12: ["depot p12 --key bob.key --cert bob.crt --ca ~/ca/certificates/ca.crt --out bob.p12", "depot p12 --key bob.pem --cert bob.pem --out bob.p12 --password-file pw.txt --legacy"],
  "install-ca": ["depot install-ca ~/ca", "depot install-ca ~/ca --uninstall"],
  revoke: ["depot revoke ~/ca 5E0FA1229B0344107CD2610AE35B8814 --reason keyCompromise"],
  crl: ["depot crl ~/ca", "depot crl ~/ca --crl-days 14"],
  list: ["depot list ~/ca", "depot list ~/ca --revoked --json"],
  show: ["depot show ~/ca 5E0FA1229B0344107CD2610AE35B8814"],
  config: ["depot config ~/ca"],
  ledger: ["depot ledger rebuild ~/ca"],
  "ledger rebuild": ["depot ledger rebuild ~/ca", "depot ledger rebuild ~/ca --without-crl"],
  scep: ["depot scep init ~/ca", "depot scep challenge create ~/ca --name printer-7 --allow 'cn:printer-*'"],
  "scep init": ["depot scep init ~/ca", "depot scep init ~/ca --passphrase-file /root/ca.pass"],
  "scep challenge": ["depot scep challenge create ~/ca --name printer-7", "depot scep challenge list ~/ca"],
  "scep challenge create": ["depot scep challenge create ~/ca --name printer-7 --allow 'cn:printer-*' --expires 2h", "depot scep challenge create ~/ca --type server --allow '*.lan.example.com' --max-days 90"],
  "scep challenge list": ["depot scep challenge list ~/ca"],
  token: ["depot token create ~/ca --name deploy --allow '*.svc.example.com' --type server --expires 30d", "depot token list ~/ca"],
  "token create": ["depot token create ~/ca --name deploy --allow '*.svc.example.com' --type server --expires 30d", "depot token create ~/ca --name enrol-bob --allow email:bob@example.com --uses 1"],
  audit: ["depot audit verify ~/ca", "depot audit export ~/ca --after 100"],
  "audit verify": ["depot audit verify ~/ca"],
  "audit export": ["depot audit export ~/ca --after 100"],
  acme: ["depot acme eab ~/ca --name team-a --allow '*.team-a.example.com'"],
  renew: [
    "depot renew --cert www.crt --key www.key --server https://ca.example.com:8443 --ca-file ca.crt",
    "depot renew --cert www.crt --key www.key --server https://ca.example.com:8443 --daemon --exec 'systemctl reload nginx'",
  ],
  template: ["depot template list ~/ca", "depot template show ~/ca vpn-server"],
  "template list": ["depot template list ~/ca", "depot template list ~/ca --json"],
  "template show": ["depot template show ~/ca vpn-server", "depot template show ~/ca client --json"],
  "acme eab": ["depot acme eab ~/ca --name team-a --allow '*.team-a.example.com'"],
};

/** What a command's usage line shows beyond its declared arguments. */
const EXTRA_USAGE: Record<string, string> = { init: "[CA NAME...]" };

export function terminalWidth(): number {
  return process.stdout.isTTY && process.stdout.columns ? Math.max(40, process.stdout.columns) : 80;
}

/** `text` wrapped to `width`, lines after the first indented by `indent` (and the first by `first`). */
export function wrap(text: string, width: number, indent = 0, first = indent): string {
  const lines: string[] = [];
  let line = "";
  let lineIndent = first;
  for (const word of text.split(/\s+/).filter(Boolean)) {
    if (line && lineIndent + line.length + 1 + word.length > width) {
      lines.push(" ".repeat(lineIndent) + line);
      line = word;
      lineIndent = indent;
    } else line = line ? `${line} ${word}` : word;
  }
  lines.push(" ".repeat(lineIndent) + line);
  return lines.join("\n");
}

function optionSpelling(name: string, def: ArgDef): string {
  const aliases = [(def as { alias?: string | string[] }).alias ?? []].flat().map((a) => (a.length === 1 ? `-${a}` : `--${a}`));
  // A long list of choices goes in the description (see describe), not the spelling.
  const choices = def.type === "enum" && (def.options ?? []).length <= 3 ? (def.options ?? []).join("|") : undefined;
  const value = def.type === "boolean" ? "" : ` <${choices ?? (def as { valueHint?: string }).valueHint ?? "value"}>`;
  return [...aliases, `--${name}`].join(", ") + value;
}

function describe(def: ArgDef): string {
  const options = def.type === "enum" ? (def.options ?? []) : [];
  const choices = options.length > 3 ? ` One of: ${options.join(", ")}.` : "";
  return `${def.description ?? ""}${choices}${def.required ? " (required)" : ""}`;
}

async function resolved(value: unknown): Promise<any> {
  return typeof value === "function" ? await value() : await value;
}

/** Rows of two columns, the second wrapped beside the first (or below it when the first is wide). */
function table(rows: [string, string][], width: number): string {
  const column = Math.min(30, Math.max(...rows.map(([left]) => left.length)) + 4);
  return rows
    .map(([left, right]) => {
      const head = `  ${left}`;
      if (head.length + 2 > column) return `${head}\n${wrap(right, width, column)}`;
      return head.padEnd(column) + wrap(right, width, column).trimStart();
    })
    .join("\n");
}

/** The help of one command: description, usage line, arguments, options, subcommands, examples. */
export async function renderHelp(name: string, command: CommandDef<any>, width = terminalWidth()): Promise<string> {
  const subCommands = await resolved(command.subCommands);
  if (subCommands && Object.keys(subCommands).length > 0) {
    const rows: [string, string][] = [];
    for (const [sub, def] of Object.entries(subCommands)) {
      const subMeta = (await resolved(((await resolved(def)) as CommandDef<any>).meta)) as { description?: string } | undefined;
      rows.push([sub, subMeta?.description ?? ""]);
    }
    const meta = (await resolved(command.meta)) as { description?: string } | undefined;
    return `${[wrap(`depot ${name}: ${meta?.description ?? ""}`, width), `Usage: depot ${name} <command> [arguments] [options]`, `Commands:\n${table(rows, width)}`, examples(name)].join("\n\n")}\n`;
  }
  const meta = (command.meta ?? {}) as { description?: string };
  const args = (command.args ?? {}) as ArgsDef;
  const entries = Object.entries(args);
  const positionals = entries.filter(([, def]) => def.type === "positional");
  const options = entries.filter(([, def]) => def.type !== "positional");
  const usage = [
    `depot ${name}`,
    ...positionals.map(([arg, def]) => (def.required === false || def.required === undefined && def.default !== undefined ? `[${arg.toUpperCase()}]` : arg.toUpperCase())),
    ...(EXTRA_USAGE[name] ? [EXTRA_USAGE[name]] : []),
    ...options.filter(([, def]) => def.required).map(([option, def]) => optionSpelling(option, def).replace(/^.*(--\S+)/, "$1")),
    "[options]",
  ].join(" ");
  const sections = [wrap(`depot ${name}: ${meta.description ?? ""}`, width), wrap(`Usage: ${usage}`, width, 7, 0)];
  if (positionals.length) sections.push(`Arguments:\n${table(positionals.map(([arg, def]) => [arg.toUpperCase(), def.description ?? ""]), width)}`);
  const optionRows: [string, string][] = options.map(([option, def]) => [optionSpelling(option, def), describe(def)]);
  optionRows.push(["-h, --help", "Show this help"]);
  sections.push(`Options:\n${table(optionRows, width)}`);
  sections.push(examples(name));
  return `${sections.join("\n\n")}\n`;
}

/** The top-level help: every command, the server's options (bare `depot` runs the server), examples. */
export function renderMainHelp(description: string, commands: Record<string, CommandDef<any>>, width = terminalWidth()): string {
  const start = commands.start;
  const serverOptions = Object.entries((start?.args ?? {}) as ArgsDef).filter(([, def]) => def.type !== "positional");
  return [
    wrap(`depot: ${description}`, width),
    "Usage: depot <command> [arguments] [options]\n       depot [server options]      (runs the server: depot start)\n       depot <command> --help      (each command's options and examples)",
    `Commands:\n${table(Object.entries(commands).map(([name, command]) => [name, String((command.meta as { description?: string })?.description ?? "")]), width)}`,
    `Server options (depot start --help for all):\n${table(serverOptions.map(([option, def]) => [optionSpelling(option, def), def.description ?? ""]), width)}`,
    `Other options:\n${table([["-v, --version", "Print the version"], ["-h, --help", "Show this help"]], width)}`,
    examples("depot"),
  ].join("\n\n") + "\n";
}

function examples(name: string): string {
  const lines = EXAMPLES[name] ?? [];
  // Examples are commands to copy: never wrapped.
  return `Example${lines.length === 1 ? "" : "s"}:\n${lines.map((line) => `  ${line}`).join("\n")}`;
}

/** The candidate nearest to a mistyped `word` (edit distance 2 at most, or a unique prefix), if any. */
export function nearest(word: string, candidates: string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of candidates) {
    const distance = editDistance(word.toLowerCase(), candidate.toLowerCase());
    if (distance < bestDistance) [best, bestDistance] = [candidate, distance];
  }
  if (best) return best;
  const prefixed = candidates.filter((c) => word.length >= 2 && c.startsWith(word));
  return prefixed.length === 1 ? prefixed[0] : undefined;
}

/** Damerau-Levenshtein (optimal string alignment): a swap of two letters counts as one. */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1);
    }
  }
  return d[a.length]![b.length]!;
}
