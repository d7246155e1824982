/**
 * Compiles depot into one executable.
 *
 *   bun build.ts                      dist/depot, for this machine (what the tests run)
 *   bun build.ts --release            dist/release/depot-VERSION-TARGET for every target
 *                                     in RELEASE_TARGETS, plus dist/release/SHA256SUMS
 *   bun build.ts --release linux-x64  only the targets named
 *   bun build.ts --release --out DIR  into DIR instead of dist/release
 *
 * Cross-compiling needs Bun's runtime for each target: Bun downloads it from
 * the npm registry (@oven/bun-<target>) on first use and keeps it in
 * ~/.bun/install/cache, so later release builds work offline.
 *
 * The binary must not pick up a .env or bunfig.toml from whatever folder the
 * user runs it in, so config auto-loading is off. The source map is embedded
 * in the executable (stack traces under DEPOT_DEBUG=1 name src/ files and
 * lines without any file beside the binary), so the .map file Bun also
 * writes is removed rather than shipped.
 */
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { basename } from "node:path";
import packageJson from "./package.json" with { type: "json" };

/** What `npm run release` builds, as Bun names the targets without the `bun-` prefix. */
export const RELEASE_TARGETS = ["linux-x64", "linux-arm64", "linux-x64-musl", "darwin-x64", "darwin-arm64"] as const;
export type ReleaseTarget = (typeof RELEASE_TARGETS)[number];

export const RELEASE_DIR = "dist/release";

export function releaseFileName(target: string, version = packageJson.version): string {
  return `depot-${version}-${target}`;
}

/** The commit the build comes from: short hash, `-dirty` when the tree has changes, `unknown` outside git. */
export function buildCommit(cwd = import.meta.dir): string {
  const git = (args: string[]) => {
    try {
      const result = Bun.spawnSync(["git", ...args], { cwd, stdin: "ignore", stdout: "pipe", stderr: "ignore" });
      return result.exitCode === 0 ? result.stdout.toString().trim() : undefined;
    } catch {
      return undefined; // no git installed
    }
  };
  const commit = git(["rev-parse", "--short=12", "HEAD"]);
  if (!commit) return "unknown";
  return git(["status", "--porcelain", "--untracked-files=no"]) ? `${commit}-dirty` : commit;
}

async function compile(outfile: string, target: string | undefined, commit: string): Promise<void> {
  let result: Bun.BuildOutput;
  try {
    result = await Bun.build({
      entrypoints: ["src/main.ts"],
      compile: {
        outfile,
        ...(target ? { target: `bun-${target}` as Bun.Build.CompileTarget } : {}),
        autoloadDotenv: false,
        autoloadBunfig: false,
      },
      minify: true,
      // Each lazily imported module becomes its own chunk inside the binary, so
      // a process parses only what it runs: the supervisor and --version do not
      // parse the CA library (the supervisor's peak memory: 51 MB -> 48 MB).
      splitting: true,
      bytecode: true,
      format: "esm",
      sourcemap: "linked",
      define: {
        DEPOT_VERSION: JSON.stringify(packageJson.version),
        DEPOT_COMMIT: JSON.stringify(commit),
      },
    });
  } catch (error) {
    // Bun could not get the target's runtime (offline, and not yet in its cache).
    const causes = (error as AggregateError).errors ?? [];
    console.error(`cannot build ${outfile}: ${[error, ...causes].map((e) => (e as Error).message ?? e).join(": ")}`);
    if (target) console.error(`Bun downloads the ${target} runtime once from ${registryUrl(target)} and keeps it in ~/.bun/install/cache`);
    process.exit(1);
  }
  if (!result.success) {
    for (const log of result.logs) console.error(log);
    process.exit(1);
  }
  // Embedded in the binary already (see above); with splitting, one per chunk.
  for (const output of result.outputs) if (output.path.endsWith(".map")) rmSync(output.path, { force: true });
}

/** Where Bun fetches a target's runtime from (Bun's own name: aarch64, not arm64). */
function registryUrl(target: string): string {
  const name = `bun-${target.replace("arm64", "aarch64")}`;
  return `https://registry.npmjs.org/@oven/${name}/-/${name}-${Bun.version}.tgz`;
}

async function release(targets: string[], commit: string, dir: string): Promise<void> {
  const unknown = targets.filter((t) => !(RELEASE_TARGETS as readonly string[]).includes(t));
  if (unknown.length) {
    console.error(`unknown target(s): ${unknown.join(", ")} (targets: ${RELEASE_TARGETS.join(", ")})`);
    process.exit(1);
  }
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const sums: string[] = [];
  for (const target of targets) {
    const started = performance.now();
    const outfile = `${dir}/${releaseFileName(target)}`;
    await compile(outfile, target, commit);
    const digest = createHash("sha256").update(readFileSync(outfile)).digest("hex");
    // The format `sha256sum -c` and `shasum -a 256 -c` read.
    sums.push(`${digest}  ${basename(outfile)}\n`);
    const megabytes = (statSync(outfile).size / 1e6).toFixed(1);
    console.log(`built ${outfile} (${megabytes} MB, ${((performance.now() - started) / 1000).toFixed(1)} s)`);
  }
  writeFileSync(`${dir}/SHA256SUMS`, sums.join(""));
  console.log(`wrote ${dir}/SHA256SUMS (depot ${packageJson.version}, commit ${commit})`);
}

if (import.meta.main) {
  const args = process.argv.slice(2);
  const commit = buildCommit();
  if (args[0] === "--release") {
    const outAt = args.indexOf("--out");
    const dir = outAt > 0 ? args[outAt + 1] : RELEASE_DIR;
    if (!dir) {
      console.error("--out needs a folder");
      process.exit(1);
    }
    const targets = args.slice(1).filter((_, i) => outAt < 0 || (i + 1 !== outAt && i + 1 !== outAt + 1));
    await release(targets.length ? targets : [...RELEASE_TARGETS], commit, dir);
  } else {
    await compile("dist/depot", undefined, commit);
    console.log(`built dist/depot (depot ${packageJson.version}, commit ${commit})`);
  }
}
