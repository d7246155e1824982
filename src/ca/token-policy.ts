/**
 * @module
 * What an API token may ask for: names (DNS globs, IP ranges, subject
 * attribute patterns), profile, key types and validity. Checked before
 * anything is signed; a refusal names the first thing outside the policy.
 */
import { isIP } from "node:net";
import { DepotError } from "../errors.ts";
import { attribute, type DistinguishedName } from "./dn.ts";
import { ipBytes, parseSubjectAltName, type SubjectAltName } from "./profiles.ts";
import type { SshTokenPolicy } from "./ssh/policy.ts";

/** A token's limits, kept as JSON beside the token's hash. */
export interface TokenPolicy {
  /** May list and revoke certificates (and read metrics). */
  admin: boolean;
  /** Name patterns as given to `--allow`; empty allows any name. */
  allow: string[];
  /** The only profile this token issues (also the default `type` of a request). */
  type?: "client" | "server";
  /** Allowed key types (depot's names: ec-p256, rsa-2048, ...); absent allows any. */
  keyTypes?: string[];
  /** Longest validity, in days; also caps the depot's default. */
  maxDays?: number;
  /** The only templates it issues under (depot.cnf's, or the built-ins client and server); the first is a request's default. Absent: any. */
  templates?: string[];
  /** What it may ask of the SSH CAs; absent: no SSH certificates. */
  ssh?: SshTokenPolicy;
  /**
   * A SCEP challenge password (`depot scep challenge create`): good only as
   * a CSR's challengePassword at /scep, never as an API token; and an API
   * token is never a SCEP challenge.
   */
  scep?: true;
}

/** A request as the policy sees it: the subject and every name it would carry. */
export interface PolicyRequest {
  profile: "client" | "server";
  subject: DistinguishedName;
  /** The certificate's subjectAltNames (for a server: the CN when it is a host name, then the SANs). */
  names: SubjectAltName[];
  keyType: string;
  days: number;
  /** The template asked for, by name (the built-in named by `profile` when none was). */
  template?: string;
}

/** The request is well formed but outside what the token allows (HTTP 403). */
export class PolicyRefusal extends Error {
  override name = "PolicyRefusal";
}

export type Pattern =
  | { kind: "dns"; text: string; regex: RegExp }
  | { kind: "ip"; text: string; bytes: Uint8Array; bits: number }
  | { kind: "attribute"; text: string; attribute: string; regex: RegExp };

/**
 * Reads one `--allow` pattern:
 * - `*.svc.example.com`, `dns:api.example.com`: DNS names; `*` is one label,
 *   `**` one or more labels;
 * - `10.0.0.0/8`, `192.0.2.7`, `ip:2001:db8::/32`: IP addresses in a range;
 * - `cn:Bob *`, `email:*@example.com`, `uid:*`, `o:Example` (any subject
 *   attribute depot knows): that attribute's value; `*` is any text.
 */
export function parsePattern(text: string, option = "--allow"): Pattern {
  try {
    return readPattern(text);
  } catch (error) {
    if (error instanceof PatternError) throw new DepotError("E_BAD_ARGUMENT", `${option} '${text}': ${error.message}`);
    throw error;
  }
}

/** Why a pattern is unreadable, before `parsePattern` says which option gave it. */
class PatternError extends Error {}

function readPattern(text: string): Pattern {
  if (isIP(text.split("/")[0]!)) return ipPattern(text, text);
  const prefixed = /^([a-z]+):(.*)$/i.exec(text);
  if (!prefixed) return dnsPattern(text, text);
  const prefix = prefixed[1]!.toLowerCase();
  const value = prefixed[2]!;
  if (prefix === "ip") return ipPattern(text, value);
  if (prefix === "dns") return dnsPattern(text, value);
  const name = prefix === "email" ? "emailAddress" : attributeName(prefix);
  if (value === "") throw new PatternError("the pattern after the colon is empty");
  return { kind: "attribute", text, attribute: name, regex: globRegex(value, ".*", name === "emailAddress" ? "i" : "") };
}

function ipPattern(text: string, value: string): Pattern {
  const [address = "", bitsText] = value.split("/");
  const family = isIP(address);
  if (family === 0) throw new PatternError(`'${address}' is not an IP address`);
  const max = family === 4 ? 32 : 128;
  const bits = bitsText === undefined ? max : Number(bitsText);
  if (!/^\d+$/.test(bitsText ?? "0") || bits > max) throw new PatternError(`the prefix length must be 0 to ${max}`);
  return { kind: "ip", text, bytes: ipBytes(address), bits };
}

function dnsPattern(text: string, value: string): Pattern {
  const labels = value.toLowerCase().split(".");
  if (labels.some((label) => !/^(\*\*|[a-z0-9*]([a-z0-9*-]*[a-z0-9*])?)$/.test(label))) {
    throw new PatternError("a DNS pattern is labels of letters, digits, '-' and '*' (e.g. *.svc.example.com)");
  }
  const source = labels.map((label) => (label === "**" ? "[a-z0-9-]+(?:\\.[a-z0-9-]+)*" : globRegex(label, "[a-z0-9-]*", "").source.slice(1, -1))).join("\\.");
  return { kind: "dns", text, regex: new RegExp(`^${source}$`) };
}

function attributeName(prefix: string): string {
  try {
    return attribute(prefix, "x").name;
  } catch {
    throw new PatternError(`unknown kind '${prefix}:' (dns:, ip:, email:, or a subject attribute such as cn:, uid:, o:)`);
  }
}

/** A glob where `*` stands for `star`; everything else literal. */
function globRegex(glob: string, star: string, flags: string): RegExp {
  const source = glob
    .split("*")
    .map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))
    .join(`(?:${star})`);
  return new RegExp(`^${source}$`, flags);
}

/** Every pattern of a policy, read once; `option` names them in a refusal (`--allow`, or a template's `allow`). */
export function compilePatterns(allow: string[], option = "--allow"): Pattern[] {
  return allow.map((text) => parsePattern(text, option));
}

/**
 * Throws PolicyRefusal when the request asks for more than the policy
 * allows. With patterns, every name must match one: each subjectAltName a
 * DNS or IP pattern, each subject attribute a pattern for that attribute
 * (the CN may instead match a DNS or IP pattern when it is a host name).
 */
export function checkPolicy(tokenName: string, policy: TokenPolicy, request: PolicyRequest, patterns = compilePatterns(policy.allow)): void {
  const refuse = (what: string): never => {
    throw new PolicyRefusal(`token '${tokenName}' does not allow ${what}`);
  };
  if (policy.type && request.profile !== policy.type) refuse(`${request.profile} certificates (only ${policy.type})`);
  const template = request.template ?? request.profile;
  if (policy.templates && !policy.templates.includes(template)) refuse(`template '${template}' (only ${policy.templates.join(", ")})`);
  if (policy.keyTypes && !policy.keyTypes.includes(request.keyType)) refuse(`key type ${request.keyType} (only ${policy.keyTypes.join(", ")})`);
  if (policy.maxDays !== undefined && request.days > policy.maxDays) refuse(`${request.days} days (at most ${policy.maxDays})`);
  checkNames(`token '${tokenName}'`, policy.allow, patterns, request);
}

/**
 * Throws PolicyRefusal (`WHO does not allow ...`) unless every name of the
 * request matches one of `patterns` (read from `allow`): a token's policy,
 * or a template's name rules (templates.ts). No patterns allow any name.
 */
export function checkNames(who: string, allow: string[], patterns: Pattern[], request: Pick<PolicyRequest, "subject" | "names">): void {
  if (patterns.length === 0) return;
  const refuse = (what: string): never => {
    throw new PolicyRefusal(`${who} does not allow ${what} (allowed: ${allow.join(", ")})`);
  };
  for (const name of request.names) {
    if (!patterns.some((p) => matchesName(p, name))) refuse(`the ${name.type === "dns" ? "DNS name" : "IP address"} ${name.value}`);
  }
  for (const { name, value } of request.subject) {
    const byAttribute = patterns.some((p) => p.kind === "attribute" && p.attribute === name && p.regex.test(value));
    if (byAttribute || (name === "CN" && matchesHostName(patterns, value))) continue;
    refuse(`${name}=${value}`);
  }
}

function matchesHostName(patterns: Pattern[], value: string): boolean {
  let asName: SubjectAltName;
  try {
    asName = parseSubjectAltName(value);
  } catch {
    return false;
  }
  return patterns.some((p) => matchesName(p, asName));
}

function matchesName(pattern: Pattern, name: SubjectAltName): boolean {
  if (pattern.kind === "dns") return name.type === "dns" && pattern.regex.test(name.value.toLowerCase());
  if (pattern.kind === "ip") return name.type === "ip" && inRange(ipBytes(name.value), pattern.bytes, pattern.bits);
  return false;
}

function inRange(address: Uint8Array, network: Uint8Array, bits: number): boolean {
  if (address.length !== network.length) return false;
  for (let bit = 0; bit < bits; bit++) {
    const mask = 0x80 >> bit % 8;
    if ((address[bit >> 3]! & mask) !== (network[bit >> 3]! & mask)) return false;
  }
  return true;
}
