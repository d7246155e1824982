/**
 * @module
 * `depot install-ca`: trust a depot's CA on this machine, as mkcert does: the
 * system store (Debian's /usr/local/share/ca-certificates, then
 * update-ca-certificates) and the user's NSS database (~/.pki/nssdb, what
 * Chromium and other NSS programs read on Linux) when there is one.
 * `--root` (or $DEPOT_TRUST_ROOT) puts the system store under another
 * folder, so tests never change the machine's trust.
 */
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { writeFileAtomic } from "../ca/files.ts";
import { printable } from "../ca/dn.ts";
import { ED25519_BROWSER_NOTE } from "../ca/key-types.ts";
import { defaultDepotPath } from "../server/paths.ts";
import { DepotError, ioError } from "../errors.ts";
import { stringOption } from "./_args.ts";
import { command } from "./_command.ts";

const args = {
  path: { type: "positional", required: false, description: "The depot whose CA to trust (default: $DEPOT_PATH, else $XDG_DATA_HOME/depot)" },
  uninstall: { type: "boolean", description: "Remove the CA from the stores instead" },
  root: { type: "string", valueHint: "dir", description: "Treat DIR as / for the system store (default: $DEPOT_TRUST_ROOT, else /)" },
} as const;

export default command({
  meta: { name: "install-ca", description: "Trust the depot's CA on this machine: the system trust store (Debian/Ubuntu) and your NSS database (~/.pki/nssdb: Chromium), if any." },
  args,
  async run({ args: parsed }) {
    const depotPath = parsed.path ? String(parsed.path) : defaultDepotPath();
    const { openDepot } = await import("../store/open-depot.ts");
    const depot = await openDepot(depotPath);
    let pem: string;
    let label: string;
    try {
      pem = readFileSync(depot.layout.caCertificate, "utf8");
      label = depot.label;
      if (depot.issuer.key.type === "ed25519" && !parsed.uninstall) process.stderr.write(`depot: warning: an Ed25519 CA: ${ED25519_BROWSER_NOTE}\n`);
    } finally {
      depot.close();
    }
    const root = stringOption(parsed, "root") ?? process.env.DEPOT_TRUST_ROOT ?? "/";
    // One name per CA: its label for people, a digest so two depots named alike never collide.
    const digest = createHash("sha256").update(pem).digest("hex").slice(0, 12);
    const name = `depot-${label.replace(/[^A-Za-z0-9._-]+/g, "_").slice(0, 40)}-${digest}`;
    const nickname = `depot ${label} ${digest}`;
    systemStore(root, name, pem, parsed.uninstall === true, label);
    nssDatabase(nickname, depot.layout.caCertificate, parsed.uninstall === true);
  },
});

function systemStore(root: string, name: string, pem: string, uninstall: boolean, label: string): void {
  const at = (path: string) => join(root, path);
  const localDir = at("/usr/local/share/ca-certificates");
  const file = join(localDir, `${name}.crt`);
  const update = ["/usr/sbin/update-ca-certificates", "/usr/bin/update-ca-certificates"].find(existsSync);
  if (!update) {
    throw new DepotError("E_NOT_FOUND", "update-ca-certificates not found: the system store is only handled on Debian and Ubuntu (package ca-certificates); elsewhere add certificates/ca.crt as your system documents");
  }
  if (uninstall) {
    if (!existsSync(file)) {
      console.log(`The system trust store does not hold '${printable(label)}' (${file})`);
      return;
    }
    try {
      rmSync(file);
    } catch (error) {
      throw ioError("remove", file, error);
    }
  } else {
    try {
      mkdirSync(localDir, { recursive: true });
      writeFileAtomic(file, pem, 0o644);
    } catch (error) {
      throw error instanceof DepotError ? error : ioError("write", file, error);
    }
  }
  const dirs =
    root === "/"
      ? []
      : [
          "--certsconf", at("/etc/ca-certificates.conf"),
          "--certsdir", at("/usr/share/ca-certificates"),
          "--localcertsdir", localDir,
          "--etccertsdir", at("/etc/ssl/certs"),
          "--hooksdir", at("/etc/ca-certificates/update.d"),
        ];
  if (root !== "/") for (const dir of ["/usr/share/ca-certificates", "/etc/ssl/certs", "/etc/ca-certificates/update.d"]) mkdirSync(at(dir), { recursive: true });
  const result = spawnSync(update, dirs, { encoding: "utf8" });
  if (result.status !== 0) throw new DepotError("E_IO", `update-ca-certificates failed: ${(result.stderr || result.stdout || String(result.error)).trim()}`);
  console.log(uninstall ? `Removed '${printable(label)}' from the system trust store (${file})` : `Added '${printable(label)}' to the system trust store (${file})`);
}

/** The user's NSS database (Chromium, and other NSS programs on Linux), only when it exists. */
function nssDatabase(nickname: string, caFile: string, uninstall: boolean): void {
  const database = join(process.env.HOME || homedir(), ".pki", "nssdb");
  if (!existsSync(join(database, "cert9.db"))) return;
  const certutil = spawnSync("certutil", ["-H"], { stdio: "ignore" });
  if (certutil.error) {
    process.stderr.write(`depot: ${database} exists but certutil does not (Debian package libnss3-tools); the CA was not ${uninstall ? "removed from" : "added to"} it\n`);
    return;
  }
  const db = `sql:${database}`;
  const present = spawnSync("certutil", ["-d", db, "-L", "-n", nickname], { stdio: "ignore" }).status === 0;
  if (uninstall ? !present : present) return;
  const args = uninstall ? ["-d", db, "-D", "-n", nickname] : ["-d", db, "-A", "-t", "C,,", "-n", nickname, "-i", caFile];
  const result = spawnSync("certutil", args, { encoding: "utf8" });
  if (result.status !== 0) throw new DepotError("E_IO", `certutil failed on ${database}: ${(result.stderr || result.stdout).trim()}`);
  console.log(uninstall ? `Removed it from the NSS database ${database}` : `Added it to the NSS database ${database} (Chromium)`);
}
