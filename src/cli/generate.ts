/**
 * @module
 * `depot generate`: a new key pair and a certificate for it, as PEM (and,
 * with --p12, as a PKCS#12 bundle for a browser).
 */
import { attribute, type DistinguishedName, parseDn } from "../ca/dn.ts";
import { ED25519_BROWSER_NOTE, KEY_TYPES, type KeyType } from "../ca/key-types.ts";
import { DepotError } from "../errors.ts";
import { daysOption, stringOption } from "./_args.ts";
import { depotCommand } from "./_command.ts";
import { passphraseArgs } from "./_passphrase.ts";
import type { Profile } from "../ca/profiles.ts";
import { abandonSecretFile, claimSecretFile, fillSecretFile, secureStdoutForSecret, writeStdout } from "./_output.ts";
import { pkcs12Password, pkcs12PasswordArgs } from "./_pkcs12-options.ts";
import { allValues } from "./_strict.ts";

const args = {
  path: { type: "positional", description: "The depot's folder", required: true },
  type: { type: "enum", options: ["client", "server"] as Profile[], description: "A client certificate (for a person or a program) or a server certificate; needed unless --template gives it" },
  template: { type: "string", valueHint: "name", description: "Issue under this template of depot.cnf ([ template NAME ]; depot template list shows them): its key usages, days, name rules and extensions" },
  cn: { type: "string", valueHint: "name", description: "Common name; for a server, its DNS name or IP address" },
  email: { type: "string", valueHint: "address", description: "E-mail address: in the subject (emailAddress) and the subjectAltName (rfc822Name)" },
  uid: { type: "string", valueHint: "id", description: "User ID (UID)" },
  subject: { type: "string", valueHint: "dn", description: "The subject, e.g. '/O=Example/CN=Bob Owner' or 'CN=Bob Owner,O=Example'; --uid, --cn, --email add to it" },
  san: { type: "string", valueHint: "name", description: "Extra DNS name or IP address of a server (repeatable)" },
  "key-type": { type: "enum", options: [...KEY_TYPES] as KeyType[], valueHint: "type", description: "Key type (default: the depot's); browsers do not accept ed25519 client certificates." },
  days: { type: "string", valueHint: "days", description: "Validity in days (default: the depot's, 365)" },
  out: { type: "string", valueHint: "file", description: "Write the key and certificate to FILE (created with mode 0600) instead of standard output" },
  p12: { type: "string", valueHint: "file", description: "Also write a PKCS#12 bundle (key, certificate, CA certificate; mode 0600) for a browser or key store; without --out, only the certificate is printed" },
  ...pkcs12PasswordArgs,
  ...passphraseArgs,
} as const;

export default depotCommand({
  meta: { name: "generate", description: "Issue a key pair and a certificate: prints the private key (PKCS#8) then the certificate, PEM." },
  args,
  signs: true,
  repeatable: ["san"],
  async run({ rawArgs, args: parsed }, depot) {
    const templateName = stringOption(parsed, "template");
    const template = templateName === undefined ? undefined : depot.templates.get(templateName);
    // citty checks an enum's value, not its presence. A template's base is the type (a different --type is refused by the depot).
    const type = parsed.type ?? template?.base;
    if (type === undefined) throw new DepotError("E_BAD_ARGUMENT", "missing --type (client or server)");
    const sans = allValues(rawArgs, "san");
    if (type === "client" && sans.length > 0) throw new DepotError("E_BAD_ARGUMENT", "--san is for server certificates (--type server)");
    const subject = subjectFrom(parsed);
    const keyType = parsed["key-type"] ?? depot.defaultKeyType;
    const days = daysOption(parsed, "days");
    const out = stringOption(parsed, "out");
    const p12 = stringOption(parsed, "p12");
    if (!p12 && (parsed["password-file"] !== undefined || parsed["password-env"] !== undefined || parsed.legacy)) {
      throw new DepotError("E_BAD_ARGUMENT", "--password-file, --password-env and --legacy go with --p12 FILE");
    }
    if (type === "client" && keyType === "ed25519") process.stderr.write(`depot: warning: ${ED25519_BROWSER_NOTE}\n`);
    // Everything that can fail is settled before the certificate is issued
    // and recorded: the password, and the files it goes to.
    const bundle = p12 === undefined ? undefined : await pkcs12Password(parsed);
    const keyOnStdout = out === undefined && p12 === undefined;
    if (keyOnStdout) secureStdoutForSecret();
    let outFd = out === undefined ? undefined : claimSecretFile(out);
    let p12Fd: number | undefined;
    try {
      p12Fd = p12 === undefined ? undefined : claimSecretFile(p12);
      const issued = await depot.issue({ profile: type, ...(templateName ? { template: templateName } : {}), subject, subjectAltNames: sans, keyType, ...(days ? { days } : {}), requester: { requester: "cli" } });
      // The intermediate after the certificate in a two-tier depot (empty in one tier).
      const pem = issued.privateKeyPem + issued.certificatePem + depot.chainPem;
      const recorded = { serial: issued.serial, depotPath: String(parsed.path) };
      if (p12Fd !== undefined && bundle) {
        const { makePkcs12 } = await import("../ca/pkcs12.ts");
        const commonName = subject.find((a) => a.name === "CN")?.value ?? subject.find((a) => a.name === "emailAddress")?.value;
        const der = makePkcs12({
          privateKeyPem: issued.privateKeyPem,
          certificatePem: issued.certificatePem,
          chainPems: depot.bundlePems,
          ...(commonName !== undefined ? { friendlyName: commonName } : {}),
          ...bundle,
        });
        const fd = p12Fd;
        p12Fd = undefined;
        fillSecretFile(fd, p12!, der, recorded);
      }
      if (outFd !== undefined) {
        // fillSecretFile closes (or on failure removes) the file itself.
        const fd = outFd;
        outFd = undefined;
        fillSecretFile(fd, out!, pem, recorded);
      } else writeStdout(keyOnStdout ? pem : issued.certificatePem + depot.chainPem, recorded);
    } catch (error) {
      if (outFd !== undefined) abandonSecretFile(outFd, out!);
      throw error;
    } finally {
      if (p12Fd !== undefined) abandonSecretFile(p12Fd, p12!);
    }
  },
});

/**
 * --subject first, then --uid, --cn and --email, in the original's order.
 * An attribute given both ways is refused: `--cn Bob --subject /CN=Alice`
 * would make a name with two CNs.
 */
function subjectFrom(parsed: Record<string, unknown>): DistinguishedName {
  const subjectText = stringOption(parsed, "subject");
  const subject = subjectText === undefined ? [] : parseDn(subjectText);
  for (const [option, name] of [["uid", "UID"], ["cn", "CN"], ["email", "emailAddress"]] as const) {
    const value = stringOption(parsed, option);
    if (value === undefined) continue;
    if (subject.some((attr) => attr.name === name)) throw new DepotError("E_BAD_ARGUMENT", `--${option} and --subject both give ${name}: give it once`);
    subject.push(attribute(name, value));
  }
  if (subject.length === 0) throw new DepotError("E_BAD_DN", "give a subject: --cn, --email, --uid or --subject");
  return subject;
}
