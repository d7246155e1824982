/**
 * @module
 * What `Depot.open` checks before it trusts a depot folder: no symbolic
 * link where depot reads or writes (one planted there would send writes, or
 * the CA key, elsewhere), a CA key no one else can read, and a depot.cnf
 * depot can read, whose templates make sense.
 */
import { lstatSync, readFileSync, statSync } from "node:fs";
import { DepotError, errnoOf, ioError } from "../errors.ts";
import { type DepotSettings, parseConfig, settingsFromConfig } from "./config.ts";
import type { DepotLayout } from "./layout.ts";
import { type Templates, templatesFromConfig } from "./templates.ts";

/** Refuses a depot where any path depot uses (but the root itself) is a symbolic link. */
export function refuseSymlinks(layout: DepotLayout): void {
  const paths = [
    layout.config,
    layout.privateDir,
    layout.caKey,
    layout.certificatesDir,
    layout.caCertificate,
    layout.crl,
    layout.ledger,
    `${layout.ledger}-wal`,
    `${layout.ledger}-shm`,
    layout.ledgerMarker,
  ];
  for (const path of paths) {
    let link = false;
    try {
      link = lstatSync(path).isSymbolicLink();
    } catch {
      continue; // Missing: each is checked for presence where it is needed.
    }
    if (link) throw new DepotError("E_NOT_A_DEPOT", `${path} is a symbolic link; depot follows no link inside a depot (replace it with the real file or folder)`);
  }
}

/** The message every command gives for a CA key others can read. */
export function insecureKeyError(caKey: string): DepotError {
  return new DepotError("E_INSECURE_KEY", `refusing to open the depot: ${caKey} is readable by group or others (chmod 400 it)`);
}

export function refuseReadableKey(layout: DepotLayout): void {
  let mode: number;
  try {
    mode = statSync(layout.caKey).mode;
  } catch (error) {
    if (errnoOf(error) === "ENOENT") throw notADepot(layout);
    throw ioError("read", layout.caKey, error);
  }
  if (mode & 0o077) throw insecureKeyError(layout.caKey);
}

function notADepot(layout: DepotLayout): DepotError {
  return new DepotError("E_NOT_A_DEPOT", `${layout.root} is not a depot (it needs depot.cnf, private/ca.key and certificates/ca.crt)`);
}

/** The depot's settings; a depot.cnf that is there but makes no sense is called unreadable, and where. */
export function readSettings(layout: DepotLayout): DepotSettings {
  return readDepotConfig(layout).settings;
}

/** depot.cnf's settings and templates; a template that makes no sense is refused with its line (templates.ts). */
export function readDepotConfig(layout: DepotLayout): { settings: DepotSettings; templates: Templates } {
  let text: string;
  try {
    text = readFileSync(layout.config, "utf8");
  } catch (error) {
    if (errnoOf(error) === "ENOENT") throw notADepot(layout);
    throw ioError("read", layout.config, error);
  }
  const settings = settingsFromConfig(parseConfig(text));
  if (!settings) {
    throw new DepotError("E_NOT_A_DEPOT", `${layout.config} is unreadable: it has no [ ca ] section naming the CA's label (label = ...)`);
  }
  return { settings, templates: templatesFromConfig(text, layout.config) };
}
