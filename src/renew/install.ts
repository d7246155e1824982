/**
 * @module
 * Putting a renewed certificate (and a new key) in place of the old files:
 * each written whole to a temporary file and renamed over the old one, with
 * the old file's mode (a new key: 0600). A new key is first kept beside the
 * old one as `KEY.next`, before the request; once the certificate is in
 * place the key follows. A renewal killed between the two leaves a
 * certificate and a `KEY.next` that belong together: `finishInterruptedInstall`
 * completes it on the next run, so the pair is never lost.
 */
import { closeSync, existsSync, fchmodSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, statSync, writeSync } from "node:fs";
import { createPrivateKey, createPublicKey } from "node:crypto";
import { basename, dirname, join } from "node:path";
import { certificateDerFromPem, readCertificateDer } from "../ca/certificate-der.ts";
import { ioError } from "../errors.ts";
import type { Renewed } from "./client.ts";

/** Where a new key waits for its certificate. */
export function pendingKeyPath(keyPath: string): string {
  return `${keyPath}.next`;
}

/** Writes `data` to `path` whole (temporary file, fsync, rename) with exactly `mode`, whatever the umask. */
export function writeReplacing(path: string, data: string, mode: number): void {
  const temporary = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
  try {
    const fd = openSync(temporary, "wx", 0o600);
    try {
      fchmodSync(fd, mode);
      const bytes = Buffer.from(data);
      for (let written = 0; written < bytes.length; ) written += writeSync(fd, bytes, written);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temporary, path);
  } catch (error) {
    rmSync(temporary, { force: true });
    throw ioError("write", path, error);
  }
}

/** Keeps a new key, 0600, until its certificate arrives. */
export function keepPendingKey(keyPath: string, privateKeyPem: string): void {
  writeReplacing(pendingKeyPath(keyPath), privateKeyPem, 0o600);
}

/**
 * Replaces the certificate file (leaf, and the chain too when the old file
 * held more than one certificate) and, with a new key, moves `KEY.next` over
 * the key.
 */
export function installRenewal(certPath: string, keyPath: string, renewed: Renewed): void {
  const old = readFileSync(certPath, "utf8");
  const withChain = (old.match(/-----BEGIN CERTIFICATE-----/g) ?? []).length > 1;
  writeReplacing(certPath, withChain ? [renewed.certificatePem, ...renewed.chainPems].join("") : renewed.certificatePem, statSync(certPath).mode & 0o777);
  if (renewed.privateKeyPem !== undefined) {
    try {
      renameSync(pendingKeyPath(keyPath), keyPath);
    } catch (error) {
      throw ioError("move the new key to", keyPath, error);
    }
  }
}

/**
 * A `KEY.next` left by an earlier run: when it holds the certificate's key
 * (the certificate was installed, the key not yet), it becomes the key;
 * otherwise (the renewal failed before its certificate) it is removed.
 * Returns what it did, for the log, or undefined when there was nothing.
 */
export function finishInterruptedInstall(certPath: string, keyPath: string): string | undefined {
  const pending = pendingKeyPath(keyPath);
  if (!existsSync(pending)) return undefined;
  let matches = false;
  try {
    const certificateSpki = readCertificateDer(certificateDerFromPem(readFileSync(certPath, "utf8"))).spki;
    const pendingSpki = createPublicKey(createPrivateKey(readFileSync(pending, "utf8"))).export({ type: "spki", format: "der" });
    matches = Buffer.from(pendingSpki).equals(Buffer.from(certificateSpki));
  } catch {
    // An unreadable pending key belongs to nothing.
  }
  if (matches) {
    renameSync(pending, keyPath);
    return `finished an interrupted renewal: ${keyPath} now holds the key of ${certPath}`;
  }
  rmSync(pending, { force: true });
  return `removed ${pending}, the key of a renewal that got no certificate`;
}
