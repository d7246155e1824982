/**
 * The README's examples, run as printed, so the guide cannot drift from the
 * program.
 *
 * The scheme (keep it this simple):
 * - Every code block in README.md is fenced. An indented code block fails
 *   this test: fence it, so the test sees it.
 * - ```sh blocks run in order, each as one `bash -euo pipefail` script, in a
 *   temporary HOME that is also the working folder, with dist/ first on
 *   PATH (as the set-up's `export PATH` does). Two substitutions: the port
 *   35553 becomes a free port, and a `depot start` without `--port` gets
 *   that port too.
 * - ```console blocks: each `$ command` runs the same way, and the lines
 *   after it, up to the next `$`, are its exact standard output.
 * - ```ts blocks run with Bun from the repository's root (so
 *   `./src/index.ts` resolves), `/tmp/example-ca` moved into a temp folder.
 * - ```text blocks are data (a file listing) and are not run.
 * - A block preceded by `<!-- not run: reason -->` is not run (a foreground
 *   server, a download, a change to the machine's trust store). It is
 *   checked another way: each `depot ...` line's command must exist and
 *   each of its `--options` must be in that command's help; each
 *   `npm run X` / `npm test` must name a script in package.json.
 * After the blocks, no file in the temporary HOME that holds a private key
 * may be readable by group or others.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { BUN, DEPOT_BIN, ROOT, run, tempDir } from "./helpers.ts";
import { freePort } from "./server-helpers.ts";
import { ensureTool } from "./tools.ts";

interface Block {
  language: string;
  code: string;
  /** Line number of the opening fence, for messages. */
  line: number;
  notRun?: string;
}

/** The README's fenced code blocks; throws on an indented one. */
export function readmeBlocks(markdown: string): Block[] {
  const lines = markdown.split("\n");
  const blocks: Block[] = [];
  for (let i = 0; i < lines.length; i++) {
    const fence = /^```(\S*)\s*$/.exec(lines[i]!);
    if (fence) {
      const start = i;
      const body: string[] = [];
      while (++i < lines.length && !/^```\s*$/.test(lines[i]!)) body.push(lines[i]!);
      let previous = start - 1;
      while (previous >= 0 && lines[previous]!.trim() === "") previous--;
      const marker = /^<!-- not run: (.+?) -->$/.exec(lines[previous]?.trim() ?? "");
      blocks.push({ language: fence[1] ?? "", code: body.join("\n"), line: start + 1, ...(marker ? { notRun: marker[1]! } : {}) });
    } else if (/^ {4}\S/.test(lines[i]!) && (i === 0 || lines[i - 1]!.trim() === "")) {
      throw new Error(`README.md line ${i + 1} is an indented code block: fence it (\`\`\`sh, \`\`\`text, ...) so test/readme.test.ts runs or checks it`);
    }
  }
  return blocks;
}

const README = readFileSync(join(ROOT, "README.md"), "utf8");
let home: string;
let port: number;


/** The substitutions the scheme allows: the port, and the port for a `depot start` that names none. */
function substitute(code: string): string {
  return code
    .replaceAll("35553", String(port))
    .replace(/^(\s*depot start\b)(?![^\n#]*--port)/gm, `$1 --port ${port}`);
}

function bash(script: string) {
  return run(["bash", "-euo", "pipefail", "-c", substitute(script)], {
    cwd: home,
    env: { HOME: home, PATH: `${dirname(DEPOT_BIN)}:${process.env.PATH}`, DEPOT_PATH: "" },
  });
}

beforeAll(async () => {
  ensureTool("nc", "netcat-openbsd");
  home = tempDir("depot-readme-");
  port = freePort();
});

afterAll(() => {
  // A server a failed block left running.
  run([DEPOT_BIN, "stop"], { env: { HOME: home } });
});

describe("README.md", () => {
  const blocks = readmeBlocks(README);

  test("has runnable blocks and gives every skipped block a reason", () => {
    expect(blocks.filter((b) => !b.notRun && (b.language === "sh" || b.language === "console")).length).toBeGreaterThanOrEqual(5);
    for (const block of blocks) {
      if (!block.notRun) expect(`line ${block.line}: ${block.language}`).toMatch(/: (sh|console|ts|text)$/);
    }
  });

  test("the blocks run as printed, in order", async () => {
    for (const block of blocks) {
      if (block.notRun) continue;
      const where = `README.md block at line ${block.line}`;
      if (block.language === "sh") {
        const result = bash(block.code);
        expect({ where, exitCode: result.exitCode, stderr: result.stderr }).toEqual({ where, exitCode: 0, stderr: expect.any(String) });
      } else if (block.language === "console") {
        const steps = block.code.split(/^\$ /m).filter(Boolean);
        for (const step of steps) {
          const [command = "", ...expected] = step.replace(/\n$/, "").split("\n");
          const result = bash(command);
          expect({ where, command, exitCode: result.exitCode, stdout: result.stdout, stderr: result.stderr }).toEqual({
            where,
            command,
            exitCode: 0,
            stdout: expected.length ? `${expected.join("\n")}\n` : "",
            stderr: "",
          });
        }
      } else if (block.language === "ts") {
        const folder = tempDir("depot-readme-ts-");
        const file = join(ROOT, `.readme-example-${process.pid}.ts`);
        writeFileSync(file, block.code.replaceAll("/tmp/example-ca", join(folder, "example-ca")));
        try {
          const result = run([BUN, file], { cwd: ROOT });
          expect({ where, exitCode: result.exitCode, stderr: result.stderr }).toEqual({ where, exitCode: 0, stderr: "" });
        } finally {
          rmSync(file, { force: true });
        }
      }
    }
    // The server the blocks started was stopped by them.
    expect(run([DEPOT_BIN, "status"], { env: { HOME: home } }).exitCode).toBe(1);
  }, 300_000);

  test("after the examples, no private key is readable by group or others", () => {
    const exposed: string[] = [];
    const walk = (folder: string) => {
      for (const entry of readdirSync(folder, { withFileTypes: true })) {
        const path = join(folder, entry.name);
        if (entry.isDirectory()) walk(path);
        else if (entry.isFile()) {
          const secret = entry.name.endsWith(".p12") || readFileSync(path).includes("PRIVATE KEY");
          if (secret && (statSync(path).mode & 0o077) !== 0) exposed.push(`${path} ${(statSync(path).mode & 0o777).toString(8)}`);
        }
      }
    };
    walk(home);
    expect(exposed).toEqual([]);
    // And the examples did make keys: bob.pem, www.pem, app.key, carol.pem, carol.p12, bob.p12.
    for (const file of ["bob.pem", "www.pem", "app.key", "carol.pem", "carol.p12", "bob.p12", "app.crt"]) expect(readdirSync(home)).toContain(file);
  });

  test("blocks that are not run name real commands and options, and real npm scripts", () => {
    const scripts = Object.keys(JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).scripts);
    const helpOf = new Map<string, string>();
    const help = (command: string) => {
      if (!helpOf.has(command)) {
        const result = run([DEPOT_BIN, ...command.split(" "), "--help"]);
        expect({ command, exitCode: result.exitCode }).toEqual({ command, exitCode: 0 });
        helpOf.set(command, result.stdout);
      }
      return helpOf.get(command)!;
    };
    let checked = 0;
    for (const block of blocks.filter((b) => b.notRun)) {
      for (const raw of block.code.split("\n")) {
        const line = raw.replace(/\s+#.*$/, "").trim();
        const words = line.replace(/^sudo\s+/, "").replace(/^(\w+=\S*\s+)+/, "").match(/"[^"]*"|'[^']*'|\S+/g) ?? [];
        if (words[0] === "depot" && (words[1] === "--version" || words[1] === "--help")) {
          expect(`${block.line}: ${words.join(" ")}`).toBe(`${block.line}: ${run([DEPOT_BIN, words[1]]).exitCode === 0 ? words.join(" ") : "(fails)"}`);
          checked++;
        } else if (words[0] === "depot") {
          // `depot root export ...`, `depot scep challenge create ...`: the help of the deepest subcommand named.
          let command = words[1] === undefined || words[1].startsWith("-") ? "start" : words[1];
          for (let at = 2; command !== "start" && words[at] !== undefined && /^[a-z]+$/.test(words[at]!) && run([DEPOT_BIN, ...command.split(" "), words[at]!, "--help"]).exitCode === 0; at++) {
            command = `${command} ${words[at]}`;
          }
          const text = help(command);
          for (const word of words.filter((w) => w.startsWith("--"))) {
            expect(`${block.line}: ${word}`).toBe(`${block.line}: ${text.includes(word.split("=")[0]!) ? word : "(not in the help)"}`);
          }
          checked++;
        } else if (words[0] === "npm") {
          const script = words[1] === "run" ? words[2]! : words[1]!;
          if (script !== "ci" && script !== "install") expect(scripts).toContain(script);
          checked++;
        }
      }
      expect(block.notRun).toMatch(/\S{3,}/);
    }
    expect(checked).toBeGreaterThan(4);
  });
});
