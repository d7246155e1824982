/**
 * @module
 * Debian packages a bench needs (step-ca's Go sources, lego, ...), installed
 * when missing: we run as root, and a missing program is never a reason to
 * skip. It says what it installs (on stderr); if apt-get fails, the bench
 * fails with apt-get's words.
 */

/** Whether dpkg has `pkg` installed (a package without a program on PATH, such as a -dev one, too). */
export function debianPackageInstalled(pkg: string): boolean {
  const status = Bun.spawnSync(["dpkg-query", "-W", "-f", "${Status}", pkg], { stdout: "pipe", stderr: "ignore" });
  return status.exitCode === 0 && status.stdout.toString().includes("install ok installed");
}

/** Installs the missing ones of `packages` (apt-get update first), saying which and why; throws with the reason if that fails. */
export function ensureDebianPackages(packages: string[], why: string): void {
  const missing = packages.filter((pkg) => !debianPackageInstalled(pkg));
  if (missing.length === 0) return;
  const started = performance.now();
  console.error(`bench set-up: installing Debian package(s) ${missing.join(", ")} (${why})`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  const run = (args: string[]) => {
    // dpkg's lock may be held by another engineer's install: apt-get waits for it.
    const result = Bun.spawnSync(["apt-get", "-o", "DPkg::Lock::Timeout=600", ...args], { env, stdout: "pipe", stderr: "pipe" });
    if (result.exitCode !== 0) {
      throw new Error(`apt-get ${args.join(" ")} failed: ${(result.stderr.toString() || result.stdout.toString()).slice(-2000)}`);
    }
  };
  run(["update", "-q"]);
  run(["install", "-y", "-q", "--no-install-recommends", ...missing]);
  const still = missing.filter((pkg) => !debianPackageInstalled(pkg));
  if (still.length > 0) throw new Error(`apt-get installed nothing for ${still.join(", ")}`);
  console.error(`bench set-up: installed ${missing.join(", ")} in ${((performance.now() - started) / 1000).toFixed(0)} s`);
}
