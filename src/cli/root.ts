/**
 * @module `depot root crl|export|remove PATH`: the root of a two-tier depot
 * (hierarchy.ts), whose key may live offline. Commands that need the root
 * key read it from `--root-key FILE` or, while it is still there, the
 * depot's private/root.key; an encrypted one takes the passphrase options.
 */
import { defineCommand } from "citty";
import { command } from "./_command.ts";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { caKeyIsEncrypted } from "../ca/ca-key.ts";
import { parseDays } from "../ca/depot.ts";
import { DEFAULT_ROOT_CRL_DAYS, isTwoTier, tierLayout } from "../ca/hierarchy.ts";
import { loadRoot, renewRootCrl } from "../ca/root-ca.ts";
import { encryptPrivateKey, isEncryptedKeyPem } from "../ca/key-encryption.ts";
import { depotLayout } from "../ca/layout.ts";
import { DepotError, ioError } from "../errors.ts";
import { passphraseArgs, readPassphrase } from "./_passphrase.ts";
import { lastOf } from "./_strict.ts";

const path = { type: "positional", description: "The depot's folder (made with init --intermediate)", required: true } as const;
const rootKey = { type: "string", description: "The root key file (default: the depot's private/root.key, while it is there)" } as const;

/** The depot's layout, insisting on two tiers. */
export function twoTierLayout(given: string) {
  const layout = depotLayout(resolve(given));
  if (!isTwoTier(layout)) throw new DepotError("E_BAD_ARGUMENT", `${layout.root} has one tier: it has no root apart from its CA (make one with init --intermediate)`);
  return layout;
}

/** A two-tier depot's layout and its own root key file (private/root.key). */
function twoTierRootKey(given: string) {
  const layout = twoTierLayout(given);
  return { layout, keyFile: tierLayout(layout).rootKey };
}

/** Loads the root with its key from --root-key or private/root.key, asking for a passphrase only if the key is encrypted. */
export async function rootFromArgs(layout: ReturnType<typeof depotLayout>, parsed: Record<string, unknown>) {
  const keyFile = lastOf(parsed["root-key"]) ?? tierLayout(layout).rootKey;
  if (!existsSync(keyFile)) throw new DepotError("E_BAD_ARGUMENT", `the root key is not in the depot (${keyFile}); give it with --root-key FILE`);
  const passphrase = caKeyIsEncrypted(keyFile) ? await readPassphrase(parsed, { what: "root key passphrase" }) : undefined;
  return loadRoot(layout, keyFile, passphrase);
}

const crlArgs = { path, "root-key": rootKey, "crl-days": { type: "string", description: `Days until the root CRL's nextUpdate (${DEFAULT_ROOT_CRL_DAYS})` }, ...passphraseArgs } as const;
const crl = command({
  meta: { name: "crl", description: "Sign the root's CRL (root-crl.pem, for the intermediate) anew with the root key, before its nextUpdate." },
  args: crlArgs,
  async run({ args: parsed }) {
    const layout = twoTierLayout(parsed.path);
    const days = lastOf(parsed["crl-days"]);
    const { crlNumber } = await renewRootCrl(layout, await rootFromArgs(layout, parsed), days ? parseDays(days) : undefined);
    console.log(`Root CRL number ${crlNumber} written to ${tierLayout(layout).rootCrl}`);
  },
});

const exportArgs = { path, out: { type: "string", description: "The file to write (new; mode 0600)", required: true }, ...passphraseArgs } as const;
const exportRoot = command({
  meta: { name: "export", description: "Copy the root key out of the depot, encrypted (asks for a new passphrase unless it is encrypted already)." },
  args: exportArgs,
  async run({ args: parsed }) {
    const { keyFile } = twoTierRootKey(parsed.path);
    const out = lastOf(parsed.out)!;
    let pem: string;
    try {
      pem = readFileSync(keyFile, "utf8");
    } catch (error) {
      throw ioError("read the root key", keyFile, error);
    }
    if (!isEncryptedKeyPem(pem)) pem = await encryptPrivateKey(pem, await readPassphrase(parsed, { confirm: true, what: "passphrase for the exported root key" }));
    try {
      writeFileSync(out, pem, { mode: 0o600, flag: "wx" });
    } catch (error) {
      throw ioError("write", out, error);
    }
    console.log(`Root key written to ${out}, encrypted; keep it offline, then: depot root remove ${parsed.path} --root-key ${out}`);
  },
});

const removeArgs = { path, "root-key": { type: "string", description: "The exported copy, checked to be the root's key before the depot's is removed", required: true }, ...passphraseArgs } as const;
const remove = command({
  meta: { name: "remove", description: "Delete the root key from the depot once an exported copy is checked; the depot keeps issuing with the intermediate." },
  args: removeArgs,
  async run({ args: parsed }) {
    const { layout, keyFile } = twoTierRootKey(parsed.path);
    if (!existsSync(keyFile)) throw new DepotError("E_BAD_ARGUMENT", `${keyFile} is already gone`);
    const copy = lastOf(parsed["root-key"])!;
    if (resolve(copy) === keyFile) throw new DepotError("E_BAD_ARGUMENT", "--root-key must name the exported copy, not the depot's own root.key");
    await rootFromArgs(layout, parsed); // the copy opens and is the root's key
    rmSync(keyFile);
    console.log(`Removed ${keyFile}; renew the intermediate and the root CRL with --root-key ${copy}`);
  },
});

export default defineCommand({
  meta: { name: "root", description: "The root of a two-tier depot: depot root crl|export|remove PATH." },
  subCommands: { crl, export: exportRoot, remove },
});
