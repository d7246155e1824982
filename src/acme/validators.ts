/**
 * @module Proving control of an identifier (RFC 8555 8.3 and 8.4, RFC 8737,
 * RFC 8738): http-01, dns-01 and tls-alpn-01, checked against the client's
 * host. The ports and the DNS server are settable so that private networks
 * and tests can run the clients on unprivileged ports and names that only a
 * local DNS server knows.
 */

import { createHash, X509Certificate } from "node:crypto";
import { lookup, Resolver } from "node:dns/promises";
import { isIP } from "node:net";
import { connect } from "node:tls";
import { children, oid, readElement, TAG } from "../ca/der.ts";
import { type ChallengeAnswer, fetchChallenge } from "./challenge-fetch.ts";
import { AcmeProblem, problem } from "./problem.ts";
import { settleWithin } from "../settle-within.ts";
import type { ChallengeType, Identifier } from "./types.ts";

export interface ValidatorOptions {
  /** The port http-01 connects to on the client's host (default 80). */
  httpPort?: number;
  /** The port tls-alpn-01 connects to (default 443). */
  tlsPort?: number;
  /** HOST:PORT of the DNS server for A/AAAA/TXT lookups (default: the system's). */
  resolver?: string;
  /** One attempt's deadline (default 10 s). */
  timeoutMs?: number;
}

/** A failed attempt: `retry` when the network failed, not when the client answered wrongly. */
export class ValidationFailure extends Error {
  constructor(
    readonly problem: AcmeProblem,
    readonly retry: boolean,
  ) {
    super(problem.message);
  }
}

const ACME_IDENTIFIER_OID = "1.3.6.1.5.5.7.1.31";

export class Validators {
  private readonly httpPort: number;
  private readonly tlsPort: number;
  private readonly timeoutMs: number;
  private readonly resolver?: Resolver;

  constructor(options: ValidatorOptions = {}) {
    this.httpPort = options.httpPort ?? 80;
    this.tlsPort = options.tlsPort ?? 443;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    if (options.resolver) {
      this.resolver = new Resolver({ timeout: this.timeoutMs, tries: 2 });
      this.resolver.setServers([options.resolver]);
    }
  }

  /** Resolves when the client proved control; throws ValidationFailure otherwise. */
  async validate(type: ChallengeType, identifier: Identifier, token: string, thumbprint: string): Promise<void> {
    const keyAuthorization = `${token}.${thumbprint}`;
    if (type === "http-01") return this.http01(identifier, token, keyAuthorization);
    if (type === "dns-01") return this.dns01(identifier, keyAuthorization);
    return this.tlsAlpn01(identifier, keyAuthorization);
  }

  private async http01(identifier: Identifier, token: string, keyAuthorization: string): Promise<void> {
    const address = await this.addressOf(identifier);
    const hostHeader = identifier.type === "ip" && isIP(identifier.value) === 6 ? `[${identifier.value}]` : identifier.value;
    const url = `http://${hostHeader}:${this.httpPort}/.well-known/acme-challenge/${token}`;
    const body = await this.fetchHttp01(url, address, hostHeader, token);
    if (body.trimEnd() !== keyAuthorization) {
      throw new ValidationFailure(problem("incorrectResponse", `${url} answered '${body.slice(0, 100)}', not the key authorization ${keyAuthorization}`), false);
    }
  }

  /** The challenge file: a 200's body, at most 4 KiB; a network failure is worth retrying, another status is the client's answer. */
  private async fetchHttp01(url: string, address: string, hostHeader: string, token: string): Promise<string> {
    let answer: ChallengeAnswer;
    try {
      answer = await fetchChallenge({
        address,
        port: this.httpPort,
        host: this.httpPort === 80 ? hostHeader : `${hostHeader}:${this.httpPort}`,
        path: `/.well-known/acme-challenge/${token}`,
        timeoutMs: this.timeoutMs,
        maxBodyBytes: 4096,
      });
    } catch (error) {
      throw new ValidationFailure(problem("connection", `cannot fetch ${url} (at ${address}): ${(error as Error).message}`), true);
    }
    if (answer.status !== 200) throw new ValidationFailure(problem("unauthorized", `${url} answered ${answer.status}, not 200 with the key authorization`), false);
    return answer.body;
  }

  private async dns01(identifier: Identifier, keyAuthorization: string): Promise<void> {
    if (identifier.type !== "dns") throw new ValidationFailure(problem("malformed", "dns-01 proves DNS names only"), false);
    const name = `_acme-challenge.${identifier.value.replace(/^\*\./, "")}`;
    const expected = createHash("sha256").update(keyAuthorization).digest("base64url");
    let records: string[][];
    try {
      records = await this.withTimeout((this.resolver ?? new Resolver()).resolveTxt(name), `TXT ${name}`);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      const retry = code !== "ENOTFOUND" && code !== "ENODATA";
      throw new ValidationFailure(problem("dns", `no TXT record at ${name}: ${(error as Error).message}`), retry);
    }
    const found = records.map((chunks) => chunks.join(""));
    if (!found.includes(expected)) throw new ValidationFailure(problem("incorrectResponse", `the TXT records at ${name} (${found.join(", ") || "none"}) do not include ${expected}`), false);
  }

  private async tlsAlpn01(identifier: Identifier, keyAuthorization: string): Promise<void> {
    const address = await this.addressOf(identifier);
    const servername = identifier.type === "ip" ? reverseDnsName(identifier.value) : identifier.value;
    const expected = createHash("sha256").update(keyAuthorization).digest();
    const where = `${servername} at ${address}:${this.tlsPort}`;
    let der: Buffer;
    try {
      der = await this.alpnHandshake(address, servername, where, {});
    } catch (error) {
      // BoringSSL (Bun's TLS) refuses a certificate whose keyUsage lacks
      // digitalSignature for an ECDHE suite, as lego 4.9's tls-alpn-01
      // certificate (keyEncipherment only) does; RFC 8737 sets no key usage,
      // so such a certificate is tried again with RSA key transport, for
      // which keyEncipherment is the right bit.
      if (!(error instanceof ValidationFailure) || !error.message.includes("KEY_USAGE_BIT_INCORRECT")) throw error;
      der = await this.alpnHandshake(address, servername, where, { maxVersion: "TLSv1.2", ciphers: "AES128-GCM-SHA256:AES256-GCM-SHA384" });
    }
    checkAlpnCertificate(der, identifier, expected, where);
  }

  private alpnHandshake(address: string, servername: string, where: string, tuning: { maxVersion?: "TLSv1.2"; ciphers?: string }): Promise<Buffer> {
    return new Promise<Buffer>((resolve, reject) => {
      const socket = connect({ host: address, port: this.tlsPort, servername, ALPNProtocols: ["acme-tls/1"], rejectUnauthorized: false, timeout: this.timeoutMs, ...tuning }, () => {
        const protocol = socket.alpnProtocol;
        const raw = socket.getPeerCertificate()?.raw;
        socket.destroy();
        if (protocol !== "acme-tls/1") reject(new ValidationFailure(problem("tls", `${where} did not negotiate ALPN acme-tls/1 (got ${String(protocol)})`), false));
        else if (!raw) reject(new ValidationFailure(problem("tls", `${where} sent no certificate`), false));
        else resolve(raw);
      });
      socket.on("timeout", () => socket.destroy(new Error(`no handshake within ${this.timeoutMs} ms`)));
      socket.on("error", (error) => reject(new ValidationFailure(problem("tls", `cannot complete a TLS handshake with ${where}: ${error.message}`), true)));
    });
  }

  private async addressOf(identifier: Identifier): Promise<string> {
    if (identifier.type === "ip") return identifier.value;
    const name = identifier.value;
    try {
      if (this.resolver) {
        const v4 = await this.withTimeout(this.resolver.resolve4(name), `A ${name}`).catch(() => [] as string[]);
        if (v4[0]) return v4[0];
        const v6 = await this.withTimeout(this.resolver.resolve6(name), `AAAA ${name}`);
        if (v6[0]) return v6[0];
        throw new Error("no A or AAAA record");
      }
      return (await this.withTimeout(lookup(name), `address of ${name}`)).address;
    } catch (error) {
      throw new ValidationFailure(problem("dns", `cannot resolve ${name}: ${(error as Error).message}`), true);
    }
  }

  private withTimeout<T>(work: Promise<T>, what: string): Promise<T> {
    return settleWithin(work, this.timeoutMs, () => {
      throw new Error(`${what}: no answer within ${this.timeoutMs} ms`);
    });
  }
}

/** RFC 8737 3: exactly one SAN, the identifier, and a critical acmeIdentifier holding SHA-256 of the key authorisation. */
function checkAlpnCertificate(der: Buffer, identifier: Identifier, expected: Buffer, where: string): void {
  const fail = (why: string): never => {
    throw new ValidationFailure(problem("incorrectResponse", `the tls-alpn-01 certificate of ${where} ${why}`), false);
  };
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(der);
  } catch {
    return fail("cannot be read");
  }
  const sans = (certificate.subjectAltName ?? "").split(", ").filter(Boolean);
  const want = identifier.type === "dns" ? `DNS:${identifier.value}` : `IP Address:${identifier.value.toUpperCase()}`;
  if (sans.length !== 1 || sans[0]!.toUpperCase() !== want.toUpperCase()) fail(`names ${sans.join(", ") || "nothing"}, not only ${want}`);
  const extension = findExtension(der, ACME_IDENTIFIER_OID);
  if (!extension) return fail("has no acmeIdentifier extension");
  if (!extension.critical) fail("has an acmeIdentifier extension that is not critical");
  const inner = readElement(extension.value, 0);
  const value = extension.value.subarray(inner.contentStart, inner.end);
  if (inner.tag !== TAG.OCTET_STRING || !Buffer.from(value).equals(expected)) fail("holds the wrong key authorization digest");
}

/** Finds an extension in a DER certificate: its criticality and extnValue's contents. */
function findExtension(der: Uint8Array, wanted: string): { critical: boolean; value: Uint8Array } | undefined {
  const wantedOid = oid(wanted);
  const certificate = readElement(der, 0);
  const [tbs] = children(der, certificate);
  for (const field of children(der, tbs!)) {
    if (field.tag !== 0xa3) continue;
    const [sequence] = children(der, field);
    for (const ext of children(der, sequence!)) {
      const parts = children(der, ext);
      const id = der.subarray(parts[0]!.start, parts[0]!.end);
      if (!Buffer.from(id).equals(wantedOid)) continue;
      const critical = parts.length === 3 && parts[1]!.tag === TAG.BOOLEAN && der[parts[1]!.contentStart] !== 0;
      const octets = parts[parts.length - 1]!;
      return { critical, value: der.subarray(octets.contentStart, octets.end) };
    }
  }
  return undefined;
}

/** The in-addr.arpa / ip6.arpa name of an address (RFC 8738 6). */
export function reverseDnsName(address: string): string {
  if (isIP(address) === 4) return `${address.split(".").reverse().join(".")}.in-addr.arpa`;
  const bytes = new URL(`http://[${address}]/`).hostname.slice(1, -1);
  const groups = expandIpv6(bytes);
  return `${groups.join("").split("").reverse().join(".")}.ip6.arpa`;
}

function expandIpv6(address: string): string[] {
  const [head = "", tail] = address.split("::");
  const part = (text: string) => (text === "" ? [] : text.split(":"));
  const before = part(head);
  const after = tail === undefined ? [] : part(tail);
  return [...before, ...new Array(8 - before.length - after.length).fill("0"), ...after].map((g) => g.padStart(4, "0"));
}
