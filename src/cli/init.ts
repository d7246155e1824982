import { defineCommand } from "citty";
import { createDepot } from "../ca/create.ts";
import { parseDays } from "../ca/depot.ts";
import { parseKeyType } from "../ca/key-types.ts";
import { depotLayout } from "../ca/layout.ts";
import { lastOf, listOf, rejectUnknownArgs } from "./_strict.ts";
import { passphraseArgs, readPassphrase } from "./_passphrase.ts";
import { DepotError } from "../errors.ts";

const args = {
  path: { type: "positional", description: "Folder for the new depot (new or empty)", required: true },
  "key-type": { type: "string", description: "CA key type, and the default for issued keys: rsa-2048 (default), rsa-3072, rsa-4096, ec-p256, ec-p384, ed25519" },
  days: { type: "string", description: "Default validity of issued certificates, in days (365)" },
  "ca-days": { type: "string", description: "Validity of the CA certificate, in days (3650)" },
  intermediate: { type: "boolean", description: "Two tiers: a root CA (ca.crt, what clients trust) and an issuing intermediate (pathLen 0) signed by it, which issues everything" },
  "intermediate-days": { type: "string", description: "With --intermediate: validity of the intermediate, in days (1825, never beyond the root)" },
  "permit-dns": { type: "string", description: "With --intermediate: the only DNS domain it may certify, e.g. .example.com (repeatable)" },
  "permit-ip": { type: "string", description: "With --intermediate: the only IP range it may certify, e.g. 10.0.0.0/8 (repeatable)" },
  encrypt: { type: "boolean", description: "Encrypt the CA key under a passphrase (asked twice on a terminal, or --passphrase-file/--passphrase-env)" },
  ...passphraseArgs,
} as const;

export default defineCommand({
  meta: { name: "init", description: "Create a depot: a CA key and certificate in a new folder. Words after PATH name the CA (default: the folder's name)." },
  args,
  async run({ rawArgs, args: parsed }) {
    rejectUnknownArgs(rawArgs, args, true);
    const labelWords = parsed._.slice(1);
    const keyType = lastOf(parsed["key-type"]);
    const days = lastOf(parsed.days);
    const caDays = lastOf(parsed["ca-days"]);
    if (!parsed.encrypt && (parsed["passphrase-file"] !== undefined || parsed["passphrase-env"] !== undefined)) {
      throw new DepotError("E_BAD_ARGUMENT", "--passphrase-file and --passphrase-env go with --encrypt");
    }
    const permits = { dns: listOf(parsed["permit-dns"]), ip: listOf(parsed["permit-ip"]) };
    const intermediateDays = lastOf(parsed["intermediate-days"]);
    if (!parsed.intermediate && (permits.dns.length || permits.ip.length || intermediateDays)) {
      throw new DepotError("E_BAD_ARGUMENT", "--intermediate-days, --permit-dns and --permit-ip go with --intermediate");
    }
    const passphrase = parsed.encrypt ? await readPassphrase(parsed, { confirm: true }) : undefined;
    const root = await createDepot(parsed.path, {
      ...(labelWords.length ? { label: labelWords.join(" ") } : {}),
      ...(keyType ? { keyType: parseKeyType(keyType) } : {}),
      ...(days ? { days: parseDays(days) } : {}),
      ...(caDays ? { caDays: parseDays(caDays) } : {}),
      ...(passphrase !== undefined ? { passphrase } : {}),
      ...(parsed.intermediate ? { intermediate: { permits, ...(intermediateDays ? { days: parseDays(intermediateDays) } : {}) } } : {}),
    });
    console.log(`Created a depot in ${root}`);
    console.log(`CA certificate: ${depotLayout(root).caCertificate}`);
  },
});
