import type { ArgsDef } from "citty";
import { DepotError } from "../errors.ts";

const kebab = (name: string) => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/**
 * citty accepts any flag; depot does not. A mistyped `--proces-count 4`
 * silently starting a server with defaults is worse than an error.
 * `extraPositionals` says whether words beyond the declared positionals are
 * welcome (init's label words are).
 */
export function rejectUnknownArgs(rawArgs: string[], argsDef: ArgsDef, extraPositionals = false): void {
  const known = new Map<string, "boolean" | "value">();
  let positionals = 0;
  for (const [name, def] of Object.entries(argsDef)) {
    if (def.type === "positional") {
      positionals++;
      continue;
    }
    const kind = def.type === "boolean" ? "boolean" : "value";
    for (const spelling of [name, kebab(name), ...[(def as { alias?: string | string[] }).alias ?? []].flat()]) known.set(spelling, kind);
  }
  known.set("help", "boolean").set("h", "boolean");

  const seen: string[] = [];
  for (let i = 0; i < rawArgs.length; i++) {
    const arg = rawArgs[i]!;
    if (arg === "--") {
      seen.push(...rawArgs.slice(i + 1));
      break;
    }
    if (!arg.startsWith("-") || arg === "-") {
      seen.push(arg);
      continue;
    }
    const [flag = "", inlineValue] = arg.replace(/^--?/, "").split(/=(.*)/s);
    const name = known.has(flag) ? flag : flag.replace(/^no-/, "");
    const kind = known.get(name);
    if (!kind || (name !== flag && kind !== "boolean")) {
      throw new DepotError("E_BAD_ARGUMENT", `unknown option ${arg.split("=")[0]}`);
    }
    if (kind === "value" && inlineValue === undefined) {
      const value = rawArgs[i + 1];
      if (value === undefined || (value.startsWith("-") && value !== "-")) {
        throw new DepotError("E_BAD_ARGUMENT", `option ${arg} needs a value`);
      }
      i++;
    }
  }
  if (!extraPositionals && seen.length > positionals) {
    throw new DepotError("E_BAD_ARGUMENT", `unexpected argument '${seen[positionals]}'`);
  }
}

/**
 * Every value of a repeatable option (`--san a --san b`, `--san=c`), read
 * from the raw arguments: citty keeps only the last one.
 */
export function allValues(rawArgs: string[], name: string): string[] {
  const values: string[] = [];
  for (let i = 0; i < rawArgs.length; i++) {
    const arg = rawArgs[i]!;
    if (arg === "--") break;
    if (arg === `--${name}` && i + 1 < rawArgs.length) values.push(rawArgs[++i]!);
    else if (arg.startsWith(`--${name}=`)) values.push(arg.slice(name.length + 3));
  }
  return values;
}

/** A string option as a list, however citty handed it over. */
export function listOf(value: unknown): string[] {
  if (value === undefined || value === null || value === false) return [];
  return (Array.isArray(value) ? value : [value]).map(String);
}

/** The last value of a string option given once or more. */
export function lastOf(value: unknown): string | undefined {
  return listOf(value).at(-1);
}
