import { command } from "./_command.ts";
import { createDepot } from "../ca/create.ts";
import { openLedger } from "../store/open-ledger.ts";
import { ED25519_BROWSER_NOTE, KEY_TYPES, type KeyType } from "../ca/key-types.ts";
import { depotLayout } from "../ca/layout.ts";
import { poolSize } from "../store/postgres/settings.ts";
import { DepotError } from "../errors.ts";
import { parsePublicUrl } from "../ca/public-url.ts";
import { parseApiUrl } from "./start.ts";
import { daysOption } from "./_args.ts";
import { allValues, lastOf } from "./_strict.ts";
import { passphraseArgs, readPassphrase } from "./_passphrase.ts";

const args = {
  path: { type: "positional", description: "Folder for the new depot (new or empty)", required: true },
  "key-type": { type: "enum", options: [...KEY_TYPES] as KeyType[], valueHint: "type", description: "CA key type, and the default for issued keys (default rsa-2048); browsers do not accept ed25519." },
  days: { type: "string", description: "Default validity of issued certificates, in days (365)" },
  "ca-days": { type: "string", description: "Validity of the CA certificate, in days (3650)" },
  ledger: { type: "string", description: "Keep the ledger in PostgreSQL, for several hosts: postgres://user@host:5432/db (password from PGPASSWORD or --ledger-password-file)" },
  "ledger-password-file": { type: "string", description: "File holding the ledger's password; its path is kept in depot.cnf, the password never" },
  "ledger-pool": { type: "string", description: "Connections each process keeps to the ledger (4)" },
  "public-url": { type: "string", description: "Plain-HTTP base URL of the depot server (kept in depot.cnf): certificates then carry OCSP (URL/ocsp), CA (URL/ca) and CRL (URL/crl) locations" },
  "api-url": { type: "string", description: "HTTPS base URL of the depot server as clients reach it (kept in depot.cnf; ACME's directory builds its absolute URLs from it)" },
  "on-crl-change": { type: "string", description: "Command run after each new crl.pem (kept in depot.cnf), e.g. 'systemctl reload nginx'" },
  intermediate: { type: "boolean", description: "Two tiers: a root CA (ca.crt, what clients trust) and an issuing intermediate (pathLen 0) signed by it, which issues everything" },
  "intermediate-days": { type: "string", description: "With --intermediate: validity of the intermediate, in days (1825, never beyond the root)" },
  "permit-dns": { type: "string", description: "With --intermediate: the only DNS domain it may certify, e.g. .example.com (repeatable)" },
  "permit-ip": { type: "string", description: "With --intermediate: the only IP range it may certify, e.g. 10.0.0.0/8 (repeatable)" },
  encrypt: { type: "boolean", description: "Encrypt the CA key under a passphrase (asked twice on a terminal, or --passphrase-file/--passphrase-env)" },
  ...passphraseArgs,
} as const;

export default command({
  meta: { name: "init", description: "Create a depot: a CA key and certificate in a new folder. Words after PATH name the CA (default: the folder's name)." },
  args,
  extraPositionals: true,
  repeatable: ["permit-dns", "permit-ip"],
  async run({ rawArgs, args: parsed }) {
    const labelWords = parsed._.slice(1);
    const keyType = parsed["key-type"];
    const days = lastOf(parsed.days);
    const caDays = lastOf(parsed["ca-days"]);
    const ledger = lastOf(parsed.ledger);
    const passwordFile = lastOf(parsed["ledger-password-file"]);
    const pool = lastOf(parsed["ledger-pool"]);
    if (!ledger && (passwordFile || pool)) throw new DepotError("E_BAD_ARGUMENT", "--ledger-password-file and --ledger-pool need --ledger postgres://...");
    const publicUrl = lastOf(parsed["public-url"]);
    const apiUrl = lastOf(parsed["api-url"]);
    const onCrlChange = lastOf(parsed["on-crl-change"]);
    if (!parsed.encrypt && (parsed["passphrase-file"] !== undefined || parsed["passphrase-env"] !== undefined)) {
      throw new DepotError("E_BAD_ARGUMENT", "--passphrase-file and --passphrase-env go with --encrypt");
    }
    const permits = { dns: allValues(rawArgs, "permit-dns"), ip: allValues(rawArgs, "permit-ip") };
    const intermediateDays = lastOf(parsed["intermediate-days"]);
    if (!parsed.intermediate && (permits.dns.length || permits.ip.length || intermediateDays)) {
      throw new DepotError("E_BAD_ARGUMENT", "--intermediate-days, --permit-dns and --permit-ip go with --intermediate");
    }
    const passphrase = parsed.encrypt ? await readPassphrase(parsed, { confirm: true }) : undefined;
    if (keyType === "ed25519") process.stderr.write(`depot: warning: an Ed25519 CA: ${ED25519_BROWSER_NOTE}\n`);
    const root = await createDepot(parsed.path, {
      openLedger,
      ...(labelWords.length ? { label: labelWords.join(" ") } : {}),
      ...(keyType ? { keyType } : {}),
      ...(days ? { days: daysOption(parsed, "days")! } : {}),
      ...(caDays ? { caDays: daysOption(parsed, "ca-days")! } : {}),
      ...(ledger ? { ledger: { url: ledger, ...(passwordFile ? { passwordFile } : {}), ...(pool ? { pool: poolSize(pool) } : {}) } } : {}),
      ...(publicUrl ? { publicUrl: parsePublicUrl(publicUrl) } : {}),
      ...(apiUrl ? { apiUrl: parseApiUrl(apiUrl) } : {}),
      ...(onCrlChange ? { onCrlChange } : {}),
      ...(passphrase !== undefined ? { passphrase } : {}),
      ...(parsed.intermediate ? { intermediate: { permits, ...(intermediateDays ? { days: daysOption(parsed, "intermediate-days")! } : {}) } } : {}),
    });
    console.log(`Created a depot in ${root}`);
    console.log(`CA certificate: ${depotLayout(root).caCertificate}`);
  },
});
