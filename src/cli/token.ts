/**
 * @module
 * `depot token create|list|revoke`: API tokens. A new token is printed once;
 * the ledger keeps its SHA-256 and its policy. Each change is an audit
 * record, in the same transaction.
 */
import { defineCommand } from "citty";
import { command, withDepot } from "./_command.ts";
import type { TokenPolicy } from "../ca/token-policy.ts";
import {
  checkPolicyPatterns,
  checkTokenName,
  formatRate,
  hashToken,
  newToken,
  parseDuration,
  parseRate,
  type TokenRecord,
  type TokenStore,
} from "../ca/tokens.ts";
import { DepotError } from "../errors.ts";
import { describeSshPolicy, sshPolicyOf } from "../ca/ssh/policy.ts";
import { allValues, lastOf } from "./_strict.ts";
import { checkTemplatesOf, POLICY_REPEATABLE, policyArgs, policyOf } from "./_token-policy.ts";

/** Works on the depot's token tables for one command. */
function withTokens<T>(path: string, work: (tokens: TokenStore) => Promise<T>): Promise<T> {
  return withDepot(path, (depot) => work(depot.ledger.tokens));
}

const createArgs = {
  path: { type: "positional", description: "The depot's folder", required: true },
  name: { type: "string", description: "The token's name (in the audit trail and for revoke)" },
  admin: { type: "boolean", description: "May list and revoke certificates over the API" },
  ...policyArgs,
  uses: { type: "string", description: "Number of issuances, then the token is used up (e.g. 1 for enrolment)" },
  expires: { type: "string", description: "Valid for this long: 30m, 12h, 7d" },
  rate: { type: "string", description: "At most this many requests, across all workers: 10/min (also /s, /h)" },
  ssh: { type: "string", description: "May sign SSH certificates of this kind: user or host (repeatable)" },
  "ssh-principal": { type: "string", description: "With --ssh: a principal it may ask for, '*' any text (repeatable): deploy, *.svc.example.com" },
  "ssh-key-id": { type: "string", description: "With --ssh: a key id it may give, '*' any text (repeatable; default any)" },
  "ssh-max-valid": { type: "string", description: "With --ssh: longest SSH validity: 30m, 16h, 7d" },
} as const;

const create = command({
  meta: { name: "create", description: "Make an API token; prints it once (only its hash is kept)." },
  args: createArgs,
  repeatable: [...POLICY_REPEATABLE, "ssh", "ssh-principal", "ssh-key-id"],
  async run({ rawArgs, args: parsed }) {
    const nameText = lastOf(parsed.name);
    if (nameText === undefined) throw new DepotError("E_BAD_ARGUMENT", "missing --name (the token's name)");
    const name = checkTokenName(nameText);
    const policy: TokenPolicy = { ...policyOf(rawArgs, parsed), admin: parsed.admin === true };
    const sshMaxValid = lastOf(parsed["ssh-max-valid"]);
    const ssh = sshPolicyOf({
      kinds: allValues(rawArgs, "ssh"),
      principals: allValues(rawArgs, "ssh-principal"),
      keyIds: allValues(rawArgs, "ssh-key-id"),
      ...(sshMaxValid !== undefined ? { maxValidityMs: parseDuration(sshMaxValid) } : {}),
    });
    if (ssh) policy.ssh = ssh;
    checkPolicyPatterns(policy);
    const usesText = lastOf(parsed.uses);
    const uses = usesText === undefined ? undefined : Number(usesText);
    if (uses !== undefined && (!/^\d+$/.test(usesText!) || uses < 1 || !Number.isSafeInteger(uses))) throw new DepotError("E_BAD_ARGUMENT", `--uses must be a whole number of 1 or more, not '${usesText}'`);
    const expires = lastOf(parsed.expires);
    const rate = lastOf(parsed.rate);
    const now = new Date();
    const token = newToken();
    const record: TokenRecord = {
      name,
      hash: hashToken(token),
      policy,
      createdAt: now,
      ...(expires ? { expiresAt: new Date(now.getTime() + parseDuration(expires)) } : {}),
      ...(uses !== undefined ? { uses } : {}),
      ...(rate ? { rate: parseRate(rate) } : {}),
    };
    await withDepot(parsed.path, async (depot) => {
      // A template the depot lacks, or one of another base than --type, would refuse every request: refused now instead.
      checkTemplatesOf(depot, policy);
      await depot.ledger.tokens.create(record, { event: "token-create", requester: "cli", token: name });
    });
    console.log(token);
    console.error(`depot: token '${name}' created (${describe(record)}); it is shown only now: keep it secret`);
  },
});

const listArgs = {
  path: { type: "positional", description: "The depot's folder", required: true },
  json: { type: "boolean", description: "JSON for scripts" },
} as const;

const list = command({
  meta: { name: "list", description: "List the API tokens: name, status and policy (never the tokens)." },
  args: listArgs,
  async run({ args: parsed }) {
    const records = await withTokens(parsed.path, (tokens) => tokens.list());
    const now = new Date();
    if (parsed.json) {
      process.stdout.write(`${JSON.stringify(records.map(({ hash: _hash, ...rest }) => ({ ...rest, status: statusOf(rest as TokenRecord, now) })), null, 2)}\n`);
      return;
    }
    for (const record of records) console.log([record.name.padEnd(16), statusOf(record, now).padEnd(8), describe(record)].join("  "));
  },
});

const revokeArgs = {
  path: { type: "positional", description: "The depot's folder", required: true },
  name: { type: "positional", description: "The token's name", required: true },
} as const;

const revoke = command({
  meta: { name: "revoke", description: "Revoke an API token: refused from the next request on." },
  args: revokeArgs,
  async run({ args: parsed }) {
    const name = parsed.name;
    await withTokens(parsed.path, (tokens) => tokens.revoke(name, new Date(), { event: "token-revoke", requester: "cli", token: name }));
    console.log(`Revoked token '${name}'`);
  },
});

export function statusOf(record: TokenRecord, now: Date): string {
  if (record.revokedAt) return "revoked";
  if (record.expiresAt && record.expiresAt <= now) return "expired";
  if (record.usesLeft !== undefined && record.usesLeft <= 0) return "used-up";
  return "active";
}

export function describe(record: TokenRecord): string {
  const { policy } = record;
  const parts = [
    policy.admin ? "admin" : undefined,
    policy.type ? `type ${policy.type}` : undefined,
    policy.templates ? `templates ${policy.templates.join(",")}` : undefined,
    policy.allow.length ? `allow ${policy.allow.join(" ")}` : "any name",
    policy.keyTypes ? `key ${policy.keyTypes.join(",")}` : undefined,
    policy.maxDays ? `max ${policy.maxDays} days` : undefined,
    record.uses !== undefined ? `${record.usesLeft ?? record.uses}/${record.uses} uses left` : undefined,
    record.expiresAt ? `expires ${record.expiresAt.toISOString()}` : undefined,
    record.rate ? `rate ${formatRate(record.rate)}` : undefined,
    policy.ssh ? describeSshPolicy(policy.ssh) : undefined,
    policy.scep ? "SCEP challenge" : undefined,
  ];
  return parts.filter(Boolean).join(", ");
}

export default defineCommand({
  meta: { name: "token", description: "API tokens for the HTTPS API: create, list, revoke." },
  subCommands: { create, list, revoke },
});
