import { defineCommand } from "citty";
import { createDepot } from "../ca/create.ts";
import { ED25519_BROWSER_NOTE, parseKeyType } from "../ca/key-types.ts";
import { depotLayout } from "../ca/layout.ts";
import { daysOption } from "./_args.ts";
import { lastOf, rejectUnknownArgs } from "./_strict.ts";

const args = {
  path: { type: "positional", description: "Folder for the new depot (new or empty)", required: true },
  "key-type": { type: "string", description: "CA key type, and the default for issued keys: rsa-2048 (default), rsa-3072, rsa-4096, ec-p256, ec-p384, ed25519 (not accepted by browsers)" },
  days: { type: "string", description: "Default validity of issued certificates, in days (365)" },
  "ca-days": { type: "string", description: "Validity of the CA certificate, in days (3650)" },
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
    if (keyType && parseKeyType(keyType) === "ed25519") process.stderr.write(`depot: warning: an Ed25519 CA: ${ED25519_BROWSER_NOTE}\n`);
    const root = await createDepot(parsed.path, {
      ...(labelWords.length ? { label: labelWords.join(" ") } : {}),
      ...(keyType ? { keyType: parseKeyType(keyType) } : {}),
      ...(days ? { days: daysOption(parsed, "days")! } : {}),
      ...(caDays ? { caDays: daysOption(parsed, "ca-days")! } : {}),
    });
    console.log(`Created a depot in ${root}`);
    console.log(`CA certificate: ${depotLayout(root).caCertificate}`);
  },
});
