/**
 * @module
 * `depot p12`: a PKCS#12 bundle for a key the user already has (made by
 * `generate`, or their own for `sign`), for a browser or a key store.
 */
import { createPrivateKey, createPublicKey, X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { DepotError, ioError } from "../errors.ts";
import { stringOption } from "./_args.ts";
import { command } from "./_command.ts";
import { abandonSecretFile, claimSecretFile, fillSecretFile } from "./_output.ts";
import { pkcs12Password, pkcs12PasswordArgs } from "./_pkcs12-options.ts";

const args = {
  key: { type: "string", valueHint: "file", required: true, description: "The private key, PEM (a file from depot generate, holding the certificate too, will do)" },
  cert: { type: "string", valueHint: "file", required: true, description: "The key's certificate, PEM" },
  ca: { type: "string", valueHint: "file", description: "CA certificate(s) to include, PEM (e.g. DEPOT/certificates/ca.crt)" },
  name: { type: "string", valueHint: "text", description: "Friendly name importers show (default: the certificate's CN)" },
  out: { type: "string", valueHint: "file", required: true, description: "The PKCS#12 file to write (created with mode 0600, never over an existing file)" },
  ...pkcs12PasswordArgs,
} as const;

export default command({
  meta: { name: "p12", description: "Bundle a private key and its certificate (and the CA's) into a password-protected PKCS#12 file for a browser or key store." },
  args,
  async run({ args: parsed }) {
    const keyPath = stringOption(parsed, "key")!;
    const certPath = stringOption(parsed, "cert")!;
    const out = stringOption(parsed, "out")!;
    const caPath = stringOption(parsed, "ca");
    const privateKeyPem = onePemBlock(readText(keyPath), /PRIVATE KEY/, keyPath, "a private key");
    const certificatePem = onePemBlock(readText(certPath), /^CERTIFICATE$/, certPath, "a certificate");
    const chainPems = caPath === undefined ? [] : pemBlocks(readText(caPath)).filter((b) => b.label === "CERTIFICATE").map((b) => b.text);
    if (caPath !== undefined && chainPems.length === 0) throw new DepotError("E_BAD_ARGUMENT", `${caPath} holds no PEM certificate`);
    const certificate = checkPair(privateKeyPem, certificatePem, keyPath, certPath);
    const friendlyName = stringOption(parsed, "name") ?? /(?:^|\n)CN=([^\n]*)/.exec(certificate.subject)?.[1];
    // The file first: no password is asked for a bundle that cannot be written.
    const fd = claimSecretFile(out);
    let der: Uint8Array;
    try {
      const bundle = await pkcs12Password(parsed);
      const { makePkcs12 } = await import("../ca/pkcs12.ts");
      der = makePkcs12({ privateKeyPem, certificatePem, chainPems, ...(friendlyName !== undefined ? { friendlyName } : {}), ...bundle });
    } catch (error) {
      abandonSecretFile(fd, out);
      throw error;
    }
    fillSecretFile(fd, out, der);
  },
});

function readText(path: string): string {
  try {
    return readFileSync(path === "-" ? 0 : path, "utf8");
  } catch (error) {
    throw ioError("read", path, error);
  }
}

interface PemBlock {
  label: string;
  text: string;
}

function pemBlocks(text: string): PemBlock[] {
  return [...text.matchAll(/-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----\n?/g)].map((m) => ({ label: m[1]!, text: m[0] }));
}

function onePemBlock(text: string, label: RegExp, path: string, what: string): string {
  const found = pemBlocks(text).filter((b) => label.test(b.label));
  if (found.length === 0) throw new DepotError("E_BAD_ARGUMENT", `${path} holds no PEM ${what.replace(/^an? /, "")}`);
  if (found[0]!.label === "ENCRYPTED PRIVATE KEY") throw new DepotError("E_BAD_ARGUMENT", `${path} holds an encrypted key; decrypt it first (openssl pkey)`);
  if (found.length > 1) throw new DepotError("E_BAD_ARGUMENT", `${path} holds more than one ${what.replace(/^an? /, "")}`);
  return found[0]!.text;
}

/** The certificate, after checking that the key is the one it certifies. */
function checkPair(privateKeyPem: string, certificatePem: string, keyPath: string, certPath: string): X509Certificate {
  let certificate: X509Certificate;
  try {
    certificate = new X509Certificate(certificatePem);
  } catch {
    throw new DepotError("E_BAD_ARGUMENT", `${certPath} holds no readable certificate`);
  }
  let publicKey: Buffer;
  try {
    publicKey = createPublicKey(createPrivateKey(privateKeyPem)).export({ type: "spki", format: "der" });
  } catch {
    throw new DepotError("E_BAD_ARGUMENT", `${keyPath} holds no readable private key`);
  }
  if (!publicKey.equals(certificate.publicKey.export({ type: "spki", format: "der" }))) {
    throw new DepotError("E_BAD_ARGUMENT", `the key in ${keyPath} does not belong to the certificate in ${certPath}`);
  }
  return certificate;
}
