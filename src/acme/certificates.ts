/**
 * @module The certificate end of ACME: finalize (RFC 8555 7.4: a CSR that
 * names exactly the order's identifiers, signed by the depot as a server
 * certificate), download as application/pem-certificate-chain, revokeCert
 * (7.6) and renewalInfo (RFC 9773).
 */

import { createHash, X509Certificate } from "node:crypto";
import { REVOCATION_REASONS, type RevocationReason } from "../ca/crl.ts";
import { readCertificateRequestDer, type RequestedCertificate } from "../ca/csr.ts";
import { DepotError } from "../errors.ts";
import { magnitudeHex } from "../ca/serial.ts";
import { parseCertId, renewalWindow } from "./ari.ts";
import type { Answer, Shared, Urls } from "./context.ts";
import type { SignedRequest } from "./jws.ts";
import { checkPolicy, effectiveStatus, orderJson, ownedOrder } from "./orders.ts";
import type { SubjectAltName } from "../ca/profiles.ts";
import { canonicalIp } from "./policy.ts";
import { problem } from "./problem.ts";
import type { Account, Identifier, Order } from "./types.ts";

export async function finalize(shared: Shared, urls: Urls, request: SignedRequest, id: string): Promise<Answer> {
  const order = await ownedOrder(shared, request, id);
  const status = await effectiveStatus(shared, order);
  // "processing": a finalize of an earlier version claimed it and died or is still at it; the ledger lets only one record finish it.
  if (status !== "ready" && status !== "processing") throw problem("orderNotReady", `the order is ${status}, not ready: every authorization must be valid first`);
  const payload = request.payload as { csr?: unknown } | undefined;
  if (typeof payload?.csr !== "string") throw problem("malformed", "finalize needs a csr (base64url DER)");
  const csr = await readCsr(payload.csr);
  checkCsrNames(csr, order);
  if (request.signedWith(csr.publicKeyDer)) throw problem("badCSR", "the certificate's key must not be the account key");

  // No claim first: the certificate's row commits only while the order is
  // still open, and makes it valid in the same transaction (RecordTerms).
  // Of two finalizes that raced, the second signs for nothing, records
  // nothing, and answers the order as the first left it.
  let serial: string;
  try {
    ({ serial } = await shared.issuer.issue({
      publicKeyDer: csr.publicKeyDer,
      keyType: csr.keyType,
      family: csr.family,
      identifiers: order.identifiers,
      ...commonNameFor(csr, order),
      days: shared.settings.days,
      requester: `acme:${order.accountId}`,
      ...clientOf(request),
      // Names the enrich webhook adds must pass the order's policy too; the CSR's are the order's, checked at newOrder.
      ...(request.account ? { withinPolicy: withinOrderPolicy(shared, request.account) } : {}),
      orderId: id,
    }));
  } catch (error) {
    if (!(error instanceof DepotError && error.code === "E_ORDER_SETTLED")) throw error;
    const current = (await shared.store.order(id))!;
    return { status: 200, body: await orderJson(shared, urls, current), headers: { Location: urls.order(id) } };
  }
  // As the row's transaction left it; nothing changes a valid order, so it need not be read back.
  const { processingSince: _since, processingBy: _by, ...unclaimed } = order;
  const done: Order = { ...unclaimed, status: "valid", certificateSerial: serial };
  return { status: 200, body: await orderJson(shared, urls, done), headers: { Location: urls.order(id) } };
}

/** The names a certificate would carry, held to --acme-allow and the account's binding as newOrder held the order's identifiers. */
function withinOrderPolicy(shared: Shared, account: Account): (names: SubjectAltName[]) => Promise<void> {
  return (names) =>
    checkPolicy(
      shared,
      account,
      names.filter((name) => name.type !== "email").map((name): Identifier => (name.type === "ip" ? { type: "ip", value: canonicalIp(name.value) } : { type: "dns", value: name.value })),
    );
}

/** The client's address for the audit record, when the listener can tell it. */
function clientOf(request: SignedRequest): { client?: string } {
  const address = request.clientAddress?.();
  return address ? { client: address } : {};
}

async function readCsr(base64url: string): Promise<RequestedCertificate> {
  try {
    return await readCertificateRequestDer(new Uint8Array(Buffer.from(base64url, "base64url")), { allowEmptySubject: true });
  } catch (error) {
    if (error instanceof DepotError) throw problem("badCSR", error.message);
    throw error;
  }
}

const key = (id: Identifier) => `${id.type}:${id.value}`;

/** RFC 8555 7.4: the CSR's names (its SAN, and its CN if any) are exactly the order's identifiers. */
function checkCsrNames(csr: RequestedCertificate, order: Order): void {
  const asked = new Set(csr.subjectAltNames.map((name) => key(nameToIdentifier(name))));
  const commonName = csr.subject.find((a) => a.name === "CN")?.value;
  if (commonName !== undefined) asked.add(key(nameToIdentifier(commonName)));
  const ordered = new Set(order.identifiers.map(key));
  const extra = [...asked].filter((n) => !ordered.has(n)).map((n) => n.slice(n.indexOf(":") + 1));
  const missing = [...ordered].filter((n) => !asked.has(n)).map((n) => n.slice(n.indexOf(":") + 1));
  if (extra.length > 0 || missing.length > 0) {
    const parts = [extra.length ? `names ${extra.join(", ")} that the order does not` : "", missing.length ? `lacks ${missing.join(", ")}` : ""].filter(Boolean);
    throw problem("badCSR", `the CSR ${parts.join(" and ")}; it must name exactly the order's identifiers`);
  }
}

function nameToIdentifier(name: string): Identifier {
  const bare = name.replace(/^\[|\]$/g, "");
  return /^[0-9.]+$/.test(bare) || bare.includes(":") ? { type: "ip", value: safeIp(bare) } : { type: "dns", value: name.toLowerCase() };
}

const safeIp = (text: string) => {
  try {
    return canonicalIp(text);
  } catch {
    return text;
  }
};

function commonNameFor(csr: RequestedCertificate, order: Order): { commonName?: string } {
  const asked = csr.subject.find((a) => a.name === "CN")?.value;
  const name = asked ?? order.identifiers.find((id) => id.type === "dns")?.value ?? order.identifiers[0]!.value;
  return name.length <= 64 ? { commonName: name } : {};
}

export async function certificateResource(shared: Shared, request: SignedRequest, serial: string): Promise<Answer> {
  const order = await shared.store.orderBySerial(serial);
  if (!order) throw problem("malformed", `no certificate ${serial}`, { status: 404 });
  if (order.accountId !== request.account!.id) throw problem("unauthorized", "this certificate was ordered by another account");
  const record = await shared.issuer.find(serial);
  if (!record) throw problem("serverInternal", `certificate ${serial} is not in the ledger`);
  return { status: 200, pem: `${record.pem.trim()}\n${shared.issuer.chainPem}` };
}

/** RFC 5280 reason codes depot records (crl.ts); the rest are refused with badRevocationReason. */
const REASON_CODES: Record<number, RevocationReason> = { 0: "unspecified", 1: "keyCompromise", 3: "affiliationChanged", 4: "superseded", 5: "cessationOfOperation" };

export async function revokeCert(shared: Shared, request: SignedRequest): Promise<Answer> {
  const payload = request.payload as { certificate?: unknown; reason?: unknown } | undefined;
  if (typeof payload?.certificate !== "string") throw problem("malformed", "revokeCert needs the certificate (base64url DER)");
  const der = Buffer.from(payload.certificate, "base64url");
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(der);
  } catch {
    throw problem("malformed", "the certificate cannot be read (base64url DER expected)");
  }
  const reasonCode = payload.reason === undefined ? 0 : payload.reason;
  const reason = typeof reasonCode === "number" ? REASON_CODES[reasonCode] : undefined;
  if (!reason) throw problem("badRevocationReason", `reason ${String(payload.reason)} is not one depot records (0, 1, 3, 4, 5: ${REVOCATION_REASONS.join(", ")})`);
  const serial = magnitudeHex(Buffer.from(certificate.serialNumber, "hex"));
  const record = await shared.issuer.find(serial);
  if (!record || record.fingerprint !== createHash("sha256").update(der).digest("hex")) throw problem("malformed", "this certificate was not issued by this CA", { status: 404 });
  if (record.status === "revoked") throw problem("alreadyRevoked", `certificate ${serial.toUpperCase()} is already revoked`);

  if (request.account) {
    const order = await shared.store.orderBySerial(serial);
    const ordered = order?.accountId === request.account.id;
    if (!ordered && !(await shared.store.hasValidAuthorizations(request.account.id, namesOf(certificate), shared.now()))) {
      throw problem("unauthorized", "this account neither ordered the certificate nor holds valid authorizations for all its names");
    }
  } else {
    if (!request.signedWith(certificate.publicKey)) throw problem("unauthorized", "the JWS key is not the certificate's key");
  }
  try {
    const requester = request.account ? `acme:${request.account.id}` : "acme:certificate-key";
    await shared.issuer.revoke(serial, reason, { requester, ...clientOf(request) });
  } catch (error) {
    if (error instanceof DepotError && error.code === "E_ALREADY_REVOKED") throw problem("alreadyRevoked", error.message);
    throw error;
  }
  return { status: 200 };
}

function namesOf(certificate: X509Certificate): Identifier[] {
  return (certificate.subjectAltName ?? "")
    .split(", ")
    .filter(Boolean)
    .map((entry) => (entry.startsWith("DNS:") ? { type: "dns" as const, value: entry.slice(4).toLowerCase() } : { type: "ip" as const, value: safeIp(entry.replace(/^IP Address:/, "")) }));
}

export async function renewalInfo(shared: Shared, certId: string): Promise<Answer> {
  const { keyIdHex, serial } = parseCertId(certId);
  const record = keyIdHex === shared.issuer.keyIdHex ? await shared.issuer.find(serial) : undefined;
  if (!record || record.type === "ca") throw problem("malformed", "no certificate with this identifier was issued by this CA", { status: 404 });
  const window = renewalWindow(record.notBefore, record.notAfter, record.status === "revoked", shared.now());
  return {
    status: 200,
    body: { suggestedWindow: { start: window.start.toISOString(), end: window.end.toISOString() } },
    headers: { "Retry-After": "21600" },
  };
}
