import type { ArgsDef } from "citty";
import { DepotError } from "../errors.ts";
import { nearest } from "./_help.ts";

const kebab = (name: string) => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

/**
 * citty accepts any flag, and keeps the last of a repeated one; depot does
 * not. A mistyped `--proces-count 4` silently starting a server with
 * defaults, or `--cn Bob --cn Alice` silently issuing CN=Alice, is worse than
 * an error. `extraPositionals` says whether words beyond the declared
 * positionals are welcome (init's label words are); `repeatable` names the
 * options that may be given more than once (`--san`).
 *
 * Returns what it walked: the values as citty would give them, keyed by
 * the definition's names (every value option's values in order; booleans,
 * `--no-x` false; positionals in order), for `depot start`, which parses
 * without citty.
 */
export function rejectUnknownArgs(rawArgs: string[], argsDef: ArgsDef, extraPositionals = false, repeatable: string[] = []): Record<string, unknown> {
  const known = new Map<string, "boolean" | "value">();
  /** Each spelling's option name, to catch `--type a -t b`. */
  const canonical = new Map<string, string>();
  /** Each spelling's name in the definition, to key the values. */
  const defined = new Map<string, string>();
  const given = new Map<string, string[]>();
  const values: Record<string, unknown> = {};
  const positionalNames: string[] = [];
  for (const [name, def] of Object.entries(argsDef)) {
    if (def.type === "positional") {
      positionalNames.push(name);
      continue;
    }
    const kind = def.type === "boolean" ? "boolean" : "value";
    for (const spelling of [name, kebab(name), ...[(def as { alias?: string | string[] }).alias ?? []].flat()]) {
      known.set(spelling, kind);
      canonical.set(spelling, kebab(name));
      defined.set(spelling, name);
    }
  }
  const positionals = positionalNames.length;
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
      const guess = nearest(flag, [...known.keys()].filter((k) => k.length > 1));
      throw new DepotError("E_BAD_ARGUMENT", `unknown option ${arg.split("=")[0]}${guess ? `; did you mean --${guess}?` : ""}`);
    }
    if (kind === "boolean" && defined.has(name)) values[defined.get(name)!] = name === flag;
    if (kind === "value") {
      let value = inlineValue;
      if (value === undefined) {
        value = rawArgs[i + 1];
        // A negative number is a value (`--days -5`), to be refused for what it is.
        if (value === undefined || (value.startsWith("-") && value !== "-" && !/^-\d/.test(value))) {
          throw new DepotError("E_BAD_ARGUMENT", `option ${arg} needs a value`);
        }
        i++;
      }
      const option = canonical.get(name)!;
      const optionValues = [...(given.get(option) ?? []), value];
      given.set(option, optionValues);
      if (optionValues.length > 1 && !repeatable.includes(option)) {
        throw new DepotError("E_BAD_ARGUMENT", `--${option} is given ${optionValues.length} times (${optionValues.map((v) => `'${v}'`).join(", ")}): give it once`);
      }
      const key = defined.get(name)!;
      values[key] = [...((values[key] as string[] | undefined) ?? []), value];
    }
  }
  if (!extraPositionals && seen.length > positionals) {
    throw new DepotError("E_BAD_ARGUMENT", `unexpected argument '${seen[positionals]}'`);
  }
  positionalNames.forEach((name, i) => (values[name] = seen[i]));
  return values;
}

export { allValues } from "../args.ts";

/** A string option as a list, however citty handed it over. */
export function listOf(value: unknown): string[] {
  if (value === undefined || value === null || value === false) return [];
  return (Array.isArray(value) ? value : [value]).map(String);
}

/** The last value of a string option given once or more. */
export function lastOf(value: unknown): string | undefined {
  return listOf(value).at(-1);
}
