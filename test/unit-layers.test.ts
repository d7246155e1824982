/**
 * src/ drawn by its imports points one way (docs/architecture.md, "Layers"):
 * each import goes to a lower layer or stays in its own folder, and no
 * file reaches itself through its imports (type-only imports count too:
 * they are arrows in the drawing). Each rule fails on a planted import.
 */
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { ROOT } from "./helpers.ts";

const SRC = join(ROOT, "src");

/** Lowest first. Files at the top of src/ other than the entries are shared utilities at the bottom. */
const LAYERS: [string, number][] = [
  ["(utility)", 0],
  ["ca", 1],
  ["ocsp", 2],
  ["acme", 2],
  ["line", 2],
  ["renew", 2], // the renewal client `depot renew` runs
  ["http", 3], // the plain-HTTP face serves OCSP
  ["store", 4], // backends: above every face, so no face reaches a backend
  ["server", 5],
  ["cli", 6],
  ["(entry)", 7], // main.ts (the executable), index.ts (the library)
];
const RANK = new Map(LAYERS);

function layerOf(file: string): string {
  const path = relative(SRC, file).split("/");
  if (path.length === 1) return path[0] === "main.ts" || path[0] === "index.ts" ? "(entry)" : "(utility)";
  return path[0]!;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? sourceFiles(path) : path.endsWith(".ts") ? [path] : [];
  });
}

/** Every relative import of every file under src/ (static, dynamic and type-only), resolved to a file. */
function importGraph(extra: [string, string][] = []): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sourceFiles(SRC)) {
    const text = readFileSync(file, "utf8");
    const targets = [...text.matchAll(/(?:from|import)\s*\(?\s*["'](\.{1,2}\/[^"']+)["']/g)].map((m) => resolve(dirname(file), m[1]!)).filter((t) => t.startsWith(SRC) && t.endsWith(".ts"));
    graph.set(file, targets);
  }
  for (const [from, to] of extra) graph.get(join(SRC, from))!.push(join(SRC, to));
  return graph;
}

function upwardImports(graph: Map<string, string[]>): string[] {
  const wrong: string[] = [];
  for (const [file, targets] of graph) {
    const from = layerOf(file);
    for (const target of targets) {
      const to = layerOf(target);
      if (to === from) continue; // within a folder (or among the utilities): the cycle check covers it
      if (!(RANK.get(to)! < RANK.get(from)!)) wrong.push(`${relative(SRC, file)} -> ${relative(SRC, target)} (${from} may not import ${to})`);
    }
  }
  return wrong;
}

function cycles(graph: Map<string, string[]>): string[] {
  const found: string[] = [];
  const state = new Map<string, "open" | "done">();
  const stack: string[] = [];
  const visit = (file: string) => {
    state.set(file, "open");
    stack.push(file);
    for (const target of graph.get(file) ?? []) {
      if (!graph.has(target)) continue;
      if (state.get(target) === "open") found.push([...stack.slice(stack.indexOf(target)), target].map((f) => relative(SRC, f)).join(" -> "));
      else if (!state.has(target)) visit(target);
    }
    stack.pop();
    state.set(file, "done");
  };
  for (const file of graph.keys()) if (!state.has(file)) visit(file);
  return found;
}

describe("layers", () => {
  test("every folder of src/ has a layer", () => {
    const folders = readdirSync(SRC).filter((name) => statSync(join(SRC, name)).isDirectory());
    expect(folders.filter((name) => !RANK.has(name))).toEqual([]);
  });

  test("every import points down: no face imports the server, the CLI or a backend; the CA library imports no face", () => {
    expect(upwardImports(importGraph())).toEqual([]);
  });

  test("no file reaches itself through its imports", () => {
    expect(cycles(importGraph())).toEqual([]);
  });

  test("the checks see a planted upward import and a planted cycle", () => {
    expect(upwardImports(importGraph([["ca/depot.ts", "http/api/index.ts"]]))).toContain("ca/depot.ts -> http/api/index.ts (ca may not import http)");
    expect(upwardImports(importGraph([["acme/options.ts", "cli/_strict.ts"]]))).toContain("acme/options.ts -> cli/_strict.ts (acme may not import cli)");
    expect(upwardImports(importGraph([["http/api/index.ts", "store/open-ledger.ts"]]))).toContain("http/api/index.ts -> store/open-ledger.ts (http may not import store)");
    expect(cycles(importGraph([["errors.ts", "public-error.ts"]])).length).toBeGreaterThan(0);
  });
});
