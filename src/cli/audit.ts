/**
 * @module
 * `depot audit verify|export`: the ledger's hash chain of issuances,
 * revocations and token changes.
 */
import { defineCommand } from "citty";
import { command } from "./_command.ts";
import { type AuditLog, auditLine } from "../ca/audit.ts";
import { Depot } from "../ca/depot.ts";
import { DepotError } from "../errors.ts";
import {lastOf } from "./_strict.ts";

async function withAudit<T>(path: string, work: (audit: AuditLog) => Promise<T>): Promise<T> {
  const depot = await Depot.open(path, { withoutSigning: true }); // never signs: an encrypted key stays locked
  try {
    return await work(depot.ledger.audit);
  } finally {
    depot.close();
  }
}

const verifyArgs = {
  path: { type: "positional", description: "The depot's folder", required: true },
} as const;

const verify = command({
  meta: { name: "verify", description: "Check the audit chain; says where it breaks (exit 1)." },
  args: verifyArgs,
  async run({ args: parsed }) {
    const verdict = await withAudit(parsed.path, (audit) => audit.verify());
    if (!verdict.ok) throw new DepotError("E_BAD_ARGUMENT", `audit chain broken at record ${verdict.seq}: ${verdict.problem} (${verdict.count} record(s) before it verify)`);
    console.log(`audit chain intact: ${verdict.count} record(s), head ${verdict.head}`);
  },
});

const exportArgs = {
  path: { type: "positional", description: "The depot's folder", required: true },
  after: { type: "string", description: "Only records after this sequence number" },
} as const;

const exportCommand = command({
  meta: { name: "export", description: "Print the audit records as JSON lines, oldest first." },
  args: exportArgs,
  async run({ args: parsed }) {
    const afterText = lastOf(parsed.after) ?? "0";
    if (!/^\d+$/.test(afterText)) throw new DepotError("E_BAD_ARGUMENT", `--after must be a record's sequence number, not '${afterText}'`);
    await withAudit(parsed.path, async (audit) => {
      for (let after = Number(afterText); ; ) {
        const records = await audit.after(after, 1000);
        if (records.length === 0) break;
        process.stdout.write(`${records.map(auditLine).join("\n")}\n`);
        after = records.at(-1)!.seq;
      }
    });
  },
});

export default defineCommand({
  meta: { name: "audit", description: "The audit trail: verify the hash chain, export it as JSON lines." },
  subCommands: { verify, export: exportCommand },
});
