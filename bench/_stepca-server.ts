/**
 * @module
 * A running step-ca for bench/stepca.ts, set up as /work/shared/stepca's
 * setup-ca.sh does: an EC P-256 root and intermediate made with openssl, a
 * JWK provisioner (`bench`, ES256; its private JWK stays with the bench to
 * mint one-time tokens) and an ACME provisioner (`acme`), a badgerv2
 * database, listening on 127.0.0.1 only. Everything else is step-ca's
 * default (24 h certificates, its default TLS settings but for the cipher
 * list, which names the two ECDSA suites a P-256 server certificate can use).
 */
import type { Subprocess } from "bun";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as jose from "jose";
import { dropFromPageCache } from "./_page-cache.ts";
import { freePort } from "./_ports.ts";

export interface StepCa {
  process: Subprocess;
  port: number;
  /** https://127.0.0.1:PORT */
  base: string;
  rootPem: string;
  rootFile: string;
  intermediatePem: string;
  /** The JWK provisioner's private key and its key id, for one-time tokens. */
  jwk: { key: CryptoKey; kid: string; provisioner: string };
  acmeDirectory: string;
  stop(): Promise<void>;
}

function openssl(args: string[], cwd: string, input?: string): string {
  const run = Bun.spawnSync(["openssl", ...args], { cwd, stdin: input === undefined ? "ignore" : Buffer.from(input), stdout: "pipe", stderr: "pipe" });
  if (run.exitCode !== 0) throw new Error(`openssl ${args.join(" ")} failed: ${run.stderr}`);
  return run.stdout.toString();
}

/** Makes the PKI and ca.json in `dir` and starts `binary` on a free loopback port; `resolver` (host:port) is the DNS server its ACME validation asks. */
export async function startStepCa(binary: string, dir: string, resolver: string | undefined): Promise<StepCa> {
  for (const sub of ["certs", "secrets", "config", "db"]) mkdirSync(join(dir, sub), { recursive: true });
  writeFileSync(
    join(dir, "x509.cnf"),
    "[inter]\nbasicConstraints = critical,CA:TRUE,pathlen:0\nkeyUsage = critical,digitalSignature,keyCertSign,cRLSign\nsubjectKeyIdentifier = hash\nauthorityKeyIdentifier = keyid:always\n",
  );
  const p256Key = (file: string) => writeFileSync(join(dir, file), openssl(["pkcs8", "-topk8", "-nocrypt"], dir, openssl(["ecparam", "-name", "prime256v1", "-genkey", "-noout"], dir)));
  p256Key("secrets/root_ca_key");
  openssl(["req", "-new", "-x509", "-key", "secrets/root_ca_key", "-subj", "/O=Bench/CN=Bench Step Root CA", "-days", "3650",
    "-addext", "basicConstraints=critical,CA:TRUE,pathlen:1", "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", "certs/root_ca.crt"], dir);
  p256Key("secrets/intermediate_ca_key");
  openssl(["req", "-new", "-key", "secrets/intermediate_ca_key", "-subj", "/O=Bench/CN=Bench Step Intermediate CA", "-out", "inter.csr"], dir);
  openssl(["x509", "-req", "-in", "inter.csr", "-CA", "certs/root_ca.crt", "-CAkey", "secrets/root_ca_key", "-CAcreateserial",
    "-days", "3650", "-extfile", "x509.cnf", "-extensions", "inter", "-out", "certs/intermediate_ca.crt"], dir);

  const { publicKey, privateKey } = await jose.generateKeyPair("ES256", { extractable: true });
  const publicJwk = await jose.exportJWK(publicKey);
  const kid = await jose.calculateJwkThumbprint(publicJwk);
  const provisioner = "bench";
  const port = freePort();
  const config = {
    root: join(dir, "certs/root_ca.crt"),
    federatedRoots: null,
    crt: join(dir, "certs/intermediate_ca.crt"),
    key: join(dir, "secrets/intermediate_ca_key"),
    address: `127.0.0.1:${port}`,
    insecureAddress: "",
    dnsNames: ["localhost", "127.0.0.1"],
    logger: { format: "text" },
    db: { type: "badgerv2", dataSource: join(dir, "db"), badgerFileLoadingMode: "" },
    authority: {
      provisioners: [
        { type: "ACME", name: "acme" },
        { type: "JWK", name: provisioner, key: { ...publicJwk, kid, alg: "ES256", use: "sig" } },
      ],
    },
    tls: {
      cipherSuites: ["TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"],
      minVersion: 1.2,
      maxVersion: 1.3,
      renegotiation: false,
    },
  };
  writeFileSync(join(dir, "config/ca.json"), JSON.stringify(config, null, 2));

  const log = join(dir, "step-ca.log");
  dropFromPageCache(binary);
  const proc = Bun.spawn([binary, ...(resolver ? ["--resolver", resolver] : []), join(dir, "config/ca.json")], {
    stdout: Bun.file(log),
    stderr: Bun.file(log),
    stdin: "ignore",
  });
  const base = `https://127.0.0.1:${port}`;
  const rootPem = readFileSync(config.root, "utf8");
  const started = performance.now();
  for (;;) {
    const health = await fetch(`${base}/health`, { tls: { ca: rootPem } }).then((r) => r.ok, () => false);
    if (health) break;
    if (proc.exitCode !== null || performance.now() - started > 20_000) {
      proc.kill();
      throw new Error(`step-ca did not start: ${readFileSync(log, "utf8").slice(-2000)}`);
    }
    await Bun.sleep(50);
  }
  return {
    process: proc,
    port,
    base,
    rootPem,
    rootFile: config.root,
    intermediatePem: readFileSync(config.crt, "utf8"),
    jwk: { key: privateKey, kid, provisioner },
    acmeDirectory: `${base}/acme/acme/directory`,
    async stop() {
      proc.kill("SIGTERM");
      await Promise.race([proc.exited, Bun.sleep(5000)]);
      if (proc.exitCode === null) proc.kill("SIGKILL");
    },
  };
}

/** A one-time token for step-ca's /1.0/sign: the JWK provisioner's ES256 JWT for `name` (its subject and only SAN), valid 5 minutes. */
export async function stepCaSignToken(ca: StepCa, name: string): Promise<string> {
  return new jose.SignJWT({ sans: [name] })
    .setProtectedHeader({ alg: "ES256", kid: ca.jwk.kid, typ: "JWT" })
    .setIssuer(ca.jwk.provisioner)
    .setAudience(`${ca.base}/1.0/sign`)
    .setSubject(name)
    .setIssuedAt()
    .setNotBefore("0s")
    .setExpirationTime("5m")
    .setJti(crypto.randomUUID())
    .sign(ca.jwk.key);
}
