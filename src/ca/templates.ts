/**
 * @module
 * Certificate templates: named profiles in depot.cnf, each starting from a
 * built-in one (`client` or `server`) and changing its key usage, extended
 * key usage, validity, name rules and extra extensions:
 *
 *   [ template vpn-server ]
 *   base               = server
 *   key_usage          = digitalSignature, keyEncipherment
 *   extended_key_usage = serverAuth
 *   days               = 825
 *   allow              = *.vpn.example.com
 *   extension.1.3.6.1.4.1.99999.1 = DER:0C:03:76:70:6E
 *
 * Read once when the depot opens; a template that makes no sense stops the
 * open with its line (`depot.cnf line 14: [ template vpn-server ] ...`), so
 * a typo never reaches a certificate. The built-ins `client` and `server`
 * are templates too, with those reserved names; their certificates are
 * made exactly as before (profiles.ts). What the extensions are in DER is
 * `template-extensions.ts`.
 */
import { DEPOT_EXTENSION_NAMES, isDottedOid } from "./extension-oids.ts";
import { DepotError } from "../errors.ts";
import { type ConfigSection, parseConfigLines } from "./config.ts";
import { readElementWithin, string, TAG } from "./der.ts";
import { MAX_DAYS } from "./defaults.ts";
import type { DistinguishedName } from "./dn.ts";
import type { Profile, SubjectAltName } from "./profiles.ts";
import { checkNames, compilePatterns, type Pattern, PolicyRefusal } from "./token-policy.ts";

/** keyUsage's bits by OpenSSL's names, numbered as RFC 5280 4.2.1.3 does. */
export const KEY_USAGE_BITS = {
  digitalSignature: 0,
  nonRepudiation: 1,
  keyEncipherment: 2,
  dataEncipherment: 3,
  keyAgreement: 4,
  keyCertSign: 5,
  cRLSign: 6,
  encipherOnly: 7,
  decipherOnly: 8,
} as const;
export type KeyUsageName = keyof typeof KEY_USAGE_BITS;

/** The purposes known by name (OpenSSL's names, RFC 5280 4.2.1.12); any other is given as a dotted OID. */
export const PURPOSES: Record<string, string> = {
  serverAuth: "1.3.6.1.5.5.7.3.1",
  clientAuth: "1.3.6.1.5.5.7.3.2",
  codeSigning: "1.3.6.1.5.5.7.3.3",
  emailProtection: "1.3.6.1.5.5.7.3.4",
  timeStamping: "1.3.6.1.5.5.7.3.8",
  OCSPSigning: "1.3.6.1.5.5.7.3.9",
};


/** An extension a template adds as given. */
export interface TemplateExtension {
  oid: string;
  critical: boolean;
  /** The extension's value (what extnValue's OCTET STRING holds): one DER element. */
  value: Uint8Array;
  /** As written in depot.cnf, for `depot template show`. */
  text: string;
}

export interface Template {
  name: string;
  /** The built-in profile it starts from: its name handling (a server needs a host name) and the ledger's `type`. */
  base: Profile;
  /** `client` and `server`, made exactly as the profiles always were. */
  builtIn: boolean;
  /** Replaces the base's keyUsage; absent: the base's. Usages the key cannot do are left out at issuance (template-extensions.ts). */
  keyUsage?: KeyUsageName[];
  /** Replaces the base's extendedKeyUsage: names of PURPOSES or dotted OIDs; absent: the base's. */
  extendedKeyUsage?: string[];
  /** The default and longest validity, in days; absent: the depot's default, no cap. */
  days?: number;
  /** Name patterns (the token `--allow` syntax) every certificate under it must match; empty allows any. */
  allow: string[];
  extensions: TemplateExtension[];
  /** Extension OIDs an enrich webhook may add to its certificates. */
  enrichableExtensions: string[];
  /** Where depot.cnf defines it (absent for the built-ins). */
  line?: number;
}

const builtIn = (base: Profile): Template => ({ name: base, base, builtIn: true, allow: [], extensions: [], enrichableExtensions: [] });
export const BUILT_IN_TEMPLATES: readonly Template[] = [builtIn("client"), builtIn("server")];

/** Each template's name patterns, read once at load. */
const PATTERNS = new WeakMap<Template, Pattern[]>();

/** The templates of one depot: the built-ins, then depot.cnf's in the order written. */
export class Templates {
  private readonly byName = new Map<string, Template>();

  constructor(readonly custom: Template[] = []) {
    for (const template of [...BUILT_IN_TEMPLATES, ...custom]) this.byName.set(template.name, template);
  }

  /** Every template, the built-ins first. */
  get all(): Template[] {
    return [...BUILT_IN_TEMPLATES, ...this.custom];
  }

  find(name: string): Template | undefined {
    return this.byName.get(name);
  }

  get(name: string): Template {
    const template = this.byName.get(name);
    if (!template) throw new DepotError("E_BAD_ARGUMENT", `no template named '${printableName(name)}' in depot.cnf; depot template list shows them`);
    return template;
  }

  /** The template a request names, or the built-in named by its profile; a template of the other base is refused. */
  resolve(name: string | undefined, profile: Profile): Template {
    const template = this.get(name ?? profile);
    if (template.base !== profile) {
      throw new DepotError("E_BAD_ARGUMENT", `template '${template.name}' makes ${template.base} certificates (base = ${template.base}), not ${profile} ones`);
    }
    return template;
  }

  /** A template a server flag names (`--acme-template`): it must exist and, when `base` is given, start from it. */
  require(name: string, flag: string, base?: Profile): Template {
    let template: Template;
    try {
      template = this.get(name);
    } catch (error) {
      throw new DepotError("E_BAD_ARGUMENT", `${flag} ${name}: ${(error as Error).message}`);
    }
    if (base && template.base !== base) {
      throw new DepotError("E_BAD_ARGUMENT", `${flag} ${name}: template '${name}' makes ${template.base} certificates; ${flag} needs one with base = ${base}`);
    }
    return template;
  }
}

/**
 * The validity under `template`: `asked` (the request's days), else the
 * template's, else the depot's default. More than the template's days is a
 * policy refusal (HTTP 403), as a token's --max-days is.
 */
export function templateDays(template: Template, asked: number | undefined, depotDefault: number): number {
  if (asked === undefined) return template.days ?? depotDefault;
  if (template.days !== undefined && asked > template.days) {
    throw new PolicyRefusal(`template '${template.name}' does not allow ${formatDays(asked)} days (at most ${template.days})`);
  }
  return asked;
}

const formatDays = (days: number) => (Number.isInteger(days) ? String(days) : days.toFixed(2));

/**
 * Refuses (PolicyRefusal, HTTP 403) a subject or name outside the
 * template's `allow` rules; the rules are the token `--allow` ones, checked
 * on top of any token's own.
 */
export function checkTemplateNames(template: Template, subject: DistinguishedName, names: SubjectAltName[]): void {
  const patterns = PATTERNS.get(template);
  if (!patterns || patterns.length === 0) return;
  checkNames(`template '${template.name}'`, template.allow, patterns, { subject, names: names.filter((name) => name.type !== "email") });
}

/** A name a client sent, safe to echo in one line. */
function printableName(name: string): string {
  const shown = name.length > 64 ? `${name.slice(0, 64)}...` : name;
  return shown.replace(/[^\x20-\x7e]/g, "?");
}

// ---------------------------------------------------------------------------
// Reading depot.cnf
// ---------------------------------------------------------------------------

const TEMPLATE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
const LIST_KEYS = ["base", "key_usage", "extended_key_usage", "days", "allow", "enrich_extensions"];

/** A template that makes no sense, with its line. */
class TemplateError extends DepotError {
  constructor(file: string, line: number, where: string, why: string) {
    super("E_NOT_A_DEPOT", `${file} line ${line}: ${where}${why}`);
  }
}

/**
 * The templates of a depot.cnf (its `[ template NAME ]` sections). `file`
 * names it in a refusal, which gives the line: a depot with a template
 * that makes no sense does not open.
 */
export function templatesFromConfig(text: string, file = "depot.cnf"): Templates {
  const sections = parseConfigLines(text);
  const label = sections.find((s) => s.name === "ca")?.section.entries.get("label")?.value;
  const custom: Template[] = [];
  for (const { name: header, section } of sections) {
    const match = /^template(?:\s+(.*))?$/.exec(header);
    if (!match || header === label) continue;
    const name = match[1]?.trim() ?? "";
    const where = `[ ${header} ] `;
    const fail = (line: number, why: string): never => {
      throw new TemplateError(file, line, where, why);
    };
    if (!TEMPLATE_NAME.test(name)) fail(section.line, "a template's name is 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit");
    if (BUILT_IN_TEMPLATES.some((t) => t.name === name.toLowerCase())) fail(section.line, `the built-in templates client and server cannot be redefined; give yours another name`);
    const earlier = custom.find((t) => t.name === name);
    if (earlier) fail(section.line, `is defined twice (first at line ${earlier.line})`);
    custom.push(readTemplate(name, section, fail));
  }
  return new Templates(custom);
}

type Fail = (line: number, why: string) => never;

function readTemplate(name: string, section: ConfigSection, fail: Fail): Template {
  const [unreadable] = section.unreadable;
  if (unreadable !== undefined) fail(unreadable, "this line is not 'key = value'");
  const [repeated] = section.repeated;
  if (repeated) fail(repeated.line, `${repeated.key} is given twice`);
  for (const [key, { line }] of section.entries) {
    if (!LIST_KEYS.includes(key) && !key.startsWith("extension.")) fail(line, `unknown key '${key}' (known: ${LIST_KEYS.join(", ")}, extension.OID)`);
  }
  const entry = (key: string) => section.entries.get(key);
  const base = entry("base");
  if (!base) fail(section.line, "base is missing: base = client or base = server");
  if (base!.value !== "client" && base!.value !== "server") fail(base!.line, `base: '${base!.value}' is not client or server`);
  const template: Template = { name, base: base!.value as Profile, builtIn: false, allow: [], extensions: [], enrichableExtensions: [], line: section.line };

  const keyUsage = entry("key_usage");
  if (keyUsage) template.keyUsage = list(keyUsage, "key_usage", fail).map((item) => keyUsageName(item, keyUsage.line, fail));
  const purposes = entry("extended_key_usage");
  if (purposes) template.extendedKeyUsage = list(purposes, "extended_key_usage", fail).map((item) => purpose(item, purposes.line, fail));
  const days = entry("days");
  if (days) {
    const value = Number(days.value);
    if (!/^\d+$/.test(days.value) || value < 1 || value > MAX_DAYS) fail(days.line, `days: must be a whole number from 1 to ${MAX_DAYS}, not '${days.value}'`);
    template.days = value;
  }
  const allow = entry("allow");
  if (allow) {
    template.allow = list(allow, "allow", fail);
    try {
      PATTERNS.set(template, compilePatterns(template.allow, "allow"));
    } catch (error) {
      fail(allow.line, (error as Error).message);
    }
  }
  const enrich = entry("enrich_extensions");
  if (enrich) template.enrichableExtensions = list(enrich, "enrich_extensions", fail).map((item) => extensionOid(item, `enrich_extensions: '${item}'`, enrich.line, fail));
  for (const [key, { value, line }] of section.entries) {
    if (key.startsWith("extension.")) template.extensions.push(extension(key.slice("extension.".length), value, line, fail));
  }
  return template;
}

/** A comma-separated list, its items trimmed, repeats dropped; an empty one is refused. */
function list(entry: { value: string; line: number }, key: string, fail: Fail): string[] {
  const items = entry.value.split(",").map((item) => item.trim());
  if (items.some((item) => item === "")) fail(entry.line, `${key}: an empty item (give names separated by commas)`);
  return [...new Set(items)];
}

function keyUsageName(text: string, line: number, fail: Fail): KeyUsageName {
  const name = (Object.keys(KEY_USAGE_BITS) as KeyUsageName[]).find((known) => known.toLowerCase() === text.toLowerCase());
  if (!name) return fail(line, `key_usage: '${text}' is not a key usage (${Object.keys(KEY_USAGE_BITS).join(", ")})`);
  // basicConstraints says CA:FALSE: a leaf that claims to sign certificates or CRLs would contradict it (RFC 5280 4.2.1.3).
  if (name === "keyCertSign" || name === "cRLSign") return fail(line, `key_usage: ${name} is for CA certificates; depot's templates make leaves`);
  return name;
}

function purpose(text: string, line: number, fail: Fail): string {
  const named = Object.keys(PURPOSES).find((known) => known.toLowerCase() === text.toLowerCase());
  if (named) return named;
  if (isDottedOid(text)) return text;
  return fail(line, `extended_key_usage: '${text}' is not a known purpose (${Object.keys(PURPOSES).join(", ")}) or a dotted OID`);
}

/** An OID a template may add (or let a webhook add): dotted, and not one depot writes itself. */
function extensionOid(text: string, what: string, line: number, fail: Fail): string {
  if (!isDottedOid(text)) return fail(line, `${what} is not a dotted OID (like 1.3.6.1.4.1.99999.1)`);
  const reserved = DEPOT_EXTENSION_NAMES[text];
  if (reserved) return fail(line, `${what} is ${reserved}, which depot sets itself`);
  return text;
}

/** `extension.OID = [critical,]DER:hex` (colons between the bytes allowed, as OpenSSL writes them) or `[critical,]UTF8:text`. */
function extension(oidText: string, value: string, line: number, fail: Fail): TemplateExtension {
  const oid = extensionOid(oidText, `extension.${oidText}`, line, fail);
  const critical = /^critical\s*,/i.test(value);
  const body = critical ? value.replace(/^critical\s*,\s*/i, "") : value;
  const form = /^(DER|UTF8):(.*)$/is.exec(body);
  if (!form) return fail(line, `extension.${oid}: give the value as [critical,]DER:<hex> or [critical,]UTF8:<text>, not '${value}'`);
  let bytes: Uint8Array;
  if (form[1]!.toUpperCase() === "UTF8") bytes = string(TAG.UTF8_STRING, form[2]!);
  else {
    const hex = form[2]!.replace(/[:\s]/g, "");
    if (!/^([0-9a-f]{2})+$/i.test(hex)) return fail(line, `extension.${oid}: DER: needs hex bytes (like 0C:03:76:70:6E)`);
    bytes = new Uint8Array(Buffer.from(hex, "hex"));
    if (!isOneElement(bytes)) return fail(line, `extension.${oid}: the DER is not one whole element (tag, length, contents)`);
  }
  return { oid, critical, value: bytes, text: value };
}

function isOneElement(der: Uint8Array): boolean {
  try {
    return readElementWithin(der, 0, der.length).end === der.length;
  } catch {
    return false;
  }
}

