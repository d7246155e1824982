/**
 * @module A small ACME client for tests: correct by default, and able to
 * misbehave on purpose (replay a nonce, send a CSR with an extra name, answer
 * a challenge with the wrong key authorization), which no real client does.
 * Signs with `jose`, so it shares no JWS code with the server it tests.
 */

import { createHash, generateKeyPairSync, type KeyObject } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { calculateJwkThumbprint, exportJWK, FlattenedSign, type JWK } from "jose";

export interface Directory {
  newNonce: string;
  newAccount: string;
  newOrder: string;
  revokeCert: string;
  keyChange: string;
  renewalInfo: string;
  meta?: Record<string, unknown>;
}

export interface AcmeAnswer<T = Record<string, unknown>> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
}

export type AccountAlg = "ES256" | "ES384" | "RS256" | "EdDSA";

export function accountKey(alg: AccountAlg): { privateKey: KeyObject; alg: AccountAlg } {
  const pair =
    alg === "ES256"
      ? generateKeyPairSync("ec", { namedCurve: "P-256" })
      : alg === "ES384"
        ? generateKeyPairSync("ec", { namedCurve: "P-384" })
        : alg === "RS256"
          ? generateKeyPairSync("rsa", { modulusLength: 2048 })
          : generateKeyPairSync("ed25519");
  return { privateKey: pair.privateKey, alg };
}

export class TestAcmeClient {
  nonce?: string;
  kid?: string;
  /** A new connection for every request, so that a server's workers (reusePort) share them out. */
  freshConnections = false;
  jwk!: JWK;
  thumbprint!: string;

  private constructor(
    readonly directory: Directory,
    private key: { privateKey: KeyObject; alg: AccountAlg },
    private readonly ca: string,
  ) {}

  static async connect(directoryUrl: string, ca: string, alg: AccountAlg = "ES256"): Promise<TestAcmeClient> {
    const response = await fetch(directoryUrl, { tls: { ca } } as RequestInit);
    const client = new TestAcmeClient((await response.json()) as Directory, accountKey(alg), ca);
    await client.useKey(client.key);
    return client;
  }

  async useKey(key: { privateKey: KeyObject; alg: AccountAlg }): Promise<void> {
    this.key = key;
    const { d: _d, p: _p, q: _q, dp: _dp, dq: _dq, qi: _qi, ...pub } = await exportJWK(key.privateKey);
    this.jwk = pub;
    this.thumbprint = await calculateJwkThumbprint(pub, "sha256");
  }

  get privateKey(): KeyObject {
    return this.key.privateKey;
  }

  keyAuthorization(token: string): string {
    return `${token}.${this.thumbprint}`;
  }

  dnsDigest(token: string): string {
    return createHash("sha256").update(this.keyAuthorization(token)).digest("base64url");
  }

  async freshNonce(): Promise<string> {
    const response = await fetch(this.directory.newNonce, { method: "HEAD", tls: { ca: this.ca }, keepalive: !this.freshConnections } as RequestInit);
    return response.headers.get("replay-nonce")!;
  }

  /** Signs a JWS over `payload` (undefined: POST-as-GET) with this account's key. */
  async sign(url: string, payload: unknown, options: { nonce?: string; useJwk?: boolean; key?: { privateKey: KeyObject; alg: AccountAlg }; jwk?: JWK; noNonce?: boolean } = {}): Promise<Record<string, string>> {
    const key = options.key ?? this.key;
    const header: Record<string, unknown> = { alg: key.alg, url };
    if (!options.noNonce) header.nonce = options.nonce ?? this.nonce ?? (await this.freshNonce());
    if (options.useJwk || !this.kid) header.jwk = options.jwk ?? this.jwk;
    else header.kid = this.kid;
    const bytes = payload === undefined ? new Uint8Array() : new TextEncoder().encode(JSON.stringify(payload));
    return (await new FlattenedSign(bytes).setProtectedHeader(header as never).sign(key.privateKey)) as unknown as Record<string, string>;
  }

  /** POSTs a signed request; remembers the answer's nonce. */
  async post<T = Record<string, unknown>>(url: string, payload: unknown, options: Parameters<TestAcmeClient["sign"]>[2] = {}): Promise<AcmeAnswer<T>> {
    let response: Response;
    for (let attempt = 1; ; attempt++) {
      const jws = await this.sign(url, payload, options);
      if (!options.nonce) this.nonce = undefined;
      try {
        response = await fetch(url, { method: "POST", headers: { "Content-Type": "application/jose+json" }, body: JSON.stringify(jws), tls: { ca: this.ca }, keepalive: !this.freshConnections } as RequestInit);
        break;
      } catch (error) {
        // A kept-alive connection to a worker that died: ask again on a new one, as real clients do.
        if (attempt >= 3) throw error;
      }
    }
    this.nonce = response.headers.get("replay-nonce") ?? undefined;
    const text = await response.text();
    let body: unknown = undefined;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    return { status: response.status, headers: response.headers, body: body as T, text };
  }

  async register(payload: Record<string, unknown> = { termsOfServiceAgreed: true }): Promise<AcmeAnswer> {
    const answer = await this.post(this.directory.newAccount, payload, { useJwk: true });
    if (answer.status === 200 || answer.status === 201) this.kid = answer.headers.get("location")!;
    return answer;
  }

  /** A newAccount payload's externalAccountBinding for key id `kid` and HMAC key (base64url). */
  async externalAccountBinding(kid: string, hmacKey: string): Promise<Record<string, string>> {
    const payload = new TextEncoder().encode(JSON.stringify(this.jwk));
    return (await new FlattenedSign(payload).setProtectedHeader({ alg: "HS256", kid, url: this.directory.newAccount }).sign(Buffer.from(hmacKey, "base64url"))) as unknown as Record<string, string>;
  }

  async poll<T extends { status?: string }>(url: string, done: (body: T) => boolean, timeoutMs = 20_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const answer = await this.post<T>(url, undefined);
      if (done(answer.body)) return answer.body;
      if (Date.now() > deadline) throw new Error(`gave up polling ${url}: ${answer.text}`);
      await Bun.sleep(50);
    }
  }
}

/** A PKCS#10 request for `names` (DNS names and IP addresses) with a fresh key, made by openssl. */
/** A CSR for `names` with a new key, or with `privateKey` (its EC point written compressed with `compressedPoint`). */
export function csrFor(names: string[], options: { commonName?: string; keyType?: "ec" | "rsa"; privateKey?: KeyObject; compressedPoint?: boolean } = {}): { der: Buffer; keyPem: string } {
  const privateKey = options.privateKey ?? (options.keyType === "rsa" ? generateKeyPairSync("rsa", { modulusLength: 2048 }) : generateKeyPairSync("ec", { namedCurve: "P-256" })).privateKey;
  const keyPem = privateKey.export({ format: "pem", type: "pkcs8" }).toString();
  const dir = mkdtempSync(`${tmpdir()}/acme-csr-`);
  const keyFile = `${dir}/key.pem`;
  writeFileSync(keyFile, keyPem);
  if (options.compressedPoint) {
    const converted = Bun.spawnSync(["openssl", "ec", "-in", keyFile, "-conv_form", "compressed", "-out", keyFile]);
    if (converted.exitCode !== 0) throw new Error(`openssl ec failed: ${converted.stderr.toString()}`);
  }
  const san = names.map((n) => (/^[0-9.]+$|:/.test(n) ? `IP:${n}` : `DNS:${n}`)).join(",");
  const result = Bun.spawnSync(["openssl", "req", "-new", "-key", keyFile, "-subj", options.commonName ? `/CN=${options.commonName}` : "/", "-addext", `subjectAltName=${san}`, "-outform", "DER"]);
  rmSync(dir, { recursive: true, force: true });
  if (result.exitCode !== 0) throw new Error(`openssl req failed: ${result.stderr.toString()}`);
  return { der: Buffer.from(result.stdout), keyPem };
}
