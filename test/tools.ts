/**
 * @module
 * Outside programs a test needs (nginx, pk12util, keytool, chromium, ...),
 * installed from Debian when missing. We run as root in CI; a missing tool is
 * installed, never a reason to skip: if the install fails, the test fails
 * with the reason.
 */
import { spawnSync } from "node:child_process";
import { existsSync, rmSync, writeFileSync } from "node:fs";

let updated = false;

function onPath(binary: string): boolean {
  return spawnSync("sh", ["-c", `command -v '${binary}'`], { stdio: "ignore" }).status === 0;
}

/**
 * Installs Debian package `pkg` unless `binary` is already on PATH. Idempotent; quick when present.
 * `startsNoService`: a package that would start a system daemon on install
 * (openssh-server listens on port 22) is installed with invoke-rc.d told no.
 */
export function ensureTool(binary: string, pkg: string, options: { startsNoService?: boolean } = {}): void {
  ensureInstalled(binary, pkg, () => onPath(binary), options);
}

/**
 * Installs Debian package `pkg` unless the program at `path` exists: for a
 * helper off PATH, such as certmonger's /usr/lib/certmonger/scep-submit.
 */
export function ensureProgram(path: string, pkg: string, options: { startsNoService?: boolean } = {}): void {
  ensureInstalled(path, pkg, () => existsSync(path), options);
}

function ensureInstalled(binary: string, pkg: string, present: () => boolean, options: { startsNoService?: boolean }): void {
  if (present()) return;
  const started = Date.now();
  process.stderr.write(`test set-up: installing ${pkg} (for ${binary})\n`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const run = (args: string[]) => {
    // dpkg's lock may be held by a parallel install; apt-get waits for it.
    const result = spawnSync("apt-get", ["-o", "DPkg::Lock::Timeout=600", ...args], { env, encoding: "utf8" });
    if (result.status !== 0) throw new Error(`apt-get ${args.join(" ")} failed: ${(result.stderr || result.stdout || String(result.error)).slice(-2000)}`);
  };
  if (!updated) {
    run(["update", "-q"]);
    updated = true;
  }
  const policy = "/usr/sbin/policy-rc.d";
  const blockServices = options.startsNoService && !existsSync(policy);
  if (blockServices) writeFileSync(policy, "#!/bin/sh\n# depot's test set-up: install without starting services\nexit 101\n", { mode: 0o755 });
  try {
    run(["install", "-y", "-q", "--no-install-recommends", pkg]);
  } finally {
    if (blockServices) rmSync(policy, { force: true });
  }
  if (!present()) throw new Error(`installed ${pkg}, but ${binary} is still missing`);
  process.stderr.write(`test set-up: installed ${pkg} in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
}
