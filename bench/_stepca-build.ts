/**
 * @module
 * step-ca 0.19.0 for bench/stepca.ts, built on this machine from Debian's
 * packaged Go sources: `golang-go` (Go 1.19) and
 * `golang-github-smallstep-certificates-dev` (which installs smallstep's code
 * and its dependencies under /usr/share/gocode), no module proxy. Our
 * bench/stepca/main.go is the entry point (Debian ships no cmd/step-ca).
 *
 * The binary goes to ~/.cache/depot-bench/step-ca (DEPOT_BENCH_CACHE moves
 * the folder) and is reused while it is newer than main.go; a build takes
 * about a minute on 2 cores. If the packages cannot be installed or the
 * build fails, this throws with the reason: the bench never skips step-ca.
 */
import { copyFileSync, existsSync, mkdirSync, statSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { ensureDebianPackages } from "./_debian-packages.ts";

const MAIN_GO = join(import.meta.dir, "stepca", "main.go");
/** Where Debian's golang-*-dev packages put their sources (a GOPATH entry). */
const DEBIAN_GOPATH = "/usr/share/gocode";

export function benchCacheFolder(): string {
  return process.env.DEPOT_BENCH_CACHE ?? join(homedir(), ".cache", "depot-bench");
}

/** The path of a working step-ca binary, built first if there is none newer than main.go. */
export function ensureStepCa(): string {
  const cache = benchCacheFolder();
  const binary = join(cache, "step-ca");
  if (existsSync(binary) && statSync(binary).mtimeMs > statSync(MAIN_GO).mtimeMs && versionOf(binary)) return binary;
  ensureDebianPackages(["golang-go", "golang-github-smallstep-certificates-dev"], "to build step-ca 0.19.0 for the step-ca bench");
  // GOPATH mode: the package is `stepca` in a GOPATH of our own, its imports resolve in Debian's.
  const gopath = join(cache, "gopath");
  const source = join(gopath, "src", "stepca");
  mkdirSync(source, { recursive: true });
  copyFileSync(MAIN_GO, join(source, "main.go"));
  console.error(`bench set-up: building step-ca from ${DEBIAN_GOPATH} into ${binary} (about a minute)`);
  const started = performance.now();
  const build = Bun.spawnSync(["go", "build", "-o", binary, "."], {
    cwd: source,
    env: {
      ...process.env,
      GO111MODULE: "off",
      GOPATH: `${gopath}:${DEBIAN_GOPATH}`,
      GOCACHE: join(cache, "gocache"),
      GOFLAGS: "",
      GOPROXY: "off",
    },
    stdout: "pipe",
    stderr: "pipe",
  });
  if (build.exitCode !== 0) throw new Error(`building step-ca failed (go build in ${source}): ${build.stderr.toString().slice(-3000)}`);
  const version = versionOf(binary);
  if (!version) throw new Error(`the step-ca just built (${binary}) does not run`);
  console.error(`bench set-up: built ${version} in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  return binary;
}

/** `step-ca --version`'s first line, or undefined when it does not run. */
export function versionOf(binary: string): string | undefined {
  try {
    const run = Bun.spawnSync([binary, "--version"], { stdout: "pipe", stderr: "pipe" });
    return run.exitCode === 0 ? run.stdout.toString().split("\n")[0]!.trim() : undefined;
  } catch {
    return undefined; // no such file, or not executable
  }
}
