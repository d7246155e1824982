/**
 * @module
 * The options that say what a credential may ask for, shared by
 * `depot token create` and `depot scep challenge create`: `--allow`,
 * `--type`, `--key-type`, `--max-days`, read into a `TokenPolicy`.
 */
import { parseDays } from "../ca/depot.ts";
import { parseKeyType } from "../ca/key-types.ts";
import type { TokenPolicy } from "../ca/token-policy.ts";
import { DepotError } from "../errors.ts";
import { allValues, lastOf } from "./_strict.ts";

export const policyArgs = {
  allow: { type: "string", description: "A name it may issue for (repeatable): *.svc.example.com, 10.0.0.0/8, cn:PATTERN, email:*@example.com" },
  type: { type: "string", description: "Only this profile: client or server" },
  "key-type": { type: "string", description: "Only this key type (repeatable)" },
  "max-days": { type: "string", description: "Longest validity in days" },
} as const;

/** The options of `policyArgs` that may be given more than once. */
export const POLICY_REPEATABLE = ["allow", "key-type"];

/** The policy the options ask for (not admin: the caller adds what only it offers). */
export function policyOf(rawArgs: string[], parsed: Record<string, unknown>): TokenPolicy {
  const type = lastOf(parsed.type);
  if (type !== undefined && type !== "client" && type !== "server") throw new DepotError("E_BAD_ARGUMENT", `unknown --type '${type}' (client or server)`);
  const keyTypes = allValues(rawArgs, "key-type").map(parseKeyType);
  const maxDays = lastOf(parsed["max-days"]);
  return {
    admin: false,
    allow: allValues(rawArgs, "allow"),
    ...(type ? { type } : {}),
    ...(keyTypes.length ? { keyTypes: [...new Set(keyTypes)] } : {}),
    ...(maxDays ? { maxDays: parseDays(maxDays) } : {}),
  };
}
