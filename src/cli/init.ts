import { defineCommand } from "citty";
import { createDepot } from "../ca/create.ts";
import { ED25519_BROWSER_NOTE, KEY_TYPES, type KeyType } from "../ca/key-types.ts";
import { depotLayout } from "../ca/layout.ts";
import { poolSize } from "../ca/ledger/postgres-settings.ts";
import { DepotError } from "../errors.ts";
import { parsePublicUrl } from "../http/public/options.ts";
import { daysOption } from "./_args.ts";
import { lastOf, rejectUnknownArgs } from "./_strict.ts";

const args = {
  path: { type: "positional", description: "Folder for the new depot (new or empty)", required: true },
  "key-type": { type: "enum", options: [...KEY_TYPES] as KeyType[], valueHint: "type", description: "CA key type, and the default for issued keys (default rsa-2048); browsers do not accept ed25519." },
  days: { type: "string", description: "Default validity of issued certificates, in days (365)" },
  "ca-days": { type: "string", description: "Validity of the CA certificate, in days (3650)" },
  ledger: { type: "string", description: "Keep the ledger in PostgreSQL, for several hosts: postgres://user@host:5432/db (password from PGPASSWORD or --ledger-password-file)" },
  "ledger-password-file": { type: "string", description: "File holding the ledger's password; its path is kept in depot.cnf, the password never" },
  "ledger-pool": { type: "string", description: "Connections each process keeps to the ledger (4)" },
  "public-url": { type: "string", description: "Plain-HTTP base URL of the depot server (kept in depot.cnf): certificates then carry OCSP (URL/ocsp), CA (URL/ca) and CRL (URL/crl) locations" },
  "on-crl-change": { type: "string", description: "Command run after each new crl.pem (kept in depot.cnf), e.g. 'systemctl reload nginx'" },
} as const;

export default defineCommand({
  meta: { name: "init", description: "Create a depot: a CA key and certificate in a new folder. Words after PATH name the CA (default: the folder's name)." },
  args,
  async run({ rawArgs, args: parsed }) {
    rejectUnknownArgs(rawArgs, args, true);
    const labelWords = parsed._.slice(1);
    const keyType = parsed["key-type"];
    const days = lastOf(parsed.days);
    const caDays = lastOf(parsed["ca-days"]);
    const ledger = lastOf(parsed.ledger);
    const passwordFile = lastOf(parsed["ledger-password-file"]);
    const pool = lastOf(parsed["ledger-pool"]);
    if (!ledger && (passwordFile || pool)) throw new DepotError("E_BAD_ARGUMENT", "--ledger-password-file and --ledger-pool need --ledger postgres://...");
    const publicUrl = lastOf(parsed["public-url"]);
    const onCrlChange = lastOf(parsed["on-crl-change"]);
    if (keyType === "ed25519") process.stderr.write(`depot: warning: an Ed25519 CA: ${ED25519_BROWSER_NOTE}\n`);
    const root = await createDepot(parsed.path, {
      ...(labelWords.length ? { label: labelWords.join(" ") } : {}),
      ...(keyType ? { keyType } : {}),
      ...(days ? { days: daysOption(parsed, "days")! } : {}),
      ...(caDays ? { caDays: daysOption(parsed, "ca-days")! } : {}),
      ...(ledger ? { ledger: { url: ledger, ...(passwordFile ? { passwordFile } : {}), ...(pool ? { pool: poolSize(pool) } : {}) } } : {}),
      ...(publicUrl ? { publicUrl: parsePublicUrl(publicUrl) } : {}),
      ...(onCrlChange ? { onCrlChange } : {}),
    });
    console.log(`Created a depot in ${root}`);
    console.log(`CA certificate: ${depotLayout(root).caCertificate}`);
  },
});
