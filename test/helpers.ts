import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const ROOT = resolve(import.meta.dir, "..");
/** The compiled executable, built by `npm test` (bun build.ts) before the tests run. */
export const DEPOT_BIN = join(ROOT, "dist", "depot");
/** The Bun running the tests, for fixtures that run as separate processes. */
export const BUN = process.execPath;

// bun test runs every file in one process, and never fires process.on("exit")
// there: test/cleanup.ts (preloaded by npm test) removes them all at the end.
const made: string[] = [];

/** Removes every folder tempDir made (test/cleanup.ts, once all files have run). */
export function removeTempDirs(): void {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/** A fresh folder under the system temp dir, removed when the test run ends. */
export function tempDir(prefix = "depot-test-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}

export interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export function run(cmd: string[], options: { stdin?: string; env?: Record<string, string>; cwd?: string } = {}): RunResult {
  const result = Bun.spawnSync(cmd, {
    stdin: options.stdin === undefined ? "ignore" : Buffer.from(options.stdin),
    env: { ...process.env, ...options.env },
    ...(options.cwd ? { cwd: options.cwd } : {}),
  });
  return { exitCode: result.exitCode ?? -1, stdout: result.stdout.toString(), stderr: result.stderr.toString() };
}

/** Runs the compiled `depot` as a user would. */
export function depot(args: string[], options: Parameters<typeof run>[1] = {}): RunResult {
  return run([DEPOT_BIN, ...args], options);
}

export function openssl(args: string[], stdin?: string): RunResult {
  return run(["openssl", ...args], stdin === undefined ? {} : { stdin });
}

/** The stdout of a command that must have succeeded; else an error with its status and stderr. */
export function succeeded(result: RunResult): string {
  if (result.exitCode !== 0) throw new Error(`exit ${result.exitCode}: ${result.stderr}`);
  return result.stdout;
}

/** Runs a depot command that must succeed and returns its stdout. */
export function depotOk(args: string[]): string {
  const result = depot(args);
  if (result.exitCode !== 0) throw new Error(`depot ${args.join(" ")} failed (${result.exitCode}): ${result.stderr}`);
  return result.stdout;
}

/** Appends a stream's text to `sink.text` as it arrives. */
export function drain(stream: ReadableStream<Uint8Array>, sink: { text: string }): Promise<void> {
  return (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) sink.text += decoder.decode(chunk, { stream: true });
  })();
}

/** Splits PEM text into its blocks, keeping the BEGIN/END lines. */
export function pemBlocks(text: string): string[] {
  return text.match(/-----BEGIN [A-Z0-9 ]+-----[\s\S]+?-----END [A-Z0-9 ]+-----\n?/g) ?? [];
}
