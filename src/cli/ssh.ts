/**
 * @module
 * `depot ssh init|sign|revoke|krl|list|config`: the depot's SSH CAs (one for
 * users, one for hosts), certificates recorded in the ledger with their audit
 * records, and the KRL that sshd's RevokedKeys reads.
 */
import { defineCommand } from "citty";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { parseReason } from "../ca/crl.ts";
import { caKeyIsEncrypted } from "../ca/ca-key.ts";
import { depotLayout } from "../ca/layout.ts";
import { parseDuration } from "../ca/tokens.ts";
import { DepotError, ioError } from "../errors.ts";
import { printable } from "../ca/dn.ts";
import type { SshCertificateKind } from "../ca/ssh/certificate.ts";
import { issueSshCertificate } from "../ca/ssh/issue.ts";
import { publishKrl } from "../ca/ssh/krl-publisher.ts";
import { createSshCas, hasSshCa, loadSshCa, parseSshCaKeyType, sshCaIsEncrypted, sshLayout } from "../ca/ssh/ssh-ca.ts";
import { sshStatusAt } from "../ca/ssh/store.ts";
import { command, withDepot } from "./_command.ts";
import { passphraseArgs, readPassphrase } from "./_passphrase.ts";
import { writePublicFile, writeStdout } from "./_output.ts";
import { allValues, lastOf } from "./_strict.ts";

const path = { type: "positional", description: "The depot's folder", required: true } as const;

const init = command({
  meta: { name: "init", description: "Make the depot's SSH CAs: one signs user certificates, one host certificates." },
  args: { path, "key-type": { type: "string", description: "ed25519 (default), ecdsa-p256 or ecdsa-p384" }, ...passphraseArgs },
  check: ({ args }) => void parseSshCaKeyType(lastOf(args["key-type"]) ?? "ed25519"),
  async run({ args }) {
    const keyType = parseSshCaKeyType(lastOf(args["key-type"]) ?? "ed25519");
    const root = resolve(args.path);
    // Opened first: a path that is no depot is refused before any key is made.
    await withDepot(root, async () => {});
    // Encrypted like the CA key, with its passphrase (checked by opening the depot to sign).
    let passphrase: string | undefined;
    if (caKeyIsEncrypted(depotLayout(root).caKey)) {
      passphrase = await readPassphrase(args);
      const { Depot } = await import("../ca/depot.ts");
      (await Depot.open(root, { passphrase })).close(); // a wrong passphrase is refused here, before any key is made
    }
    const cas = await createSshCas(root, { keyType, ...(passphrase !== undefined ? { passphrase } : {}) });
    // An empty KRL from the start: sshd refuses every key while its RevokedKeys file is missing.
    const krl = await withDepot(root, (depot) => publishKrl(root, depot.ledger.ssh));
    for (const ca of cas) console.log(`SSH ${ca.kind} CA: ${sshLayout(root).publicKey(ca.kind)}\n  ${ca.line}`);
    console.log(`KRL (for sshd's RevokedKeys): ${krl.path}`);
    console.log(`Next: depot ssh config ${args.path}`);
  },
});

/** The SSH CA of `kind`, with the depot's passphrase when its keys are encrypted. */
async function openSshCa(root: string, kind: SshCertificateKind, args: Record<string, unknown>) {
  if (!sshCaIsEncrypted(root)) return loadSshCa(root, kind);
  return loadSshCa(root, kind, { passphrase: await readPassphrase(args) });
}

const sign = command({
  meta: { name: "sign", description: "Certify an SSH public key: a user certificate (--user) or a host certificate (--host)." },
  args: {
    path,
    "public-key": { type: "string", description: "The key to certify: a .pub file (id_ed25519.pub, ssh_host_ed25519_key.pub), or - for stdin" },
    user: { type: "boolean", description: "A user certificate (the principals are user names)" },
    host: { type: "boolean", description: "A host certificate (the principals are the host's names)" },
    principal: { type: "string", description: "A user or host name the certificate is good for (repeatable)" },
    "key-id": { type: "string", description: "The name sshd logs on each use (default: the first principal)" },
    valid: { type: "string", description: "How long it is good for: 30m, 16h (user default), 30d (host default); at most 366d" },
    "force-command": { type: "string", description: "User certificates: the only command it may run" },
    "source-address": { type: "string", description: "User certificates: a client address or CIDR block it is good from (repeatable)" },
    extension: { type: "string", description: "User certificates: grant only these (repeatable; default permit-pty, permit-port-forwarding, permit-agent-forwarding, permit-X11-forwarding, permit-user-rc)" },
    out: { type: "string", description: "Write the certificate here (KEY-cert.pub, as ssh-keygen names it), else to stdout" },
    ...passphraseArgs,
  },
  repeatable: ["principal", "source-address", "extension"],
  check: ({ args }) => void kindOf(args),
  async run({ args, rawArgs }) {
    const kind = kindOf(args);
    const source = lastOf(args["public-key"]);
    if (source === undefined) throw new DepotError("E_BAD_ARGUMENT", "missing --public-key FILE (the .pub file of the key to certify)");
    const root = resolve(args.path);
    if (!hasSshCa(root)) throw new DepotError("E_NOT_FOUND", "this depot has no SSH CA: make one with depot ssh init");
    const publicKey = readPublicKey(source);
    const valid = lastOf(args.valid);
    const forceCommand = lastOf(args["force-command"]);
    const sourceAddress = allValues(rawArgs, "source-address").flatMap((v) => v.split(",")).filter(Boolean);
    const extensions = allValues(rawArgs, "extension");
    const keyId = lastOf(args["key-id"]);
    const ca = await openSshCa(root, kind, args);
    const record = await withDepot(root, (depot) =>
      issueSshCertificate(depot.ledger.ssh, ca, {
        publicKey,
        kind,
        principals: allValues(rawArgs, "principal").flatMap((v) => v.split(",")).filter(Boolean),
        ...(keyId !== undefined ? { keyId } : {}),
        ...(valid !== undefined ? { validityMs: parseDuration(valid) } : {}),
        ...(forceCommand !== undefined || sourceAddress.length ? { criticalOptions: { ...(forceCommand !== undefined ? { forceCommand } : {}), ...(sourceAddress.length ? { sourceAddress } : {}) } } : {}),
        ...(extensions.length ? { extensions } : {}),
        requester: { requester: "cli" },
      }),
    );
    const out = lastOf(args.out);
    const recorded = { serial: record.serial, depotPath: args.path, kind: "ssh" as const };
    if (out !== undefined) writePublicFile(out, `${record.certificate}\n`, recorded);
    else writeStdout(`${record.certificate}\n`, recorded);
    console.error(`depot: SSH ${kind} certificate ${record.serial} for ${record.principals.join(",")} (key id ${JSON.stringify(record.keyId)}), valid until ${record.validBefore.toISOString()}`);
  },
});

function kindOf(args: Record<string, unknown>): SshCertificateKind {
  if (args.user && args.host) throw new DepotError("E_BAD_ARGUMENT", "give --user or --host, not both");
  if (!args.user && !args.host) throw new DepotError("E_BAD_ARGUMENT", "give --user (a user certificate) or --host (a host certificate)");
  return args.user ? "user" : "host";
}

function readPublicKey(source: string): string {
  try {
    return source === "-" ? readFileSync(0, "utf8") : readFileSync(source, "utf8");
  } catch (error) {
    throw ioError("read", source, error);
  }
}

const revoke = command({
  meta: { name: "revoke", description: "Revoke an SSH certificate and rewrite the KRL (ssh/revoked.krl)." },
  args: {
    path,
    serial: { type: "positional", description: "The certificate's serial, decimal, as ssh-keygen -L prints it", required: true },
    reason: { type: "string", description: "keyCompromise, superseded, cessationOfOperation, affiliationChanged or unspecified (default)" },
  },
  check: ({ args }) => void parseReason(lastOf(args.reason) ?? "unspecified"),
  async run({ args }) {
    const serial = checkSerial(args.serial);
    const reason = parseReason(lastOf(args.reason) ?? "unspecified");
    const root = resolve(args.path);
    await withDepot(root, async (depot) => {
      const record = await depot.ledger.ssh.revoke(serial, reason, new Date(), { requester: "cli" });
      const krl = await publishKrl(root, depot.ledger.ssh);
      console.log(`Revoked SSH ${record.kind} certificate ${record.serial} (${record.keyId}), reason ${reason}`);
      console.log(`KRL version ${krl.version} with ${krl.revoked} revoked certificate(s) written to ${krl.path}`);
    });
  },
});

function checkSerial(text: string): string {
  if (!/^\d{1,20}$/.test(text) || BigInt(text) === 0n || BigInt(text) > 0xffff_ffff_ffff_ffffn) {
    throw new DepotError("E_BAD_ARGUMENT", `'${text.slice(0, 40)}' is not an SSH certificate serial (a decimal number, as ssh-keygen -L prints it)`);
  }
  return BigInt(text).toString();
}

const krl = command({
  meta: { name: "krl", description: "Write the KRL (ssh/revoked.krl) from the ledger now." },
  args: { path },
  async run({ args }) {
    const root = resolve(args.path);
    await withDepot(root, async (depot) => {
      const published = await publishKrl(root, depot.ledger.ssh);
      console.log(`KRL version ${published.version} with ${published.revoked} revoked certificate(s) written to ${published.path}`);
    });
  },
});

const list = command({
  meta: { name: "list", description: "List the SSH certificates the depot issued." },
  args: {
    path,
    valid: { type: "boolean", description: "Only valid ones" },
    revoked: { type: "boolean", description: "Only revoked ones" },
    expired: { type: "boolean", description: "Only expired ones" },
    json: { type: "boolean", description: "JSON for scripts" },
  },
  async run({ args }) {
    const chosen = (["valid", "revoked", "expired"] as const).filter((s) => args[s]);
    if (chosen.length > 1) throw new DepotError("E_BAD_ARGUMENT", "give at most one of --valid, --revoked, --expired");
    const now = new Date();
    const records = await withDepot(resolve(args.path), (depot) => depot.ledger.ssh.list({ ...(chosen[0] ? { status: chosen[0] } : {}), now }));
    if (args.json) {
      process.stdout.write(`${JSON.stringify(records.map((r) => ({ ...r, status: sshStatusAt(r, now) })), null, 2)}\n`);
      return;
    }
    for (const r of records) {
      console.log([r.serial.padEnd(20), r.kind.padEnd(4), sshStatusAt(r, now).padEnd(7), r.validBefore.toISOString().slice(0, 19) + "Z", r.keyId, r.principals.join(",")].join("  "));
    }
  },
});

const show = command({
  meta: { name: "show", description: "Print one SSH certificate: a summary from the ledger, then its line (as in a -cert.pub file)." },
  args: { path, serial: { type: "positional", description: "The certificate's serial, decimal, as ssh-keygen -L prints it", required: true } },
  async run({ args }) {
    const serial = checkSerial(args.serial);
    const record = await withDepot(resolve(args.path), (depot) => depot.ledger.ssh.find(serial));
    if (!record) throw new DepotError("E_NOT_FOUND", `no SSH certificate with serial ${serial} in this depot`);
    const now = new Date();
    const lines = [
      `Serial:      ${record.serial}`,
      `Type:        ${record.kind} certificate`,
      `Key ID:      ${printable(record.keyId)}`,
      `Principals:  ${printable(record.principals.join(", "))}`,
      `Key:         ${record.keyType} ${record.keyFingerprint}`,
      `Valid:       ${record.validAfter.toISOString()} to ${record.validBefore.toISOString()}`,
      `Status:      ${sshStatusAt(record, now)}${record.revokedAt ? ` since ${record.revokedAt.toISOString()} (${record.revocationReason})` : ""}`,
    ];
    process.stdout.write(`${lines.join("\n")}\n${record.certificate}\n`);
  },
});

const config = command({
  meta: { name: "config", description: "Print the sshd_config and known_hosts lines that trust this depot's SSH CAs." },
  args: { path, "host-pattern": { type: "string", description: "The host names clients trust the host CA for, in known_hosts (default *)" } },
  async run({ args }) {
    const root = resolve(args.path);
    const layout = sshLayout(root);
    const hostCa = readPublicKey(layout.publicKey("host")).trim();
    const pattern = lastOf(args["host-pattern"]) ?? "*";
    console.log(`# sshd_config on each server: users with a certificate from this depot log in; revoked ones are refused`);
    console.log(`TrustedUserCAKeys ${layout.publicKey("user")}`);
    console.log(`RevokedKeys ${layout.krl}`);
    console.log(`# and the host's own certificate (depot ssh sign ${args.path} --host --public-key /etc/ssh/ssh_host_ed25519_key.pub --principal HOST --out /etc/ssh/ssh_host_ed25519_key-cert.pub)`);
    console.log(`HostCertificate /etc/ssh/ssh_host_ed25519_key-cert.pub`);
    console.log();
    console.log(`# ~/.ssh/known_hosts (or /etc/ssh/ssh_known_hosts) on each client: hosts with a certificate from this depot are known`);
    console.log(`@cert-authority ${pattern} ${hostCa}`);
    console.log();
    console.log(`# copy ${layout.publicKey("user")} and ${layout.krl} to each server; the KRL changes on every revoke (GET /ssh/krl when the server runs with --http-port)`);
  },
});

export default defineCommand({
  meta: { name: "ssh", description: "SSH certificates: the depot's user and host CAs, signing, revoking, listing, the KRL." },
  subCommands: { init, sign, revoke, krl, list, show, config },
});
