import { defineCommand } from "citty";
import { Depot } from "../ca/depot.ts";
import type { CertificateRecord } from "../ca/ledger.ts";
import { DepotError } from "../errors.ts";
import { rejectUnknownArgs } from "./_strict.ts";

const args = {
  path: { type: "positional", description: "The depot's folder", required: true },
  valid: { type: "boolean", description: "Only certificates neither revoked nor expired" },
  revoked: { type: "boolean", description: "Only revoked certificates" },
  expired: { type: "boolean", description: "Only expired certificates" },
  json: { type: "boolean", description: "JSON for scripts: an array of records" },
} as const;

export default defineCommand({
  meta: { name: "list", description: "List the certificates the depot issued: serial, type, status, not-after, subject." },
  args,
  async run({ rawArgs, args: parsed }) {
    rejectUnknownArgs(rawArgs, args);
    const filters = (["valid", "revoked", "expired"] as const).filter((f) => parsed[f]);
    if (filters.length > 1) throw new DepotError("E_BAD_ARGUMENT", "give at most one of --valid, --revoked, --expired");
    const depot = await Depot.open(parsed.path, { withoutSigning: true }); // never signs: an encrypted key stays locked
    const now = new Date();
    try {
      const records = (await depot.ledger.list()).filter((r) => filters.length === 0 || statusOf(r, now) === filters[0]);
      if (parsed.json) {
        process.stdout.write(`${JSON.stringify(records.map((r) => toJson(r, now)), null, 2)}\n`);
        return;
      }
      for (const r of records) {
        console.log([r.serial.toUpperCase(), r.type.padEnd(6), statusOf(r, now).padEnd(7), r.notAfter.toISOString().slice(0, 10), r.subject].join("  "));
      }
    } finally {
      depot.close();
    }
  },
});

/** valid, revoked or expired: revocation wins over expiry. */
export function statusOf(record: CertificateRecord, now: Date): "valid" | "revoked" | "expired" {
  if (record.status === "revoked") return "revoked";
  return record.notAfter <= now ? "expired" : "valid";
}

function toJson(r: CertificateRecord, now: Date) {
  return {
    serial: r.serial.toUpperCase(),
    subject: r.subject,
    type: r.type,
    keyType: r.keyType,
    notBefore: r.notBefore.toISOString(),
    notAfter: r.notAfter.toISOString(),
    fingerprint: r.fingerprint,
    status: statusOf(r, now),
    revokedAt: r.revokedAt?.toISOString() ?? null,
    revocationReason: r.revocationReason ?? null,
  };
}
