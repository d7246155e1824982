/**
 * `npm run release` makes binaries people can download: it cross-compiles
 * every target (about 5 s here once Bun has the targets' runtimes cached; the
 * first run downloads them from the npm registry), the checksums verify, each
 * file is the right executable format for its platform, and the linux-x64 one
 * works on its own, copied into an empty folder with no node_modules.
 */
import { beforeAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { closeSync, copyFileSync, openSync, readFileSync, readSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { RELEASE_TARGETS, releaseFileName } from "../build.ts";
import { requireServerPlatform } from "../src/cli/_server-platform.ts";
import packageJson from "../package.json" with { type: "json" };
import { BUN, ROOT, run, tempDir } from "./helpers.ts";

const releaseDir = join(tempDir("depot-release-"), "release");
/** The commit being built, read when the build starts (a commit made meanwhile must not fail the test). */
let builtFrom = "";

beforeAll(() => {
  builtFrom = run(["git", "rev-parse", "--short=12", "HEAD"], { cwd: ROOT }).stdout.trim();
  const started = performance.now();
  const built = run([BUN, "build.ts", "--release", "--out", releaseDir], { cwd: ROOT });
  if (built.exitCode !== 0) throw new Error(`npm run release failed (is registry.npmjs.org reachable for Bun's target runtimes?):\n${built.stderr}`);
  console.error(`release build of ${RELEASE_TARGETS.length} targets: ${((performance.now() - started) / 1000).toFixed(1)} s`);
}, 180_000);

describe("npm run release", () => {
  test("writes one binary per target and a SHA256SUMS that sha256sum -c accepts", () => {
    const sums = readFileSync(join(releaseDir, "SHA256SUMS"), "utf8");
    expect(sums.trim().split("\n").map((line) => line.split("  ")[1])).toEqual(RELEASE_TARGETS.map((t) => releaseFileName(t)));
    const check = run(["sha256sum", "-c", "SHA256SUMS"], { cwd: releaseDir });
    expect({ exitCode: check.exitCode, stderr: check.stderr }).toEqual({ exitCode: 0, stderr: "" });
    expect(check.stdout).toBe(RELEASE_TARGETS.map((t) => `${releaseFileName(t)}: OK\n`).join(""));
  }, 60_000);

  test("a tampered binary fails the checksum", () => {
    const dir = tempDir();
    const name = releaseFileName("darwin-arm64");
    const bytes = readFileSync(join(releaseDir, name));
    bytes[bytes.length - 1]! ^= 1;
    writeFileSync(join(dir, name), bytes);
    const line = readFileSync(join(releaseDir, "SHA256SUMS"), "utf8").split("\n").find((l) => l.endsWith(name))!;
    writeFileSync(join(dir, "SHA256SUMS"), `${line}\n`);
    expect(run(["sha256sum", "-c", "SHA256SUMS"], { cwd: dir }).stdout).toBe(`${name}: FAILED\n`);
  }, 60_000);

  test("each binary has its platform's header: ELF for Linux (glibc or musl loader), Mach-O for macOS, and the right CPU", () => {
    const headers = Object.fromEntries(RELEASE_TARGETS.map((target) => [target, describeHeader(headOf(join(releaseDir, releaseFileName(target))))]));
    expect(headers).toEqual({
      "linux-x64": "ELF64 x86-64 glibc",
      "linux-arm64": "ELF64 aarch64 glibc",
      "linux-x64-musl": "ELF64 x86-64 musl",
      "darwin-x64": "Mach-O64 x86-64",
      "darwin-arm64": "Mach-O64 arm64",
    });
  });
});

describe("the linux-x64 binary, run as a user would", () => {
  const home = tempDir("depot-home-");
  const bin = tempDir("depot-bin-");
  const work = tempDir("depot-work-");
  // No node_modules, no source, no Bun: only the binary on PATH.
  const env = { HOME: home, PATH: `${bin}:/usr/bin:/bin`, XDG_DATA_HOME: join(home, ".local/share") };
  const user = (args: string[], extra: Record<string, string> = {}) => run(["depot", ...args], { cwd: work, env: { ...env, ...extra } });

  beforeAll(() => copyFileSync(join(releaseDir, releaseFileName("linux-x64")), join(bin, "depot")));

  test("depot --version names the version and the commit it was built from", () => {
    const result = user(["--version"]);
    expect(builtFrom).toMatch(/^[0-9a-f]{12}$/);
    expect(result.stdout).toMatch(new RegExp(`^depot ${packageJson.version.replaceAll(".", "\\.")} \\(commit ${builtFrom}(-dirty)?\\)\\n$`));
  });

  test("init, generate, and openssl verifies the certificate against ca.crt", () => {
    expect(user(["init", "ca", "Release", "Test"]).exitCode).toBe(0);
    const issued = user(["generate", "ca", "--type", "server", "--cn", "www.example.test", "--out", "www.pem"]);
    expect({ exitCode: issued.exitCode, stderr: issued.stderr }).toEqual({ exitCode: 0, stderr: "" });
    const verify = run(["openssl", "verify", "-CAfile", "ca/certificates/ca.crt", "-verify_hostname", "www.example.test", "www.pem"], { cwd: work });
    expect(verify.stdout).toBe("www.pem: OK\n");
  });

  test("a stack trace under DEPOT_DEBUG resolves to source lines through the embedded source map (no .map file is shipped)", () => {
    expect(run(["ls", releaseDir]).stdout).not.toContain(".map");
    expect(user(["init", "broken"]).exitCode).toBe(0);
    expect(user(["generate", "broken", "--type", "client", "--cn", "x", "--out", "x.pem"]).exitCode).toBe(0);
    const serial = run(["openssl", "x509", "-in", "x.pem", "-noout", "-serial"], { cwd: work }).stdout.trim().replace("serial=", "");
    // A ledger row whose PEM is garbage: a bug's kind of failure, reported as an internal error.
    const db = new Database(join(work, "broken", "ledger.sqlite3"));
    db.run("UPDATE certificates SET pem = 'garbage' WHERE type = 'client'");
    db.close();
    const result = user(["show", "broken", serial], { DEPOT_DEBUG: "1" });
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/at run \(src\/cli\/show\.ts:\d+:\d+\)/);
    expect(result.stderr).toContain("depot: internal error:");
  });
});

describe("on macOS", () => {
  test("depot start says the server needs Linux; Linux passes", () => {
    expect(() => requireServerPlatform("darwin")).toThrow(
      "the depot server needs Linux (it relies on SO_REUSEPORT, abstract Unix sockets and /proc); on macOS the other commands work (init, generate, sign, revoke, crl, list, show, config)",
    );
    expect(() => requireServerPlatform("linux")).not.toThrow();
  });
});

function headOf(path: string): Buffer {
  const fd = openSync(path, "r");
  try {
    const head = Buffer.alloc(4096);
    readSync(fd, head, 0, head.length, 0);
    return head;
  } finally {
    closeSync(fd);
  }
}

/** Reads an executable's header the way `file` does, from its magic bytes. */
function describeHeader(bytes: Buffer): string {
  if (bytes.readUInt32BE(0) === 0x7f454c46) {
    const bits = bytes[4] === 2 ? "ELF64" : "ELF32";
    const machine = ({ 0x3e: "x86-64", 0xb7: "aarch64" } as Record<number, string>)[bytes.readUInt16LE(18)] ?? "other";
    // The program interpreter (PT_INTERP) names the C library's loader.
    const head = bytes.toString("latin1");
    const libc = head.includes("/lib/ld-musl-") ? "musl" : head.includes("/ld-linux-") ? "glibc" : "no loader";
    return `${bits} ${machine} ${libc}`;
  }
  if (bytes.readUInt32LE(0) === 0xfeedfacf) {
    const cpu = ({ 0x01000007: "x86-64", 0x0100000c: "arm64" } as Record<number, string>)[bytes.readUInt32LE(4)] ?? "other";
    return `Mach-O64 ${cpu}`;
  }
  return `unknown magic ${bytes.subarray(0, 4).toString("hex")}`;
}
