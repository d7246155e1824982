import { defineCommand } from "citty";
import { closeSync, openSync, rmSync, writeSync } from "node:fs";
import { parseDays } from "../ca/depot.ts";
import { attribute, type DistinguishedName, parseDn } from "../ca/dn.ts";
import { parseKeyType } from "../ca/key-types.ts";
import { DepotError, ioError, notDeliveredError } from "../errors.ts";
import { allValues, lastOf, rejectUnknownArgs } from "./_strict.ts";
import { openToSign, passphraseArgs } from "./_passphrase.ts";

const args = {
  path: { type: "positional", description: "The depot's folder", required: true },
  type: { type: "string", description: "client or server (required)" },
  cn: { type: "string", description: "Common name; for a server, its DNS name or IP address" },
  email: { type: "string", description: "E-mail address (emailAddress)" },
  uid: { type: "string", description: "User ID (UID)" },
  subject: { type: "string", description: "Whole subject, e.g. '/O=Example/CN=Bob Owner' or 'CN=Bob Owner,O=Example'" },
  san: { type: "string", description: "Extra DNS name or IP address of a server (repeatable)" },
  "key-type": { type: "string", description: "Key type (default: the depot's)" },
  days: { type: "string", description: "Validity in days (default: the depot's, 365)" },
  out: { type: "string", description: "Write to FILE (created with mode 0600) instead of stdout" },
  ...passphraseArgs,
} as const;

export default defineCommand({
  meta: { name: "generate", description: "Issue a key pair and a certificate; prints the private key then the certificate, PEM." },
  args,
  async run({ rawArgs, args: parsed }) {
    rejectUnknownArgs(rawArgs, args);
    const type = lastOf(parsed.type);
    if (type !== "client" && type !== "server") {
      throw new DepotError("E_BAD_ARGUMENT", type === undefined ? "missing --type (client or server)" : `unknown --type '${type}' (client or server)`);
    }
    const sans = allValues(rawArgs, "san");
    if (type === "client" && sans.length > 0) throw new DepotError("E_BAD_ARGUMENT", "--san is for server certificates (--type server)");
    const subject = subjectFrom(parsed);
    const keyType = lastOf(parsed["key-type"]);
    const days = lastOf(parsed.days);
    const out = lastOf(parsed.out);
    const depot = await openToSign(parsed.path, parsed);
    // Claim the output file first: a refused --out must not leave behind a
    // recorded certificate whose private key nobody kept.
    const outFd = out === undefined ? undefined : createSecretFile(out);
    try {
      const issued = await depot.issue({
        profile: type,
        subject,
        subjectAltNames: sans,
        ...(keyType ? { keyType: parseKeyType(keyType) } : {}),
        ...(days ? { days: parseDays(days) } : {}),
        requester: { requester: "cli" },
      });
      const text = issued.privateKeyPem + issued.certificatePem + depot.chainPem;
      try {
        if (outFd === undefined) process.stdout.write(text);
        else writeSync(outFd, text);
      } catch (error) {
        throw notDeliveredError(issued.serial, parsed.path, ioError("write", out ?? "stdout", error));
      }
    } catch (error) {
      if (out !== undefined) rmSync(out, { force: true });
      throw error;
    } finally {
      if (outFd !== undefined) closeSync(outFd);
      depot.close();
    }
  },
});

/** --subject first, then --uid, --cn and --email, in the original's order. */
function subjectFrom(parsed: Record<string, unknown>): DistinguishedName {
  const subjectText = lastOf(parsed.subject);
  const subject = subjectText === undefined ? [] : parseDn(subjectText);
  for (const [option, name] of [["uid", "UID"], ["cn", "CN"], ["email", "emailAddress"]] as const) {
    const value = lastOf(parsed[option]);
    if (value !== undefined) subject.push(attribute(name, value));
  }
  if (subject.length === 0) throw new DepotError("E_BAD_DN", "give a subject: --cn, --email, --uid or --subject");
  return subject;
}

function createSecretFile(path: string): number {
  try {
    return openSync(path, "wx", 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "EEXIST") throw new DepotError("E_IO", `${path} already exists; depot does not overwrite a key`);
    throw ioError("write", path, error);
  }
}
