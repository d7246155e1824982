/**
 * @module
 * Reading raw command-line arguments where citty keeps only one value: shared
 * by the CLI and by the faces that read their own `depot start` flags
 * (ACME's), so no face imports the CLI.
 */

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
