/**
 * @module
 * `Depot`: an opened depot, its CA, settings and ledger; issuing, signing,
 * revoking and publishing the CRL.
 */
import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { DepotError, ioError, messageOf } from "../errors.ts";
import { type DistinguishedName, formatDn } from "./dn.ts";
import { DAY_MS, fingerprintOf, type Issuer, makeIssuer, pemOf, signLeaf, validityFor } from "./issuer.ts";
import { DEFAULT_CRL_DAYS, type RevocationReason } from "./crl.ts";
import { type Crl, CrlPublisher } from "./crl-publisher.ts";
import { DEFAULT_KEY_TYPE, KEY_SPECS, type KeyFamily, type KeyType, parseKeyType } from "./key-types.ts";
import { generateKeyPair, type KeyPair } from "./keys.ts";
import { type CaKeyAccess, loadCaKey } from "./ca-key.ts";
import { bundlePems, chainPem, issuingCa } from "./tiers.ts";
import { type DepotLayout, depotLayout } from "./layout.ts";
import { type AuditActor, issueEntry, LIBRARY_ACTOR, type WebhookNotes } from "./audit.ts";
import { addedExtensionsDer, type GateRequest, type IssuanceFace, type IssuanceGate, passGate, withAddedNames } from "./issuance-gate.ts";
import { type CertificateRecord, type Ledger, ledgerOpenerOr, type OpenLedger, type RecordTerms, SerialCollisionError } from "./ledger.ts";
import { writeLedgerMarker } from "./ledger/marker.ts";
import { leafNames, type Profile, type SubjectAltName } from "./profiles.ts";
import { checkTemplateNames, type Template, templateDays, type Templates } from "./templates.ts";
import { templateExtensions } from "./template-extensions.ts";
import { certificateDerFromPem, type CertificateFields, readCertificateDer } from "./certificate-der.ts";
import { certificateFileName, newSerial, parseSerial } from "./serial.ts";
import { CertificateFiles } from "./certificate-files.ts";
import { DEFAULT_LEAF_DAYS, MAX_DAYS } from "./defaults.ts";
import { parsePublicUrl, publicationExtensions } from "./public-url.ts";
import { crlChangeReporter, type CrlPublished } from "./crl-change.ts";
import { readDepotConfig, refuseReadableKey, refuseSymlinks } from "./depot-checks.ts";

export type { Crl } from "./crl-publisher.ts";

export { MAX_DAYS };

export interface IssueRequest {
  /** client or server: the built-in template of that name, or the base of `template`. */
  profile: Profile;
  /** A template of depot.cnf (or a built-in's name); absent: the built-in named by `profile`. Its base must be `profile`. */
  template?: string;
  subject: DistinguishedName;
  /** Extra names for a server certificate (DNS names or IP addresses). */
  subjectAltNames?: string[];
  keyType?: KeyType;
  /** Validity; absent: the template's days, else the depot's default. More than the template's days is refused. */
  days?: number;
  /** Who asked, for the audit record written with the ledger row (default: `library`). */
  requester?: AuditActor;
  /** The face the request came in by, for the issuance gate (default: `library`). */
  face?: IssuanceFace;
  /**
   * The face's own policy (a token's names, ACME's allowed names), run
   * again on every name after the enrich webhook added some: a webhook
   * cannot widen what the requester may have. Throws to refuse.
   */
  withinPolicy?: (names: SubjectAltName[]) => void | Promise<void>;
  /** Extension OIDs the enrich webhook may add to this certificate (default: the depot's, `OpenOptions.enrichableExtensions`). */
  enrichableExtensions?: readonly string[];
  /** What commits with the row, in its transaction: a condition (the asking token is still unrevoked; refused: nothing is recorded), the ACME order it finalizes. */
  recordTerms?: RecordTerms;
}

export interface SignRequest extends Omit<IssueRequest, "keyType"> {
  /** The subject's public key, SPKI DER. */
  publicKeyDer: Uint8Array<ArrayBuffer>;
  /** For the ledger: rsa-2048, ec-p256, ... */
  keyType: string;
  /** Decides the key usages: only RSA keys may encipher. */
  family: KeyFamily;
}

export interface Issued {
  serial: string;
  certificatePem: string;
  record: CertificateRecord;
}

/** `CaKeyAccess`: the passphrase of an encrypted CA key, or the key already decrypted (ca-key.ts). */
export interface OpenOptions extends CaKeyAccess {
  /** The ledger to use instead of the one depot.cnf names (tests, or a caller that opened it already). */
  ledger?: Ledger;
  /** Opens the ledger depot.cnf names (src/store/open-ledger.ts; `openDepot` passes it); default: the installed one. */
  openLedger?: OpenLedger;
  /** A server's workers write certificate files after their answers (see certificate-files.ts). */
  deferFiles?: boolean;
  /** `elsewhere` in a server's workers: the upkeep process checkpoints the SQLite WAL (ledger.ts). */
  walCheckpoints?: "here" | "elsewhere";
  /** Told of a certificate file that could not be written; the issuance stands (default: a line on stderr). */
  onFileError?: (error: unknown) => void;
  /** The plain-HTTP base URL for AIA and CDP (`start --public-url`); default: depot.cnf's public_url. */
  publicUrl?: string;
  /**
   * Told after this process renamed a new crl.pem into place. Default: run
   * depot.cnf's on_crl_change command, if any, and print how it ended.
   */
  onCrlPublished?: (published: CrlPublished) => void | Promise<void>;
  /** Told of each certificate recorded and each revocation recorded, by any face of a server (the worker's metrics count them). */
  onRecorded?: (event: { issued: CertificateRecord } | { revoked: CertificateRecord }) => void;
  /** Asked before every issuance (a server's authorize and enrich webhooks); none: every issuance goes ahead as asked. */
  gate?: IssuanceGate;
  /** Extension OIDs the gate may add when a request names none of its own (`start --webhook-extension`); default none. */
  enrichableExtensions?: readonly string[];
}

/** An opened depot: its CA, its settings and its ledger. */
export class Depot {
  private readonly files: CertificateFiles;
  private readonly crls: CrlPublisher;
  /** Issuances under way, so deferred files wait for a quiet moment. */
  private signing = 0;
  /** The plain-HTTP base URL certificates point to (AIA, CDP), if any. */
  publicUrl: string | undefined;
  /** depot.cnf's on_crl_change command, if any. */
  crlChangeCommand: string | undefined;
  /** AIA and CDP (DER) added to every leaf when a public URL is set. */
  private publicationExtensions: Uint8Array[] = [];
  private onCrlPublished: OpenOptions["onCrlPublished"];
  private onRecorded: OpenOptions["onRecorded"];
  /** Asked before every issuance, X.509 and SSH (issuance-gate.ts); undefined: none. */
  gate: IssuanceGate | undefined;
  /** What the gate may add when a request does not say. */
  private enrichableExtensions: readonly string[] = [];

  private constructor(
    readonly layout: DepotLayout,
    readonly label: string,
    readonly defaultKeyType: KeyType,
    readonly defaultDays: number,
    readonly crlDays: number,
    readonly issuer: Issuer,
    readonly ledger: Ledger,
    /** The built-in templates and depot.cnf's (templates.ts). */
    readonly templates: Templates,
    options: OpenOptions,
  ) {
    this.files = new CertificateFiles(
      layout.certificatesDir,
      options.deferFiles === true,
      options.onFileError ?? ((error) => console.error(`depot: ${messageOf(error)}; the certificate is in the ledger and its file will be restored at the next server start`)),
    );
    this.crls = new CrlPublisher(layout, issuer, ledger, crlDays, (published) => this.onCrlPublished?.(published));
  }

  /**
   * Opens the depot at `path`. Refused, each with its own message: a path
   * inside the depot that is a symbolic link, a CA key readable by group or
   * others, an unreadable depot.cnf, a ca.crt that does not hold the CA
   * key's public key, a lost ledger (see ledger.ts).
   */
  static async open(path: string, options: OpenOptions = {}): Promise<Depot> {
    const layout = depotLayout(resolve(path));
    if (!existsSync(layout.root)) throw new DepotError("E_NOT_A_DEPOT", `${layout.root} does not exist; create a depot with: depot init ${path}`);
    refuseSymlinks(layout);
    const { settings, templates } = readDepotConfig(layout);
    refuseReadableKey(layout);
    // The intermediate in a two-tier depot (tiers.ts), else the one CA.
    const issuing = issuingCa(layout);
    const key = await loadCaKey(issuing, options);
    const issuer = makeIssuer(readCaCertificate(issuing.caCertificate), key, issuing.caCertificate);
    const ledger = options.ledger ?? (await ledgerOpenerOr(options.openLedger)(layout, settings, options.walCheckpoints ? { walCheckpoints: options.walCheckpoints } : {}));
    try {
      // A depot made by the original has certificates but no ledger: record
      // them first, so their serials are taken before we issue anything.
      if (!(await ledger.hasAdopted())) {
        // Loaded only here: reading the original's files takes @peculiar/x509, which a server's processes otherwise never load.
        const { adoptLegacyCertificates } = await import("./legacy.ts");
        await adoptLegacyCertificates(ledger, layout, key.type);
      }
      writeLedgerMarker(layout);
      const depot = new Depot(
        layout,
        settings.label,
        settings.keyType ? parseKeyType(settings.keyType) : DEFAULT_KEY_TYPE,
        settings.defaultDays ? parseDays(settings.defaultDays) : DEFAULT_LEAF_DAYS,
        settings.crlDays ? parseDays(settings.crlDays) : DEFAULT_CRL_DAYS,
        issuer,
        ledger,
        templates,
        options,
      );
      const publicUrl = options.publicUrl ?? settings.publicUrl;
      if (publicUrl) {
        depot.publicUrl = parsePublicUrl(publicUrl);
        depot.publicationExtensions = publicationExtensions(depot.publicUrl);
      }
      depot.crlChangeCommand = settings.onCrlChange;
      depot.onRecorded = options.onRecorded;
      depot.gate = options.gate;
      depot.enrichableExtensions = options.enrichableExtensions ?? [];
      depot.onCrlPublished = options.onCrlPublished ?? crlChangeReporter(settings.onCrlChange);
      return depot;
    } catch (error) {
      if (!options.ledger) ledger.close();
      throw error;
    }
  }

  /** A fresh key pair and a certificate for it. `makeKeys` lets a server hand out pooled keys. */
  async issue(request: IssueRequest, makeKeys: (type: KeyType) => Promise<KeyPair> = generateKeyPair): Promise<Issued & { privateKeyPem: string }> {
    const keyType = request.keyType ?? this.defaultKeyType;
    const keyPair = await makeKeys(keyType);
    const issued = await this.signPublicKey({ ...request, keyType, family: KEY_SPECS[keyType].family, publicKeyDer: keyPair.publicKeyDer });
    return { ...issued, privateKeyPem: keyPair.privateKeyPem };
  }

  /**
   * Signs a certificate for a public key and records it. The gate (if any)
   * is asked first, once the request is known to be signable: a denial or a
   * gate that cannot decide throws before a serial is drawn. Names the
   * enrich webhook adds go into the SAN (after the face's policy passes
   * them again) and the audit record; its extensions after depot's own.
   * The serial is claimed by the ledger insert itself; in the (2^-128)
   * case that another process took it, we sign again with a new one.
   */
  async signPublicKey(request: SignRequest): Promise<Issued> {
    const template = this.templates.resolve(request.template, request.profile);
    const names = leafNames(template.base, request.subject, request.subjectAltNames ?? []);
    // The template's own rules, on top of any token's (a policy refusal: 403, an ERROR line).
    checkTemplateNames(template, request.subject, names);
    const days = templateDays(template, request.days, this.defaultDays);
    // A request that cannot be signed is refused before the webhooks hear of it (signAndRecord checks again, at signing time).
    if (this.gate) this.checkWithinCa(validityFor(days).notAfter);
    const decision = await passGate(this.gate, this.ledger.audit, this.gateRequest(request, template, names, days));
    const allNames = withAddedNames(names, decision.addNames);
    if (allNames.length > names.length) {
      // Names a webhook adds stay within the face's policy and the template's rules.
      await request.withinPolicy?.(allNames);
      checkTemplateNames(template, request.subject, allNames);
    }
    const added = addedExtensionsDer(decision.addExtensions, request.enrichableExtensions ?? [...this.enrichableExtensions, ...template.enrichableExtensions], template.extensions.map((e) => e.oid));
    const extensions = [...templateExtensions(template, request.family, allNames), ...this.publicationExtensions, ...added];
    const webhooks = Object.keys(decision.notes).length > 0 ? decision.notes : undefined;
    this.signing++;
    try {
      const recorded = decision.addNames.length > 0 ? { ...request, subjectAltNames: auditedNames(request.subjectAltNames, decision.addNames) } : request;
      return await this.signAndRecord(recorded, template.builtIn ? undefined : template.name, extensions, days, webhooks);
    } finally {
      this.signing--;
    }
  }

  /** The issuance as the gate is shown it: the names the certificate would carry, who asked, by which face, under which template. */
  private gateRequest(request: SignRequest, template: Template, names: SubjectAltName[], days: number): GateRequest {
    const actor = request.requester ?? LIBRARY_ACTOR;
    return {
      face: request.face ?? "library",
      profile: template.base,
      ...(template.builtIn ? {} : { template: template.name }),
      subject: formatDn(request.subject),
      subjectAltNames: names,
      keyType: request.keyType,
      days,
      requester: actor.requester,
      ...(actor.client ? { client: actor.client } : {}),
    };
  }

  /** `template`: the name recorded with the row, for depot.cnf's templates (a built-in's is the row's type). */
  private async signAndRecord(request: SignRequest, template: string | undefined, extensions: Uint8Array[], days: number, webhooks: WebhookNotes | undefined): Promise<Issued> {
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
        ...(template ? { template } : {}),
        keyType: request.keyType,
        ...validity,
        fingerprint: fingerprintOf(certificate),
        pem,
        status: "valid",
      };
      try {
        await this.ledger.record(record, issueEntry(record, request.subjectAltNames, request.requester, webhooks), request.recordTerms);
      } catch (error) {
        if (error instanceof SerialCollisionError && attempt < 5) continue;
        throw error;
      }
      this.files.write(serial, pem, this.signing > 1);
      this.onRecorded?.({ issued: record });
      return { serial, certificatePem: pem, record };
    }
  }

  /** A certificate must not outlive the CA that vouches for it, nor come from an expired CA. */
  private checkWithinCa(notAfter: Date): void {
    const caEnd = this.issuer.certificate.notAfter;
    if (caEnd.getTime() <= Date.now()) throw new DepotError("E_BAD_ARGUMENT", `the CA certificate expired on ${caEnd.toISOString()}; it cannot issue`);
    if (notAfter.getTime() > caEnd.getTime()) {
      const daysLeft = Math.floor((caEnd.getTime() - Date.now()) / DAY_MS);
      throw new DepotError("E_BAD_ARGUMENT", `the certificate would outlive the CA (valid until ${caEnd.toISOString().slice(0, 10)}); give --days ${daysLeft} or less`);
    }
  }

  /**
   * Signs a PKCS#10 request: its signature is checked, its subject (and, for
   * a server, its asked-for names) used; the extensions are the profile's,
   * whatever the request asks for, so a request can never get CA:TRUE.
   */
  async signCsr(pem: string, options: { profile: Profile; template?: string; days?: number; requester?: AuditActor; face?: IssuanceFace }): Promise<Issued> {
    // Loaded on the first request to sign: parsing and checking a CSR takes @peculiar/x509.
    const { readCertificateRequest } = await import("./csr.ts");
    const requested = await readCertificateRequest(pem);
    return this.signPublicKey({
      profile: options.profile,
      ...(options.template ? { template: options.template } : {}),
      subject: requested.subject,
      subjectAltNames: options.profile === "server" ? requested.subjectAltNames : [],
      publicKeyDer: requested.publicKeyDer,
      keyType: requested.keyType,
      family: requested.family,
      ...(options.days ? { days: options.days } : {}),
      ...(options.requester ? { requester: options.requester } : {}),
      ...(options.face ? { face: options.face } : {}),
    });
  }

  /**
   * Marks a certificate revoked in the ledger and, unless `publish` is
   * false, publishes a CRL that lists it before returning (what
   * `depot revoke` promises). With `publish: false` it only records the
   * revocation, in milliseconds whatever the CRL's size; `refreshCrl`, run
   * by the server's upkeep, publishes it. A certificate already revoked is
   * still an E_ALREADY_REVOKED error, but first the CRL is republished if it
   * lags behind the ledger (an earlier revoke killed before its CRL).
   */
  async revoke(serial: string, reason?: RevocationReason, options?: { crlDays?: number; publish?: true; requester?: AuditActor }): Promise<{ record: CertificateRecord; crl: Crl }>;
  async revoke(serial: string, reason: RevocationReason, options: { crlDays?: number; publish: false; requester?: AuditActor }): Promise<{ record: CertificateRecord; crl: undefined }>;
  async revoke(serial: string, reason: RevocationReason, options: { crlDays?: number; publish?: boolean; requester?: AuditActor }): Promise<{ record: CertificateRecord; crl: Crl | undefined }>;
  async revoke(
    serial: string,
    reason: RevocationReason = "unspecified",
    options: { crlDays?: number; publish?: boolean; requester?: AuditActor } = {},
  ): Promise<{ record: CertificateRecord; crl: Crl | undefined }> {
    const publish = options.publish !== false;
    let record: CertificateRecord;
    try {
      record = await this.ledger.revoke(serial, reason, new Date(Math.floor(Date.now() / 1000) * 1000), options.requester);
    } catch (error) {
      if (publish && error instanceof DepotError && error.code === "E_ALREADY_REVOKED") await this.refreshCrl().catch(() => undefined);
      throw error;
    }
    this.onRecorded?.({ revoked: record });
    if (!publish) return { record, crl: undefined };
    try {
      return { record, crl: await this.publishCrl(options.crlDays) };
    } catch (error) {
      throw new DepotError(
        "E_IO",
        `revoked ${record.serial.toUpperCase()} in the ledger, but crl.pem was not rewritten (${messageOf(error)}); the next depot revoke, depot crl or server start publishes it, or run: depot crl ${this.layout.root}`,
        { cause: error },
      );
    }
  }

  /** Signs a new CRL (its number one more than any before) listing every revocation so far, and writes it to crl.pem. */
  publishCrl(crlDays = this.crlDays): Promise<Crl> {
    return this.crls.publish(crlDays);
  }

  /**
   * Publishes a CRL if one is due: the ledger holds revocations the
   * published CRL lacks, crl.pem is missing, or less than half of its
   * validity is left. Otherwise returns undefined. Calls that overlap in one
   * process share one publication.
   */
  refreshCrl(now = Date.now()): Promise<Crl | undefined> {
    return this.crls.refresh(now);
  }

  /**
   * The CRL in crl.pem, for a server to hand out: only if it is a regular
   * file (never a symbolic link) holding a CRL this CA signed; checked once
   * per change of the file. Errors name no absolute path (they may reach clients).
   */
  currentCrlPem(): string {
    return this.crls.published();
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

  /** What a leaf's holder sends after its certificate: the intermediate in a two-tier depot, else nothing (tiers.ts). */
  get chainPem(): string {
    return (this.chain ??= chainPem(this.layout));
  }
  private chain: string | undefined;

  /** The CA certificates a PKCS#12 bundle carries: the issuer, then the root in a two-tier depot (tiers.ts). */
  get bundlePems(): string[] {
    return bundlePems(this.layout);
  }

  close(): void {
    this.files.flush();
    this.ledger.close();
  }
}

/** The audit record's `sans`: the names asked for, then those the enrich webhook added. */
function auditedNames(asked: string[] = [], added: SubjectAltName[]): string[] {
  return [...asked, ...added.map((name) => name.value).filter((value) => !asked.includes(value))];
}

export function parseDays(text: string | number): number {
  const days = Number(text);
  if (!Number.isInteger(days) || days < 1 || days > MAX_DAYS) {
    throw new DepotError("E_BAD_ARGUMENT", `days must be a whole number from 1 to ${MAX_DAYS}, not '${text}'`);
  }
  return days;
}

/** The issuing CA's certificate, read without @peculiar/x509 (certificate-der.ts). */
function readCaCertificate(path: string): CertificateFields {
  const pem = readText(path);
  try {
    return readCertificateDer(certificateDerFromPem(pem));
  } catch {
    throw new DepotError("E_NOT_A_DEPOT", `${path} is not a readable certificate`);
  }
}

function readText(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    throw ioError("read", path, error);
  }
}
