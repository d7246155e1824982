import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { DepotError, errnoOf, ioError, messageOf } from "../errors.ts";
import { configFromSettings } from "./config.ts";
import { attribute, formatDn } from "./dn.ts";
import { fingerprintOf, pemOf, validityFor } from "./issuer.ts";
import { selfSignCa } from "./self-signed.ts";
import { DEFAULT_KEY_TYPE, type KeyType } from "./key-types.ts";
import { generateKeyPair, loadSigningKey } from "./keys.ts";
import { depotLayout } from "./layout.ts";
import { ledgerOpenerOr, type OpenLedger } from "./ledger.ts";
import { writeLedgerMarker } from "./ledger/marker.ts";
import { checkLedgerUrl } from "./ledger-url.ts";
import { newSerial } from "./serial.ts";
import { Depot } from "./depot.ts";
import { encryptPrivateKey } from "./key-encryption.ts";
import { addIntermediateTier, type IntermediateTierOptions } from "./hierarchy.ts";

import { DEFAULT_CA_DAYS, DEFAULT_LEAF_DAYS } from "./defaults.ts";

export interface CreateOptions {
  /** Opens (creates) the ledger depot.cnf names (src/store/open-ledger.ts); default: the installed one. */
  openLedger?: OpenLedger;
  /** The CA's name, in its subject as O and CN. Defaults to the folder's name. */
  label?: string;
  /** Key type of the CA key and default for issued keys. */
  keyType?: KeyType;
  /** Default validity of issued certificates. */
  days?: number;
  /** Validity of the CA certificate. */
  caDays?: number;
  /** Encrypt the CA key under this passphrase (key-encryption.ts). */
  passphrase?: string;
  /** Two tiers: this CA becomes the root and signs an issuing intermediate (hierarchy.ts). */
  intermediate?: Omit<IntermediateTierOptions, "label" | "keyType" | "passphrase">;
  /** Keep the ledger in PostgreSQL (a database without a depot schema) instead of ledger.sqlite3. */
  ledger?: { url: string; passwordFile?: string; pool?: number };
  /** Plain-HTTP base URL: AIA and CDP in every certificate (public-url.ts). */
  publicUrl?: string;
  /** HTTPS base URL as clients reach it (the API and ACME's absolute URLs). */
  apiUrl?: string;
  /** Command run after each new crl.pem (ca/crl-change.ts). */
  onCrlChange?: string;
}

/**
 * Makes a new depot at `path`: a CA key (0400, in a 0700 folder), its
 * self-signed certificate, depot.cnf and an empty ledger. Everything is built
 * in a temporary folder beside `path` and renamed into place at the end, so
 * a failure leaves nothing half-made, and an existing depot is never touched.
 */
export async function createDepot(path: string, options: CreateOptions = {}): Promise<string> {
  const root = resolve(path);
  refuseUnlessEmpty(root);
  const label = (options.label ?? basename(root)).trim();
  const subject = caSubject(label);
  const keyType = options.keyType ?? DEFAULT_KEY_TYPE;

  const parent = dirname(root);
  let staging: string;
  try {
    // Only the depot's own folder is created, as `mkdir` without -p: a typo
    // in a parent must not leave a trail of new folders.
    removeStaleStaging(parent);
    staging = mkdtempSync(`${parent}/.${basename(root)}.init-${process.pid}-`);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") throw new DepotError("E_IO", `cannot create ${root}: the folder ${parent} does not exist (create it first)`);
    throw ioError("create a depot in", parent, error);
  }
  try {
    const layout = depotLayout(staging);
    mkdirSync(layout.privateDir, { mode: 0o700 });
    mkdirSync(layout.certificatesDir, { mode: 0o755 });

    const keyPair = await generateKeyPair(keyType);
    const keyFile = options.passphrase === undefined ? keyPair.privateKeyPem : await encryptPrivateKey(keyPair.privateKeyPem, options.passphrase);
    writeFileSync(layout.caKey, keyFile, { mode: 0o400, flag: "wx" });
    const key = await loadSigningKey(keyPair.privateKeyPem, layout.caKey);
    const serial = newSerial();
    const validity = validityFor(options.caDays ?? DEFAULT_CA_DAYS);
    const certificate = await selfSignCa(key, subject, serial, validity);
    writeFileSync(layout.caCertificate, pemOf(certificate), { mode: 0o644 });

    const settings = {
      label,
      path: root,
      keyType,
      defaultDays: String(options.days ?? DEFAULT_LEAF_DAYS),
      ...(options.publicUrl ? { publicUrl: options.publicUrl } : {}),
      ...(options.apiUrl ? { apiUrl: options.apiUrl } : {}),
      ...(options.onCrlChange ? { onCrlChange: options.onCrlChange } : {}),
      ...ledgerSettings(options.ledger),
    };
    writeFileSync(layout.config, configFromSettings(settings));
    const ledger = await ledgerOpenerOr(options.openLedger)(layout, settings, { create: true });
    await ledger.record({
      serial,
      subject: formatDn(subject),
      type: "ca",
      keyType,
      ...validity,
      fingerprint: fingerprintOf(certificate),
      pem: pemOf(certificate),
      status: "valid",
    });
    ledger.close();
    writeLedgerMarker(layout);
    const issuingKeyPem = options.intermediate
      ? await addIntermediateTier(layout, { certificate, key }, { ...options.intermediate, label, keyType, ...(options.passphrase !== undefined ? { passphrase: options.passphrase } : {}) })
      : keyPair.privateKeyPem;
    // An empty CRL from the start, so web servers can be pointed at crl.pem at once.
    // no on-crl-change for a depot not yet in place
    const depot = await Depot.open(staging, { ...(options.openLedger ? { openLedger: options.openLedger } : {}), onCrlPublished: () => {}, ...(options.passphrase === undefined ? {} : { decryptedKeyPem: issuingKeyPem }) });
    await depot.publishCrl();
    depot.close();

    // The depot's root is readable by all (web servers read ca.crt); the key's folder is not.
    chmodSync(staging, 0o755);
    renameSync(staging, root);
  } catch (error) {
    rmSync(staging, { recursive: true, force: true });
    if (error instanceof DepotError) throw error;
    throw ioError("create a depot at", root, error);
  }
  return root;
}

/** depot.cnf's keys for a PostgreSQL ledger: the URL and where the password is, never the password. */
function ledgerSettings(ledger: CreateOptions["ledger"]) {
  if (!ledger) return {};
  checkLedgerUrl(ledger.url);
  return {
    ledger: ledger.url,
    ...(ledger.passwordFile ? { ledgerPasswordFile: resolve(ledger.passwordFile) } : {}),
    ...(ledger.pool ? { ledgerPool: String(ledger.pool) } : {}),
  };
}

/** The CA's subject, O and CN both the label; a bad label is reported as such, not as a DN attribute. */
function caSubject(label: string) {
  if (label === "") throw new DepotError("E_BAD_ARGUMENT", "the CA label is empty");
  try {
    return [attribute("O", label), attribute("CN", label)];
  } catch (error) {
    throw new DepotError("E_BAD_ARGUMENT", `the CA label cannot name a certificate: ${messageOf(error).replace(/^O /, "it ")}`);
  }
}

function refuseUnlessEmpty(root: string): void {
  let entries: string[];
  try {
    if (!statSync(root).isDirectory()) throw new DepotError("E_DEPOT_EXISTS", `${root} exists and is not a folder`);
    entries = readdirSync(root);
  } catch (error) {
    if (errnoOf(error) === "ENOENT") return;
    if (error instanceof DepotError) throw error;
    throw ioError("read", root, error);
  }
  if (entries.includes("depot.cnf") || entries.includes("private")) {
    throw new DepotError("E_DEPOT_EXISTS", `${root} already holds a depot; its CA key is never overwritten`);
  }
  if (entries.length > 0) throw new DepotError("E_DEPOT_EXISTS", `${root} is not empty; give an empty or new folder`);
}

/** A staging folder's name: `.<name>.init-<pid>-<random>`; depot 0.1.0 wrote `.<name>.init-<random>`. */
const STAGING_NAME = /^\..+\.init-(?:(\d+)-)?[A-Za-z0-9]{6}$/;
/** What a staging folder may hold: only what createDepot writes. */
const STAGING_CONTENT = new Set(["private", "certificates", "depot.cnf", "crl.pem", "depot-ledger", "ledger.sqlite3", "ledger.sqlite3-wal", "ledger.sqlite3-shm"]);
/** A staging folder without a pid (depot 0.1.0), or whose pid may have been reused, is stale after this long. */
const STALE_AFTER_MS = 60 * 60_000;

/**
 * Removes the staging folders of `init` runs that were killed (some hold a
 * CA key): only folders named as createDepot names them, holding only what
 * it writes, whose process is gone (or, without a pid, older than an hour).
 */
export function removeStaleStaging(parent: string, now = Date.now()): string[] {
  const removed: string[] = [];
  let names: string[];
  try {
    names = readdirSync(parent);
  } catch {
    return removed;
  }
  for (const name of names) {
    const match = STAGING_NAME.exec(name);
    if (!match) continue;
    const path = join(parent, name);
    try {
      const stats = lstatSync(path);
      if (!stats.isDirectory() || stats.uid !== process.getuid?.()) continue;
      if (!readdirSync(path).every((entry) => STAGING_CONTENT.has(entry))) continue;
      const pid = match[1] === undefined ? undefined : Number(match[1]);
      const stale = pid === undefined || pid === process.pid ? now - stats.mtimeMs > STALE_AFTER_MS : !isAlive(pid) || now - stats.mtimeMs > STALE_AFTER_MS;
      if (!stale) continue;
      rmSync(path, { recursive: true, force: true });
      removed.push(path);
    } catch {
      // Not ours to judge (gone meanwhile, or unreadable): left alone.
    }
  }
  return removed;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return errnoOf(error) === "EPERM";
  }
}
