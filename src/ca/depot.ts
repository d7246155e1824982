import { existsSync, readFileSync, renameSync, rmSync } from "node:fs";
import { resolve } from "node:path";
import { DepotError, ioError } from "../errors.ts";
import { parseConfig, settingsFromConfig } from "./config.ts";
import { type DistinguishedName, formatDn } from "./dn.ts";
import { fingerprintOf, type Issuer, makeIssuer, pemOf, signLeaf, validityFor } from "./issuer.ts";
import { buildCrl, DEFAULT_CRL_DAYS, type RevocationReason } from "./crl.ts";
import { readCertificateRequest } from "./csr.ts";
import { DEFAULT_KEY_TYPE, KEY_SPECS, type KeyFamily, type KeyType, parseKeyType } from "./key-types.ts";
import { generateKeyPair, type KeyPair } from "./keys.ts";
import { type CaKeyAccess, loadCaKey } from "./ca-key.ts";
import { issuingCa } from "./hierarchy.ts";
import { type DepotLayout, depotLayout } from "./layout.ts";
import { type CertificateRecord, type Ledger, SerialTakenError, SqliteLedger } from "./ledger.ts";
import { adoptLegacyCertificates } from "./legacy.ts";
import { leafExtensions, serverNames } from "./profiles.ts";
import { x509 } from "./provider.ts";
import { certificateFileName, newSerial, parseSerial } from "./serial.ts";
import { CertificateFiles } from "./certificate-files.ts";
import { writeFileAtomic } from "./files.ts";
import { DEFAULT_LEAF_DAYS } from "./defaults.ts";

export const MAX_DAYS = 36_500;

export interface IssueRequest {
  profile: "client" | "server";
  subject: DistinguishedName;
  /** Extra names for a server certificate (DNS names or IP addresses). */
  subjectAltNames?: string[];
  keyType?: KeyType;
  days?: number;
}

export interface SignRequest extends Omit<IssueRequest, "keyType"> {
  /** The subject's public key, SPKI DER. */
  publicKeyDer: Uint8Array<ArrayBuffer>;
  /** For the ledger: rsa-2048, ec-p256, ... */
  keyType: string;
  /** Decides the key usages: only RSA keys may encipher. */
  family: KeyFamily;
}

export interface Crl {
  crlNumber: number;
  pem: string;
  revokedCount: number;
}

export interface Issued {
  serial: string;
  certificatePem: string;
  record: CertificateRecord;
}

/** `CaKeyAccess`: the passphrase of an encrypted CA key, or the key already decrypted (ca-key.ts). */
export interface OpenOptions extends CaKeyAccess {
  /** A server's workers write certificate files after their answers (see certificate-files.ts). */
  deferFiles?: boolean;
  /** Told of a certificate file that could not be written; the issuance stands (default: a line on stderr). */
  onFileError?: (error: unknown) => void;
}

/** An opened depot: its CA, its settings and its ledger. */
export class Depot {
  private readonly files: CertificateFiles;
  /** Issuances under way, so deferred files wait for a quiet moment. */
  private signing = 0;

  private constructor(
    readonly layout: DepotLayout,
    readonly label: string,
    readonly defaultKeyType: KeyType,
    readonly defaultDays: number,
    readonly crlDays: number,
    readonly issuer: Issuer,
    readonly ledger: Ledger,
    options: OpenOptions,
  ) {
    this.files = new CertificateFiles(
      layout.certificatesDir,
      options.deferFiles === true,
      options.onFileError ?? ((error) => console.error(`depot: ${(error as Error).message}; the certificate is in the ledger and its file will be restored at the next server start`)),
    );
  }

  static async open(path: string, options: OpenOptions = {}): Promise<Depot> {
    const layout = depotLayout(resolve(path));
    if (!existsSync(layout.root)) throw new DepotError("E_NOT_A_DEPOT", `${layout.root} does not exist; create a depot with: depot init ${path}`);
    const settings = existsSync(layout.config) ? settingsFromConfig(parseConfig(readText(layout.config))) : undefined;
    if (!settings) {
      throw new DepotError("E_NOT_A_DEPOT", `${layout.root} is not a depot (it needs depot.cnf, private/ca.key and certificates/ca.crt)`);
    }
    // The intermediate in a two-tier depot (hierarchy.ts), else the one CA.
    const issuing = issuingCa(layout);
    const key = await loadCaKey(issuing, options);
    let certificate: x509.X509Certificate;
    try {
      certificate = new x509.X509Certificate(readText(issuing.caCertificate));
    } catch {
      throw new DepotError("E_NOT_A_DEPOT", `${issuing.caCertificate} is not a readable certificate`);
    }
    const ledger = new SqliteLedger(layout.ledger);
    // A depot made by the original has certificates but no ledger: record
    // them first, so their serials are taken before we issue anything.
    if (!(await ledger.hasAdopted())) await adoptLegacyCertificates(ledger, layout, key.type);
    return new Depot(
      layout,
      settings.label,
      settings.keyType ? parseKeyType(settings.keyType) : DEFAULT_KEY_TYPE,
      settings.defaultDays ? parseDays(settings.defaultDays) : DEFAULT_LEAF_DAYS,
      settings.crlDays ? parseDays(settings.crlDays) : DEFAULT_CRL_DAYS,
      await makeIssuer(certificate, key),
      ledger,
      options,
    );
  }

  /** A fresh key pair and a certificate for it. `makeKeys` lets a server hand out pooled keys. */
  async issue(request: IssueRequest, makeKeys: (type: KeyType) => Promise<KeyPair> = generateKeyPair): Promise<Issued & { privateKeyPem: string }> {
    const keyType = request.keyType ?? this.defaultKeyType;
    const keyPair = await makeKeys(keyType);
    const issued = await this.sign({ ...request, keyType, family: KEY_SPECS[keyType].family, publicKeyDer: keyPair.publicKeyDer });
    return { ...issued, privateKeyPem: keyPair.privateKeyPem };
  }

  /**
   * Signs a certificate for a public key and records it. The serial is
   * claimed by the ledger insert itself; in the (2^-128) case that another
   * process took it, we sign again with a new one.
   */
  async sign(request: SignRequest): Promise<Issued> {
    const commonName = request.subject.find((attr) => attr.name === "CN")?.value;
    const names = request.profile === "server" ? serverNames(commonName, request.subjectAltNames ?? []) : [];
    const extensions = leafExtensions(request.profile, request.family, names);
    const days = request.days ?? this.defaultDays;
    this.signing++;
    try {
      return await this.signAndRecord(request, extensions, days);
    } finally {
      this.signing--;
    }
  }

  private async signAndRecord(request: SignRequest, extensions: Uint8Array[], days: number): Promise<Issued> {
    for (let attempt = 1; ; attempt++) {
      const serial = newSerial();
      const validity = validityFor(days);
      this.checkWithinCa(validity.notAfter);
      const certificate = await signLeaf(this.issuer, { serial, subject: request.subject, publicKeyDer: request.publicKeyDer, validity, extensions });
      const pem = pemOf(certificate);
      const record: CertificateRecord = {
        serial,
        subject: formatDn(request.subject),
        type: request.profile,
        keyType: request.keyType,
        ...validity,
        fingerprint: fingerprintOf(certificate),
        pem,
        status: "valid",
      };
      try {
        await this.ledger.record(record);
      } catch (error) {
        if (error instanceof SerialTakenError && attempt < 5) continue;
        throw error;
      }
      this.files.write(serial, pem, this.signing > 1);
      return { serial, certificatePem: pem, record };
    }
  }

  /** A certificate must not outlive the CA that vouches for it, nor come from an expired CA. */
  private checkWithinCa(notAfter: Date): void {
    const caEnd = this.issuer.certificate.notAfter;
    if (caEnd.getTime() <= Date.now()) throw new DepotError("E_BAD_ARGUMENT", `the CA certificate expired on ${caEnd.toISOString()}; it cannot issue`);
    if (notAfter.getTime() > caEnd.getTime()) {
      const daysLeft = Math.floor((caEnd.getTime() - Date.now()) / 86_400_000);
      throw new DepotError("E_BAD_ARGUMENT", `the certificate would outlive the CA (valid until ${caEnd.toISOString().slice(0, 10)}); give --days ${daysLeft} or less`);
    }
  }

  /**
   * Signs a PKCS#10 request: its signature is checked, its subject (and, for
   * a server, its asked-for names) used; the extensions are the profile's,
   * whatever the request asks for, so a request can never get CA:TRUE.
   */
  async signRequest(pem: string, options: { profile: "client" | "server"; days?: number }): Promise<Issued> {
    const requested = await readCertificateRequest(pem);
    return this.sign({
      profile: options.profile,
      subject: requested.subject,
      subjectAltNames: options.profile === "server" ? requested.subjectAltNames : [],
      publicKeyDer: requested.publicKeyDer,
      keyType: requested.keyType,
      family: requested.family,
      ...(options.days ? { days: options.days } : {}),
    });
  }

  /** Marks a certificate revoked and publishes a new CRL. */
  async revoke(serial: string, reason: RevocationReason = "unspecified", crlDays?: number): Promise<{ record: CertificateRecord; crl: Crl }> {
    const record = await this.ledger.revoke(serial, reason, new Date(Math.floor(Date.now() / 1000) * 1000));
    try {
      return { record, crl: await this.publishCrl(crlDays) };
    } catch (error) {
      const why = error instanceof DepotError ? error.message : String((error as Error)?.message ?? error);
      throw new DepotError("E_IO", `revoked ${record.serial.toUpperCase()} in the ledger, but crl.pem was not rewritten (${why}); run: depot crl ${this.layout.root}`);
    }
  }

  /**
   * Signs a new CRL (its number one more than any before) and writes it to
   * crl.pem, unless another process published a newer one meanwhile.
   */
  async publishCrl(crlDays = this.crlDays): Promise<Crl> {
    const thisUpdate = new Date(Math.floor(Date.now() / 1000) * 1000);
    const { crlNumber, revoked } = await this.ledger.claimCrl(thisUpdate);
    const nextUpdate = new Date(thisUpdate.getTime() + crlDays * 86_400_000);
    const pem = await buildCrl(this.issuer, crlNumber, revoked, thisUpdate, nextUpdate);
    const staged = `${this.layout.crl}.${process.pid}.${crlNumber}.tmp`;
    try {
      writeFileAtomic(staged, pem);
      await this.ledger.publishIfNewest(crlNumber, () => renameSync(staged, this.layout.crl));
    } finally {
      rmSync(staged, { force: true }); // Left only when a newer CRL won, or the publish failed.
    }
    return { crlNumber, pem, revokedCount: revoked.length };
  }

  /** The CRL as published in crl.pem. */
  currentCrlPem(): string {
    return readText(this.layout.crl);
  }

  /**
   * Finds a certificate by the serial a person typed: hex as openssl and
   * `depot list` print it (1A2B or 1A:2B), 0x-hex, or the decimal of its file
   * name. Plain digits read both ways; if both readings name a certificate,
   * the caller must say which.
   */
  async findBySerial(text: string): Promise<CertificateRecord> {
    const trimmed = text.trim();
    const fileName = /^([0-9]+)\.crt$/i.exec(trimmed);
    const readings = (
      fileName
        ? [parseSerial(fileName[1]!)] // the decimal of a file name
        : /^0x|:/i.test(trimmed)
          ? [parseSerial(trimmed)] // unmistakably hex
          : [parseSerial(`0x${trimmed}`), /^[0-9]+$/.test(trimmed) ? parseSerial(trimmed) : undefined]
    ).filter((s): s is string => s !== undefined);
    if (readings.length === 0) throw new DepotError("E_BAD_ARGUMENT", `'${text}' is not a serial number (hex like 1A:2B or 1A2B, 0x1a2b, or the decimal of a file name)`);
    const found: CertificateRecord[] = [];
    for (const serial of new Set(readings)) {
      const record = await this.ledger.find(serial);
      if (record) found.push(record);
    }
    if (found.length === 0) throw new DepotError("E_NOT_FOUND", `no certificate with serial ${text} in this depot`);
    if (found.length > 1) {
      throw new DepotError("E_BAD_ARGUMENT", `'${text}' names two certificates: hex ${found[0]!.serial.toUpperCase()} and decimal file ${certificateFileName(found[1]!.serial)}; write 0x${text} or ${text}.crt`);
    }
    return found[0]!;
  }

  /** Restores the file of any recorded certificate that lacks one (after a crash); returns how many. */
  async restoreMissingFiles(): Promise<number> {
    return this.files.restoreMissing(await this.ledger.leafSerials(), async (serial) => (await this.ledger.find(serial))?.pem);
  }

  close(): void {
    this.files.flush();
    this.ledger.close();
  }
}

export function parseDays(text: string | number): number {
  const days = Number(text);
  if (!Number.isInteger(days) || days < 1 || days > MAX_DAYS) {
    throw new DepotError("E_BAD_ARGUMENT", `days must be a whole number from 1 to ${MAX_DAYS}, not '${text}'`);
  }
  return days;
}

function readText(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    throw ioError("read", path, error);
  }
}
