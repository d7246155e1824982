/**
 * @module
 * `depot template list|show`: the certificate templates a depot issues
 * under, the built-ins client and server and depot.cnf's `[ template NAME ]`
 * sections (src/ca/templates.ts). Read from depot.cnf alone: no ledger is
 * opened, so it answers while a PostgreSQL ledger is out of reach. A
 * template that makes no sense is refused with its line, as every command
 * that opens the depot refuses it.
 */
import { resolve } from "node:path";
import { defineCommand } from "citty";
import { DEFAULT_LEAF_DAYS } from "../ca/defaults.ts";
import { readDepotConfig } from "../ca/depot-checks.ts";
import type { KeyFamily } from "../ca/key-types.ts";
import { depotLayout } from "../ca/layout.ts";
import { effectiveKeyUsage, effectivePurposes } from "../ca/template-extensions.ts";
import type { Template, Templates } from "../ca/templates.ts";
import { command } from "./_command.ts";

/** The depot's templates and its default validity, from depot.cnf. */
function readTemplates(path: string): { templates: Templates; defaultDays: number } {
  const { settings, templates } = readDepotConfig(depotLayout(resolve(path)));
  return { templates, defaultDays: settings.defaultDays ? Number(settings.defaultDays) : DEFAULT_LEAF_DAYS };
}

const FAMILIES: [KeyFamily, string][] = [
  ["rsa", "RSA"],
  ["ec", "EC"],
  ["ed25519", "Ed25519"],
];

/** A template as `--json` gives it. */
function templateJson(template: Template, defaultDays: number) {
  return {
    name: template.name,
    base: template.base,
    builtIn: template.builtIn,
    ...(template.line !== undefined ? { line: template.line } : {}),
    days: template.days ?? defaultDays,
    // Whether `days` is also the longest a request may ask for (else the depot's default, no cap).
    daysCapped: template.days !== undefined,
    keyUsage: Object.fromEntries(FAMILIES.map(([family]) => [family, effectiveKeyUsage(template, family)])),
    extendedKeyUsage: effectivePurposes(template),
    allow: template.allow,
    extensions: template.extensions.map((extension) => ({ oid: extension.oid, critical: extension.critical, der: Buffer.from(extension.value).toString("hex") })),
    enrichableExtensions: template.enrichableExtensions,
  };
}

/** The key usage by key family, the families that get the same usages on one line: `digitalSignature (EC, Ed25519)`. */
function keyUsageText(template: Template): string {
  const groups = new Map<string, string[]>();
  for (const [family, name] of FAMILIES) {
    const usages = effectiveKeyUsage(template, family).join(", ") || "none: such keys are refused";
    groups.set(usages, [...(groups.get(usages) ?? []), name]);
  }
  if (groups.size === 1) return [...groups.keys()][0]!;
  return [...groups].map(([usages, families]) => `${usages} (${families.join(", ")} keys)`).join("; ");
}

function daysText(template: Template, defaultDays: number): string {
  return template.days === undefined ? `${defaultDays} (the depot's default)` : `${template.days} (the default and the longest)`;
}

const listArgs = {
  path: { type: "positional", description: "The depot's folder", required: true },
  json: { type: "boolean", description: "JSON for scripts: an array of templates" },
} as const;

const list = command({
  meta: { name: "list", description: "List the certificate templates: the built-ins client and server, then depot.cnf's." },
  args: listArgs,
  run({ args: parsed }) {
    const { templates, defaultDays } = readTemplates(parsed.path);
    if (parsed.json) {
      process.stdout.write(`${JSON.stringify(templates.all.map((t) => templateJson(t, defaultDays)), null, 2)}\n`);
      return;
    }
    const rows = templates.all.map((t) => [t.name, t.base, String(t.days ?? defaultDays), effectivePurposes(t).join(","), t.builtIn ? "built-in" : `depot.cnf line ${t.line}`]);
    const widths = [0, 1, 2, 3].map((column) => Math.max(...[["NAME", "BASE", "DAYS", "PURPOSES"][column]!, ...rows.map((row) => row[column]!)].map((cell) => cell.length)));
    for (const row of [["NAME", "BASE", "DAYS", "PURPOSES", "FROM"], ...rows]) console.log(row.map((cell, column) => (column < 4 ? cell.padEnd(widths[column]!) : cell)).join("  "));
  },
});

const showArgs = {
  path: { type: "positional", description: "The depot's folder", required: true },
  name: { type: "positional", description: "The template's name", required: true },
  json: { type: "boolean", description: "JSON for scripts" },
} as const;

const show = command({
  meta: { name: "show", description: "Show one template: base, key usage, extended key usage, days, name rules, extensions." },
  args: showArgs,
  run({ args: parsed }) {
    const { templates, defaultDays } = readTemplates(parsed.path);
    const template = templates.get(parsed.name);
    if (parsed.json) {
      process.stdout.write(`${JSON.stringify(templateJson(template, defaultDays), null, 2)}\n`);
      return;
    }
    const lines = [
      `Name:                ${template.name} (${template.builtIn ? "built-in" : `depot.cnf line ${template.line}`})`,
      `Base:                ${template.base}`,
      `Key usage:           ${keyUsageText(template)}`,
      `Extended key usage:  ${effectivePurposes(template).join(", ")}`,
      `Days:                ${daysText(template, defaultDays)}`,
      `Allow:               ${template.allow.length > 0 ? template.allow.join(", ") : "any name"}`,
      ...template.extensions.map((extension, index) => `${index === 0 ? "Extensions:" : ""}`.padEnd(21) + `${extension.oid} = ${extension.text}`),
      ...(template.enrichableExtensions.length > 0 ? [`Enrich extensions:   ${template.enrichableExtensions.join(", ")}`] : []),
    ];
    console.log(lines.join("\n"));
  },
});

export default defineCommand({
  meta: { name: "template", description: "Certificate templates (depot.cnf's [ template NAME ] sections): list, show." },
  subCommands: { list, show },
});
