/**
 * @module
 * `depot renew`: once (`renewOnce`), or as a daemon (`runRenewDaemon`) that
 * looks at the certificate file every check interval, renews when
 * `schedule.ts` says it is due, writes the files (`install.ts`), runs
 * `--exec`, backs off on failures, logs one line per event, and stops when
 * its signal is aborted (SIGTERM, SIGINT), after a renewal under way.
 */
import { readFileSync } from "node:fs";
import { certificateDerFromPem, readCertificateDer } from "../ca/certificate-der.ts";
import { serialOfCertificate } from "../ca/certificate-names.ts";
import { DepotError, ioError, messageOf } from "../errors.ts";
import { privateKeyOf, requestRenewal, type Renewed } from "./client.ts";
import { runAfterRenewal } from "./command.ts";
import { finishInterruptedInstall, installRenewal, keepPendingKey } from "./install.ts";
import { checkInterval, nextWakeMs, renewalDue, renewalDueAfterRenewal, retryDelay, type Validity } from "./schedule.ts";

export interface RenewSettings {
  certPath: string;
  keyPath: string;
  server: string;
  caPem?: string;
  newKey: boolean;
  exec?: string;
  log(line: string): void;
}

export interface DaemonSettings extends RenewSettings {
  everyMs?: number;
  renewBeforeMs?: number;
  /** Aborted on SIGTERM/SIGINT. */
  signal: AbortSignal;
  now?: () => Date;
  random?: () => number;
}

interface Current extends Validity {
  serial: string;
}

/** The certificate file's serial and validity. */
export function readCurrent(certPath: string): Current {
  let der: Uint8Array<ArrayBuffer>;
  try {
    der = certificateDerFromPem(readFileSync(certPath, "utf8"));
  } catch (error) {
    throw new DepotError("E_BAD_ARGUMENT", `cannot read a certificate from ${certPath}: ${messageOf(error)}`);
  }
  const { notBefore, notAfter } = readCertificateDer(der);
  return { serial: serialOfCertificate(der).toUpperCase(), notBefore, notAfter };
}

/** Renews now: the request, the files, the command. Resolves with the answer; throws when nothing was installed. */
export async function renewOnce(settings: RenewSettings): Promise<Renewed> {
  const finished = finishInterruptedInstall(settings.certPath, settings.keyPath);
  if (finished) settings.log(finished);
  const old = readCurrent(settings.certPath);
  const renewed = await requestRenewal({
    server: settings.server,
    certificatePem: readFileSync(settings.certPath, "utf8"),
    privateKeyPem: readFileSync(settings.keyPath, "utf8"),
    ...(settings.caPem ? { caPem: settings.caPem } : {}),
    newKey: settings.newKey,
    keepNewKey: (pem) => keepPendingKey(settings.keyPath, pem),
  });
  installRenewal(settings.certPath, settings.keyPath, renewed);
  settings.log(`renewed ${settings.certPath}: serial ${old.serial} -> ${renewed.serial}, valid until ${renewed.notAfter.toISOString()}${renewed.privateKeyPem ? `, new key in ${settings.keyPath}` : ""}`);
  if (settings.exec) {
    const outcome = await runAfterRenewal(settings.exec, { cert: settings.certPath, key: settings.keyPath, serial: renewed.serial });
    settings.log(outcome.line);
  }
  return renewed;
}

/** What must hold before the daemon starts (else it exits, and a service manager says why): both files readable, the key the certificate's. */
function checkFiles(settings: RenewSettings): void {
  const finished = finishInterruptedInstall(settings.certPath, settings.keyPath);
  if (finished) settings.log(finished);
  readCurrent(settings.certPath);
  let keyPem: string;
  try {
    keyPem = readFileSync(settings.keyPath, "utf8");
  } catch (error) {
    throw ioError("read", settings.keyPath, error);
  }
  privateKeyOf(keyPem, readCertificateDer(certificateDerFromPem(readFileSync(settings.certPath, "utf8"))).spki);
}

/** The daemon's loop; resolves once the signal is aborted. Throws at once when the files are unusable; later failures are retried. */
export async function runRenewDaemon(settings: DaemonSettings): Promise<void> {
  checkFiles(settings);
  const now = settings.now ?? (() => new Date());
  const random = settings.random ?? Math.random;
  // One jitter per certificate: drawn again after each renewal.
  let jitter = random();
  let failures = 0;
  let announced = "";
  /** The serial this daemon installed last: not renewed again at once for --renew-before. */
  let installed = "";
  settings.log(`watching ${settings.certPath} (renewing through ${settings.server}); pid ${process.pid}`);
  while (!settings.signal.aborted) {
    let waitMs: number;
    try {
      const current = readCurrent(settings.certPath);
      const due = current.serial === installed ? renewalDueAfterRenewal(current, settings.renewBeforeMs, jitter, now()) : renewalDue(current, settings.renewBeforeMs, jitter);
      if (now() >= due) {
        installed = (await renewOnce(settings)).serial.toUpperCase();
        failures = 0;
        jitter = random();
        continue;
      }
      if (announced !== current.serial) {
        settings.log(`${settings.certPath}: serial ${current.serial} valid until ${current.notAfter.toISOString()}; renewal due at ${due.toISOString()}`);
        announced = current.serial;
      }
      waitMs = nextWakeMs(now(), due, checkInterval(current, settings.everyMs));
    } catch (error) {
      failures++;
      waitMs = retryDelay(failures, settings.everyMs);
      settings.log(`renewal failed (${failures} in a row): ${messageOf(error)}; retrying in ${Math.round(waitMs / 1000)} s`);
    }
    await sleep(waitMs, settings.signal);
  }
  settings.log("stopped");
}

/** Resolves after `ms`, or at once when the signal is aborted. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done);
  });
}
