/**
 * @module
 * What the renewal tests share: certificates issued through a running
 * server's `POST /v1/certificates` (curl, with a token) into files as a
 * host would keep them, certificates recorded with a validity in the past
 * (signed with the library and recorded through the `Ledger`, as the server
 * itself would have: the library has no clock to inject), and reading a
 * certificate file with openssl.
 */
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { issueEntry } from "../src/ca/audit.ts";
import { Depot } from "../src/ca/depot.ts";
import { formatDn, parseDn } from "../src/ca/dn.ts";
import { fingerprintOf, pemOf, signLeaf } from "../src/ca/issuer.ts";
import { generateKeyPair } from "../src/ca/keys.ts";
import type { CertificateRecord } from "../src/ca/ledger.ts";
import { leafExtensions, leafNames } from "../src/ca/profiles.ts";
import { newSerial } from "../src/ca/serial.ts";
import { openssl, run } from "./helpers.ts";

export interface CertificateFiles {
  cert: string;
  key: string;
  serial: string;
}

/** POST /v1/certificates with curl; the certificate (0644) and key (0600) written to `dir/name.crt` and `dir/name.key`. */
export function issueThroughApi(port: number, caFile: string, token: string, body: Record<string, unknown>, dir: string, name: string): CertificateFiles {
  const result = run([
    "curl", "-sS", "--fail-with-body", "--cacert", caFile,
    "-H", `Authorization: Bearer ${token}`, "-H", "Content-Type: application/json",
    "--data-binary", JSON.stringify(body), `https://localhost:${port}/v1/certificates`,
  ]);
  if (result.exitCode !== 0) throw new Error(`issuing ${name} failed: ${result.stdout}${result.stderr}`);
  const answer = JSON.parse(result.stdout) as { certificate: string; privateKey: string; serial: string };
  const files = { cert: join(dir, `${name}.crt`), key: join(dir, `${name}.key`), serial: answer.serial };
  writeFileSync(files.cert, answer.certificate, { mode: 0o644 });
  writeFileSync(files.key, answer.privateKey, { mode: 0o600 });
  chmodSync(files.cert, 0o644);
  return files;
}

/**
 * A server certificate for `cn` valid from `notBefore` to `notAfter` (in the
 * past, for the expiry tests), signed by the depot's CA and recorded in its
 * ledger with its audit record, exactly as an issuance records one.
 */
export async function recordCertificate(depotPath: string, cn: string, notBefore: Date, notAfter: Date, dir: string): Promise<CertificateFiles> {
  const depot = await Depot.open(depotPath);
  try {
    const keys = await generateKeyPair("ec-p256");
    const subject = parseDn(`CN=${cn}`);
    const serial = newSerial();
    const der = await signLeaf(depot.issuer, {
      serial,
      subject,
      publicKeyDer: keys.publicKeyDer,
      validity: { notBefore, notAfter },
      extensions: leafExtensions("server", "ec", leafNames("server", subject, [])),
    });
    const pem = pemOf(der);
    const record: CertificateRecord = { serial, subject: formatDn(subject), type: "server", keyType: "ec-p256", notBefore, notAfter, fingerprint: fingerprintOf(der), pem, status: "valid" };
    await depot.ledger.record(record, issueEntry(record, [], { requester: "test" }));
    const files = { cert: join(dir, `${cn}.crt`), key: join(dir, `${cn}.key`), serial: serial.toUpperCase() };
    writeFileSync(files.cert, pem, { mode: 0o644 });
    writeFileSync(files.key, keys.privateKeyPem, { mode: 0o600 });
    return files;
  } finally {
    depot.close();
  }
}

/** `openssl x509 -noout -<what>` of a certificate file, trimmed. */
export function x509(file: string, ...what: string[]): string {
  const result = openssl(["x509", "-in", file, "-noout", ...what]);
  if (result.exitCode !== 0) throw new Error(`openssl x509 ${what.join(" ")} failed: ${result.stderr}`);
  return result.stdout.trim();
}

/** The serial as openssl prints it (upper-case hex). */
export function serialOf(file: string): string {
  return x509(file, "-serial").replace(/^serial=/, "");
}

/** notAfter - notBefore, ms, as openssl reads them. */
export function lifetimeOf(file: string): number {
  const start = Date.parse(x509(file, "-startdate").replace(/^notBefore=/, ""));
  const end = Date.parse(x509(file, "-enddate").replace(/^notAfter=/, ""));
  return end - start;
}
