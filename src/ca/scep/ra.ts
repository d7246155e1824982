/**
 * @module
 * The SCEP registration authority (RFC 8894 2.1): an RSA key and a
 * certificate signed by the depot's issuing CA. SCEP clients encrypt their
 * requests to an RSA key and check the answers' signatures against it, and
 * depot's CA key is usually EC, so depot always answers SCEP as this RA.
 * The key sits beside the CA key (`private/scep_ra.key`, 0400), encrypted
 * with the CA key's passphrase when that key is encrypted, as the SSH CA
 * keys are; the certificate (`scep_ra.crt`) is recorded in the ledger with
 * its audit record like any certificate the CA issues.
 */
import { createPrivateKey, type KeyObject } from "node:crypto";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { DepotError, ioError } from "../../errors.ts";
import type { AuditActor } from "../audit.ts";
import { certificateDerFromPem } from "../certificate-der.ts";
import { parseDn } from "../dn.ts";
import type { Depot } from "../depot.ts";
import { writeFileAtomic } from "../files.ts";
import { DAY_MS } from "../issuer.ts";
import { isEncryptedKeyPem } from "../key-pem.ts";
import { generateKeyPair } from "../keys.ts";

/** Where a depot keeps its SCEP RA. */
export function scepRaLayout(depotRoot: string) {
  return {
    key: join(depotRoot, "private", "scep_ra.key"),
    certificate: join(depotRoot, "scep_ra.crt"),
  };
}

/** The RA as a server uses it: the key that decrypts requests and signs answers, and its certificate. */
export interface ScepRa {
  privateKey: KeyObject;
  certificatePem: string;
  certificateDer: Uint8Array<ArrayBuffer>;
}

/** The RA certificate's subject. */
export const SCEP_RA_SUBJECT = "/CN=depot SCEP RA";

/** The RA's lifetime: five years, or to a day before the CA's end when that comes first. */
const MAX_RA_DAYS = 5 * 365;

export function hasScepRa(depotRoot: string): boolean {
  return existsSync(scepRaLayout(depotRoot).key);
}

/**
 * Makes the RA of a depot that has none: an RSA-2048 key, and a certificate
 * from the depot's issuing CA (the client profile: digitalSignature and
 * keyEncipherment), recorded with its audit record. With `passphrase` (the
 * CA key is encrypted) the key is encrypted with it.
 */
export async function createScepRa(depot: Depot, options: { passphrase?: string; requester?: AuditActor } = {}): Promise<ScepRa & { serial: string }> {
  const root = depot.layout.root;
  const layout = scepRaLayout(root);
  if (existsSync(layout.key) || existsSync(layout.certificate)) throw new DepotError("E_DEPOT_EXISTS", `${root} already has a SCEP RA (${layout.key})`);
  const caLeft = depot.issuer.certificate.notAfter.getTime() - Date.now();
  const days = Math.min(MAX_RA_DAYS, Math.floor(caLeft / DAY_MS) - 1);
  if (days < 1) throw new DepotError("E_BAD_ARGUMENT", "the CA certificate ends within two days: renew it before making a SCEP RA");
  const keys = await generateKeyPair("rsa-2048");
  const issued = await depot.signPublicKey({
    profile: "client",
    subject: parseDn(SCEP_RA_SUBJECT),
    publicKeyDer: keys.publicKeyDer,
    keyType: "rsa-2048",
    family: "rsa",
    days,
    requester: options.requester ?? { requester: "cli" },
  });
  const stored = options.passphrase === undefined ? keys.privateKeyPem : await (await import("../key-encryption.ts")).encryptPrivateKey(keys.privateKeyPem, options.passphrase);
  writeFileAtomic(layout.key, stored, 0o400);
  writeFileAtomic(layout.certificate, issued.certificatePem, 0o644);
  return { privateKey: createPrivateKey(keys.privateKeyPem), certificatePem: issued.certificatePem, certificateDer: certificateDerFromPem(issued.certificatePem), serial: issued.serial };
}

export function scepRaIsEncrypted(depotRoot: string): boolean {
  try {
    return isEncryptedKeyPem(readFileSync(scepRaLayout(depotRoot).key, "utf8"));
  } catch {
    return false;
  }
}

/**
 * Loads the RA: its key from `decryptedKeyPem` (a server's workers, handed
 * over by the supervisor), else from its file (decrypted with `passphrase`
 * when encrypted). E_NOT_FOUND when the depot has no RA.
 */
export async function loadScepRa(depotRoot: string, options: { passphrase?: string; decryptedKeyPem?: string } = {}): Promise<ScepRa> {
  const layout = scepRaLayout(depotRoot);
  const read = (path: string) => {
    try {
      return readFileSync(path, "utf8");
    } catch (error) {
      if ((error as { code?: string }).code === "ENOENT") throw new DepotError("E_NOT_FOUND", "this depot has no SCEP RA: make one with depot scep init");
      throw ioError("read", path, error);
    }
  };
  const certificatePem = read(layout.certificate);
  let pem = options.decryptedKeyPem ?? read(layout.key);
  if (isEncryptedKeyPem(pem)) {
    if (options.passphrase === undefined) throw new DepotError("E_SERVER", "the SCEP RA key is encrypted and this server was started before it existed: restart it (HUP) to give it to its workers");
    pem = await (await import("../key-encryption.ts")).decryptPrivateKey(pem, options.passphrase, layout.key);
  }
  const privateKey = createPrivateKey(pem);
  if (privateKey.asymmetricKeyType !== "rsa") throw new DepotError("E_SERVER", `${layout.key} is not an RSA key: SCEP clients encrypt to RSA`);
  return { privateKey, certificatePem, certificateDer: certificateDerFromPem(certificatePem) };
}
