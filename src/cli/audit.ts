/**
 * @module
 * `depot audit verify|export`: the ledger's hash chain of issuances,
 * revocations and token changes.
 */
import { defineCommand } from "citty";
import { depotCommand } from "./_command.ts";
import { auditLine } from "../ca/audit.ts";
import { DepotError } from "../errors.ts";
import { lastOf } from "./_strict.ts";

const verifyArgs = {
  path: { type: "positional", description: "The depot's folder", required: true },
} as const;

const verify = depotCommand({
  meta: { name: "verify", description: "Check the audit chain; says where it breaks (exit 1)." },
  args: verifyArgs,
  async run(_context, depot) {
    const verdict = await depot.ledger.audit.verify();
    if (!verdict.ok) throw new DepotError("E_BAD_ARGUMENT", `audit chain broken at record ${verdict.seq}: ${verdict.problem} (${verdict.count} record(s) before it verify)`);
    console.log(`audit chain intact: ${verdict.count} record(s), head ${verdict.head}`);
  },
});

const exportArgs = {
  path: { type: "positional", description: "The depot's folder", required: true },
  after: { type: "string", description: "Only records after this sequence number" },
} as const;

/** The --after value: a record's sequence number (0: from the first). */
const afterOf = (after: unknown): string => lastOf(after) ?? "0";

const exportCommand = depotCommand({
  meta: { name: "export", description: "Print the audit records as JSON lines, oldest first." },
  args: exportArgs,
  check({ args: parsed }) {
    const afterText = afterOf(parsed.after);
    if (!/^\d+$/.test(afterText)) throw new DepotError("E_BAD_ARGUMENT", `--after must be a record's sequence number, not '${afterText}'`);
  },
  async run({ args: parsed }, depot) {
    for (let after = Number(afterOf(parsed.after)); ; ) {
      const records = await depot.ledger.audit.after(after, 1000);
      if (records.length === 0) break;
      process.stdout.write(`${records.map(auditLine).join("\n")}\n`);
      after = records.at(-1)!.seq;
    }
  },
});

export default defineCommand({
  meta: { name: "audit", description: "The audit trail: verify the hash chain, export it as JSON lines." },
  subCommands: { verify, export: exportCommand },
});
