// A server's worker and upkeep processes do not load @peculiar/x509 and its
// ASN.1 schemas (about 6 MB each, measured in the compiled binary) unless a
// feature that needs them is used: this walks their static imports, so a
// new `import` that would pull the library back in fails here, naming the path.
import { expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const SRC = join(import.meta.dir, "..", "src");

/** The chains of static imports from `entry` that reach a package matching `heavy` (dynamic `import()` and `import type` are not followed). */
function heavyImports(entry: string, heavy: RegExp): string[] {
  const start = resolve(SRC, entry);
  const parent = new Map<string, string>();
  const seen = new Set([start]);
  const queue = [start];
  const found: string[] = [];
  const chainOf = (file: string) => {
    const chain = [file];
    for (let at = parent.get(file); at; at = parent.get(at)) chain.push(at);
    return chain.reverse().map((f) => relative(SRC, f));
  };
  while (queue.length > 0) {
    const file = queue.shift()!;
    const text = readFileSync(file, "utf8");
    for (const match of text.matchAll(/^(?:import|export)\s+(?!type\b)[^;]*?from\s+"([^"]+)"|^import\s+"([^"]+)"/gm)) {
      const specifier = match[1] ?? match[2]!;
      if (!specifier.startsWith(".")) {
        if (heavy.test(specifier)) found.push([...chainOf(file), specifier].join(" -> "));
        continue;
      }
      const target = resolve(dirname(file), specifier);
      if (!existsSync(target) || seen.has(target)) continue;
      seen.add(target);
      parent.set(target, file);
      queue.push(target);
    }
  }
  return found;
}

const PECULIAR = /^@peculiar\/|^reflect-metadata$|^tsyringe$/;

test("a worker's static imports (line protocol, plain HTTP metrics) stay clear of @peculiar/*", () => {
  expect(heavyImports("server/worker.ts", PECULIAR)).toEqual([]);
});

test("the HTTPS listener's static imports (the API, reading CSRs) stay clear of @peculiar/* and jose (ACME and PKCS#12 load on demand)", () => {
  expect(heavyImports("server/listeners/https.ts", /^@peculiar\/|^reflect-metadata$|^tsyringe$|^jose$/)).toEqual([]);
});

test("the upkeep process's static imports stay clear of @peculiar/*", () => {
  expect(heavyImports("server/upkeep-process.ts", PECULIAR)).toEqual([]);
});

test("the walker finds such a path where there is one (the CLI's init)", () => {
  expect(heavyImports("ca/create.ts", PECULIAR).some((chain) => chain.includes("@peculiar/x509"))).toBe(true);
});
