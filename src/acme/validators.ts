/**
 * @module Proving control of an identifier (RFC 8555 8.3 and 8.4, RFC 8737,
 * RFC 8738): http-01, dns-01 and tls-alpn-01, checked against the client's
 * host. The ports and the DNS server are settable so that private networks
 * and tests can run the clients on unprivileged ports and names that only a
 * local DNS server knows.
 */

import { createHash, X509Certificate } from "node:crypto";
import { lookup, Resolver } from "node:dns/promises";
import { request } from "node:http";
import { isIP } from "node:net";
import { connect } from "node:tls";
import { children, oid, readElement, TAG } from "../ca/der.ts";
import { AcmeProblem, problem } from "./problem.ts";
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

/** Bun's fetch honours these and has no per-request way out; with one set, http-01 keeps to node:http. */
const PROXY_SET = ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"].some((name) => process.env[name]);

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

  /** The challenge file by node:http, as before: Bun's fetch would go through HTTP_PROXY, and a validation must reach the host itself. */
  private nodeHttp01(url: string, address: string, hostHeader: string, token: string): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      const req = request(
        { host: address, port: this.httpPort, path: `/.well-known/acme-challenge/${token}`, headers: { host: this.httpPort === 80 ? hostHeader : `${hostHeader}:${this.httpPort}` }, timeout: this.timeoutMs },
        (response) => {
          if (response.statusCode !== 200) {
            response.resume();
            reject(new ValidationFailure(problem("unauthorized", `${url} answered ${response.statusCode}, not 200 with the key authorization`), false));
            return;
          }
          let text = "";
          response.setEncoding("utf8");
          response.on("data", (chunk: string) => {
            text += chunk;
            if (text.length > 4096) req.destroy(new Error("answer longer than 4 KiB"));
          });
          response.on("end", () => resolve(text));
          response.on("error", reject);
        },
      );
      req.on("timeout", () => req.destroy(new Error(`no answer within ${this.timeoutMs} ms`)));
      req.on("error", (error) => reject(error instanceof ValidationFailure ? error : new ValidationFailure(problem("connection", `cannot fetch ${url} (at ${address}): ${error.message}`), true)));
      req.end();
    });
  }

  /**
   * The challenge file, by Bun's fetch: its client is native, where
   * node:http's ClientRequest is JavaScript that a worker runs cold once per
   * order (0.75-1.45 ms of CPU a fetch against 0.5, one every 60 ms). No
   * redirects followed, no compression asked, 4 KiB at most; a failure reads
   * as node:http's did (ECONNREFUSED with the address, our own timeout text).
   */
  private async fetchHttp01(url: string, address: string, hostHeader: string, token: string): Promise<string> {
    if (PROXY_SET) return this.nodeHttp01(url, address, hostHeader, token);
    const target = `http://${isIP(address) === 6 ? `[${address}]` : address}:${this.httpPort}/.well-known/acme-challenge/${token}`;
    const failed = (message: string) => new ValidationFailure(problem("connection", `cannot fetch ${url} (at ${address}): ${message}`), true);
    let response: Response;
    try {
      response = await fetch(target, {
        headers: { host: this.httpPort === 80 ? hostHeader : `${hostHeader}:${this.httpPort}`, "accept-encoding": "identity" },
        redirect: "manual",
        keepalive: false,
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (error) {
      throw failed(fetchFailure(error, address, this.httpPort, this.timeoutMs));
    }
    if (response.status !== 200) {
      await response.body?.cancel().catch(() => undefined);
      throw new ValidationFailure(problem("unauthorized", `${url} answered ${response.status}, not 200 with the key authorization`), false);
    }
    let text = "";
    const decoder = new TextDecoder();
    try {
      for await (const chunk of response.body ?? []) {
        text += decoder.decode(chunk, { stream: true });
        if (text.length > 4096) {
          await response.body?.cancel().catch(() => undefined);
          throw failed("answer longer than 4 KiB");
        }
      }
    } catch (error) {
      if (error instanceof ValidationFailure) throw error;
      throw failed(fetchFailure(error, address, this.httpPort, this.timeoutMs));
    }
    return text + decoder.decode();
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
    return Promise.race([work, Bun.sleep(this.timeoutMs).then(() => Promise.reject(new Error(`${what}: no answer within ${this.timeoutMs} ms`)))]);
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

/** A fetch error in node:http's words (the answers clients saw before): a refused connection names the address, a timeout says how long. */
function fetchFailure(error: unknown, address: string, port: number, timeoutMs: number): string {
  const e = error as { code?: string; name?: string; message?: string };
  if (e?.name === "TimeoutError" || e?.name === "AbortError") return `no answer within ${timeoutMs} ms`;
  if (e?.code === "ECONNREFUSED" || e?.code === "ConnectionRefused") return `connect ECONNREFUSED ${address}:${port}`;
  return String(e?.message ?? error);
}
