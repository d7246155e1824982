/**
 * @module
 * `depot scep init|challenge`: SCEP (RFC 8894). `init` makes the RA (an
 * RSA key and a certificate from the CA, recorded and audited; the key
 * encrypted with the CA's passphrase when the CA key is encrypted).
 * `challenge create` makes a one-time challenge password for one device's
 * enrolment: kept as a token marked `scep` (its SHA-256, its policy, one
 * use, an expiry), printed once; `challenge list` lists them.
 */
import { defineCommand } from "citty";
import { randomBytes } from "node:crypto";
import { resolve } from "node:path";
import { caKeyIsEncrypted } from "../ca/ca-key.ts";
import { depotLayout } from "../ca/layout.ts";
import { createScepRa, scepRaLayout } from "../ca/scep/ra.ts";
import { checkPolicyPatterns, checkTokenName, hashToken, parseDuration, type TokenRecord } from "../ca/tokens.ts";
import { command, withDepot } from "./_command.ts";
import { passphraseArgs, readPassphrase } from "./_passphrase.ts";
import { lastOf } from "./_strict.ts";
import { checkTemplatesOf, POLICY_REPEATABLE, policyArgs, policyOf } from "./_token-policy.ts";
import { describe, statusOf } from "./token.ts";

const path = { type: "positional", description: "The depot's folder", required: true } as const;

/** A challenge lives an hour unless told otherwise: it is for a device being set up now. */
const DEFAULT_EXPIRY = "1h";

const init = command({
  meta: { name: "init", description: "Make the SCEP RA: an RSA key (private/scep_ra.key) and its certificate from the CA (scep_ra.crt)." },
  args: { path, ...passphraseArgs },
  async run({ args }) {
    const root = resolve(args.path);
    let passphrase: string | undefined;
    if (caKeyIsEncrypted(depotLayout(root).caKey)) passphrase = await readPassphrase(args);
    // The CA signs the RA's certificate: the depot is opened to sign (a wrong passphrase is refused before any key is made).
    const ra = await withDepot(root, (depot) => createScepRa(depot, { ...(passphrase !== undefined ? { passphrase } : {}), requester: { requester: "cli" } }), {
      ...(passphrase !== undefined ? { passphrase } : {}),
    });
    const layout = scepRaLayout(root);
    console.log(`SCEP RA certificate: ${layout.certificate} (serial ${ra.serial.toUpperCase()})`);
    console.log(`SCEP RA key: ${layout.key}${passphrase !== undefined ? " (encrypted with the CA key's passphrase)" : ""}`);
    console.log(`Next: depot scep challenge create ${args.path}, and start the server with --http-port or --https-port: SCEP is at /scep`);
  },
});

const createArgs = {
  path,
  name: { type: "string", description: "The challenge's name, in the audit trail as scep:NAME (default: scep-<random>)" },
  expires: { type: "string", description: "Valid for this long: 30m, 12h, 7d (default 1h)" },
  ...policyArgs,
} as const;

const create = command({
  meta: { name: "create", description: "Make a one-time SCEP challenge password; prints it once (only its hash is kept)." },
  args: createArgs,
  repeatable: POLICY_REPEATABLE,
  async run({ rawArgs, args: parsed }) {
    const name = checkTokenName(lastOf(parsed.name) ?? `scep-${randomBytes(4).toString("hex")}`);
    const policy = { ...policyOf(rawArgs, parsed), scep: true as const };
    checkPolicyPatterns(policy);
    const lifetime = parseDuration(lastOf(parsed.expires) ?? DEFAULT_EXPIRY);
    // Hex: a challengePassword is often a PrintableString, which has no '_' or '-'; 160 bits.
    const challenge = randomBytes(20).toString("hex");
    const now = new Date();
    const record: TokenRecord = { name, hash: hashToken(challenge), policy, createdAt: now, expiresAt: new Date(now.getTime() + lifetime), uses: 1 };
    await withDepot(parsed.path, async (depot) => {
      checkTemplatesOf(depot, policy);
      await depot.ledger.tokens.create(record, { event: "token-create", requester: "cli", token: name });
    });
    console.log(challenge);
    console.error(`depot: SCEP challenge '${name}' created (${describe(record)}); it is shown only now: give it to the device as its challengePassword`);
  },
});

const list = command({
  meta: { name: "list", description: "List the SCEP challenges: name, status and policy (never the passwords)." },
  args: { path },
  async run({ args }) {
    const records = await withDepot(args.path, (depot) => depot.ledger.tokens.list());
    const now = new Date();
    for (const record of records.filter((token) => token.policy.scep)) console.log([record.name.padEnd(16), statusOf(record, now).padEnd(8), describe(record)].join("  "));
  },
});

export default defineCommand({
  meta: { name: "scep", description: "SCEP (RFC 8894) at /scep: the RA (init) and one-time challenge passwords." },
  subCommands: {
    init,
    challenge: defineCommand({ meta: { name: "challenge", description: "One-time SCEP challenge passwords: create, list." }, subCommands: { create, list } }),
  },
});

