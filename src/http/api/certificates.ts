/**
 * @module
 * `/v1/certificates`: issue (a depot-made key, or a CSR), list, show, revoke.
 * Input is checked with the library's own parsers, so a bad name or key type
 * gets the message the CLI prints; then the token's policy (403); only then
 * is a one-time token's use taken and the certificate signed (issue.ts).
 */
import { parseReason } from "../../ca/crl.ts";
import { parseDays } from "../../ca/depot.ts";
import { attribute, type DistinguishedName, parseDn } from "../../ca/dn.ts";
import { parseKeyType } from "../../ca/key-types.ts";
import type { CertificateRecord, CertificateSummary } from "../../ca/ledger.ts";
import { parseSerial } from "../../ca/serial.ts";
import { DepotError } from "../../errors.ts";
import { HttpProblem } from "../problem.ts";
import { requireAdmin } from "./auth.ts";
import { readJsonObject, rejectUnknownFields, stringField } from "./body.ts";
import type { Call } from "./call.ts";
import { askedTemplate, defaultDays, issueWithinPolicy } from "./issue.ts";
import type { ApiServices, StatusFilter } from "./services.ts";

export type { Call } from "./call.ts";

const ISSUE_FIELDS = ["type", "template", "subject", "cn", "email", "uid", "san", "keyType", "days", "csr", "format", "password"] as const;
const SUBJECT_FIELDS = ["subject", "cn", "email", "uid", "san", "keyType"] as const;

/** The formats of a depot-made key: PEM, or PKCS#12 (key, certificate and CA in one file, base64, protected by `password`). */
const FORMATS = ["pem", "pkcs12"] as const;

const bad = (detail: string) => new HttpProblem(400, detail, { slug: "bad-request" });

export async function issueCertificate(call: Call): Promise<Response> {
  const { services, token } = call;
  const body = await readJsonObject(call.request);
  rejectUnknownFields(body, ISSUE_FIELDS);
  const format = stringField(body, "format") ?? "pem";
  if (!(FORMATS as readonly string[]).includes(format)) throw bad(`format '${format}' is not available (formats: ${FORMATS.join(", ")})`);
  const password = stringField(body, "password");
  if (format === "pkcs12" && !password) throw bad("format pkcs12 needs a password (it protects the key in the file)");
  if (format !== "pkcs12" && password !== undefined) throw bad("password is for format pkcs12");
  if (format === "pkcs12" && body.csr !== undefined) throw bad("format pkcs12 is for a key depot makes; with csr the key stays with you");
  const template = askedTemplate(call, stringField(body, "template"));
  const typeText = stringField(body, "type") ?? template?.base ?? token.policy.type;
  if (typeText !== "client" && typeText !== "server") throw bad(typeText === undefined ? "missing type (client or server)" : `unknown type '${typeText}' (client or server)`);
  const type: "client" | "server" = typeText;
  if (template && template.base !== type) throw bad(`template '${template.name}' makes ${template.base} certificates; leave out type, or give ${template.base}`);
  const daysField = body.days;
  if (daysField !== undefined && typeof daysField !== "number" && typeof daysField !== "string") throw bad("days must be a number");
  const days = daysField !== undefined ? parseDays(daysField) : defaultDays(call, template);
  const csrPem = stringField(body, "csr");

  let subject: DistinguishedName;
  let sans: string[];
  let keyType: string;
  let requested: Awaited<ReturnType<ApiServices["readCsr"]>> | undefined;
  if (csrPem !== undefined) {
    const extra = SUBJECT_FIELDS.find((field) => body[field] !== undefined);
    if (extra) throw bad(`with csr, the subject, names and key come from the request; leave out ${extra}`);
    requested = await services.readCsr(csrPem);
    subject = requested.subject;
    sans = type === "server" ? requested.subjectAltNames : [];
    keyType = requested.keyType;
  } else {
    subject = subjectFrom(body);
    sans = sanList(body.san);
    if (type === "client" && sans.length > 0) throw bad("san is for server certificates (type server)");
    const keyTypeText = stringField(body, "keyType");
    keyType = keyTypeText === undefined ? services.defaultKeyType : parseKeyType(keyTypeText);
  }
  const issued = await issueWithinPolicy(call, { profile: type, ...(template ? { template } : {}), subject, subjectAltNames: sans, keyType, days, face: "api", ...(requested ? { requested } : {}) });
  const privateKeyPem = issued.privateKeyPem;
  const answer = {
    ...summary(issued.record),
    certificate: issued.certificatePem,
    chain: [services.caPem],
    ...(privateKeyPem === undefined
      ? {}
      : format === "pkcs12"
        ? { pkcs12: await pkcs12Of(privateKeyPem, issued.certificatePem, services.bundlePems ?? [services.caPem], subject, password!) }
        : { privateKey: privateKeyPem }),
  };
  return json(answer, 201, { location: `/v1/certificates/${issued.record.serial.toUpperCase()}` });
}

export async function listCertificates(call: Call): Promise<Response> {
  requireAdmin(call.token, "listing certificates");
  const params = call.url.searchParams;
  for (const key of params.keys()) if (!["status", "limit", "cursor"].includes(key)) throw bad(`unknown query parameter '${key.slice(0, 40)}' (known: status, limit, cursor)`);
  const status = params.get("status") ?? undefined;
  if (status !== undefined && !["valid", "revoked", "expired"].includes(status)) throw bad(`unknown status '${status.slice(0, 40)}' (valid, revoked or expired)`);
  const limitText = params.get("limit") ?? "100";
  const limit = Number(limitText);
  if (!/^\d+$/.test(limitText) || limit < 1 || limit > 1000) throw bad("limit must be a whole number from 1 to 1000");
  const page = await call.services.page(status as StatusFilter | undefined, params.get("cursor") ?? undefined, limit, call.now);
  return json({ certificates: page.certificates.map((record) => summary(record)), ...(page.next ? { next: page.next } : {}) }, 200);
}

export async function showCertificate(call: Call, serialText: string): Promise<Response> {
  const record = await findCertificate(call, serialText);
  return json({ ...summary(record), certificate: record.pem, chain: [call.services.caPem] }, 200);
}

export async function revokeCertificate(call: Call, serialText: string): Promise<Response> {
  requireAdmin(call.token, "revoking certificates");
  const body = await readJsonObject(call.request, true);
  rejectUnknownFields(body, ["reason"]);
  const reason = parseReason(stringField(body, "reason") ?? "unspecified");
  const { serial } = await findCertificate(call, serialText);
  const { record, crlNumber } = await call.services.revoke(serial, reason, call.requester);
  return json({ ...summary(record), crlNumber }, 200);
}

/** The serial as the API gives it back: hex, colons optional. */
async function findCertificate(call: Call, text: string): Promise<CertificateRecord> {
  const serial = parseSerial(text.includes(":") ? text : `0x${text}`);
  if (!serial) throw bad(`'${text.slice(0, 80)}' is not a serial number (hex, as the API returns it)`);
  const record = await call.services.find(serial);
  if (!record || record.type === "ca") throw new HttpProblem(404, `no certificate with serial ${text.toUpperCase().slice(0, 80)} in this depot`, { slug: "not-found" });
  return record;
}

export function summary(record: CertificateSummary) {
  return {
    serial: record.serial.toUpperCase(),
    type: record.type,
    ...(record.template ? { template: record.template } : {}),
    subject: record.subject,
    keyType: record.keyType,
    notBefore: record.notBefore.toISOString(),
    notAfter: record.notAfter.toISOString(),
    status: record.status,
    ...(record.revokedAt ? { revokedAt: record.revokedAt.toISOString(), revocationReason: record.revocationReason } : {}),
    fingerprint: record.fingerprint,
  };
}

export function json(value: unknown, status: number, headers: Record<string, string> = {}): Response {
  return new Response(`${JSON.stringify(value)}\n`, { status, headers: { "content-type": "application/json", "cache-control": "no-store", ...headers } });
}

/** `subject` first, then `uid`, `cn` and `email`, in the CLI's order. */
function subjectFrom(body: Record<string, unknown>): DistinguishedName {
  const subjectText = stringField(body, "subject");
  const subject = subjectText === undefined ? [] : parseDn(subjectText);
  for (const [field, name] of [["uid", "UID"], ["cn", "CN"], ["email", "emailAddress"]] as const) {
    const value = stringField(body, field);
    if (value !== undefined) subject.push(attribute(name, value));
  }
  if (subject.length === 0) throw new DepotError("E_BAD_DN", "give a subject: cn, email, uid or subject");
  return subject;
}

function sanList(value: unknown): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || value.some((v) => typeof v !== "string")) throw bad("san must be a list of strings");
  if (value.length > 100) throw bad("san lists at most 100 names");
  return value as string[];
}

/** The key, certificate and CA certificate as one PKCS#12 file, base64 (loaded only when asked for). */
async function pkcs12Of(privateKeyPem: string, certificatePem: string, caPems: string[], subject: DistinguishedName, password: string): Promise<string> {
  const { makePkcs12 } = await import("../../ca/pkcs12.ts");
  const friendlyName = subject.find((a) => a.name === "CN")?.value;
  const der = makePkcs12({ privateKeyPem, certificatePem, chainPems: caPems, password, ...(friendlyName ? { friendlyName } : {}) });
  return Buffer.from(der).toString("base64");
}
