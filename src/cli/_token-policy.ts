/**
 * @module
 * The options that say what a credential may ask for, shared by
 * `depot token create` and `depot scep challenge create`: `--allow`,
 * `--type`, `--template`, `--key-type`, `--max-days`, read into a `TokenPolicy`.
 */
import { parseDays } from "../ca/depot.ts";
import { parseKeyType } from "../ca/key-types.ts";
import type { Depot } from "../ca/depot.ts";
import type { TokenPolicy } from "../ca/token-policy.ts";
import { DepotError } from "../errors.ts";
import { allValues, lastOf } from "./_strict.ts";

export const policyArgs = {
  allow: { type: "string", description: "A name it may issue for (repeatable): *.svc.example.com, 10.0.0.0/8, cn:PATTERN, email:*@example.com" },
  type: { type: "string", description: "Only this profile: client or server" },
  template: { type: "string", description: "Only this template of depot.cnf (repeatable; the first is a request's default; depot template list shows them)" },
  "key-type": { type: "string", description: "Only this key type (repeatable)" },
  "max-days": { type: "string", description: "Longest validity in days" },
} as const;

/** The options of `policyArgs` that may be given more than once. */
export const POLICY_REPEATABLE = ["allow", "key-type", "template"];

/** The policy the options ask for (not admin: the caller adds what only it offers). */
export function policyOf(rawArgs: string[], parsed: Record<string, unknown>): TokenPolicy {
  const type = lastOf(parsed.type);
  if (type !== undefined && type !== "client" && type !== "server") throw new DepotError("E_BAD_ARGUMENT", `unknown --type '${type}' (client or server)`);
  const keyTypes = allValues(rawArgs, "key-type").map(parseKeyType);
  const maxDays = lastOf(parsed["max-days"]);
  const templates = [...new Set(allValues(rawArgs, "template"))];
  return {
    admin: false,
    allow: allValues(rawArgs, "allow"),
    ...(type ? { type } : {}),
    ...(keyTypes.length ? { keyTypes: [...new Set(keyTypes)] } : {}),
    ...(maxDays ? { maxDays: parseDays(maxDays) } : {}),
    ...(templates.length ? { templates } : {}),
  };
}

/** A template the depot lacks, or one of another base than --type, would refuse every request: refused at creation instead. */
export function checkTemplatesOf(depot: Depot, policy: TokenPolicy): void {
  for (const template of (policy.templates ?? []).map((name) => depot.templates.get(name))) {
    if (policy.type && template.base !== policy.type) throw new DepotError("E_BAD_ARGUMENT", `--template ${template.name} makes ${template.base} certificates, but --type is ${policy.type}`);
  }
}
