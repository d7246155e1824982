/**
 * @module
 * `depot list`: the certificates the depot issued, streamed from the ledger
 * one row at a time, so memory stays flat whatever the depot's size.
 */
import { depotCommand } from "./_command.ts";
import type { CertificateSummary } from "../ca/ledger.ts";
import { DepotError } from "../errors.ts";

import { printable } from "../ca/dn.ts";

const args = {
  path: { type: "positional", description: "The depot's folder", required: true },
  valid: { type: "boolean", description: "Only certificates neither revoked nor expired" },
  revoked: { type: "boolean", description: "Only revoked certificates" },
  expired: { type: "boolean", description: "Only expired certificates" },
  all: { type: "boolean", description: "Include the CA certificate itself (type ca)" },
  json: { type: "boolean", description: "JSON for scripts: an array of records" },
} as const;

export default depotCommand({
  meta: { name: "list", description: "List the certificates the depot issued: serial, type, status, not-after, subject. The CA's own certificate only with --all." },
  args,
  check({ args: parsed }) {
    if (filtersOf(parsed).length > 1) throw new DepotError("E_BAD_ARGUMENT", "give at most one of --valid, --revoked, --expired");
  },
  async run({ args: parsed }, depot) {
    const filters = filtersOf(parsed);
    const now = new Date();
    const out = new BufferedOutput();
    const records = depot.ledger.each({ ...(filters[0] ? { status: filters[0] } : {}), now, includeCa: parsed.all === true });
    if (parsed.json) {
      // The same text JSON.stringify(array, null, 2) would give, one record at a time.
      let first = true;
      await out.write("[");
      for await (const r of records) {
        await out.write(`${first ? "\n" : ",\n"}${jsonRecord(r, now)}`);
        first = false;
      }
      await out.write(first ? "]\n" : "\n]\n");
    } else {
      for await (const r of records) {
        await out.write(`${[r.serial.toUpperCase(), r.type.padEnd(6), statusOf(r, now).padEnd(7), r.notAfter.toISOString().slice(0, 10), printable(r.subject)].join("  ")}\n`);
      }
    }
    await out.flush();
  },
});

/** The status filters given (at most one may be). */
function filtersOf(parsed: { valid?: boolean; revoked?: boolean; expired?: boolean }): ("valid" | "revoked" | "expired")[] {
  return (["valid", "revoked", "expired"] as const).filter((f) => parsed[f]);
}

/** Collects output into chunks of about 64 KiB and waits for stdout to drain between them. */
class BufferedOutput {
  private pending = "";

  async write(text: string): Promise<void> {
    this.pending += text;
    if (this.pending.length >= 65_536) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.pending === "") return;
    const chunk = this.pending;
    this.pending = "";
    if (!process.stdout.write(chunk)) await new Promise((resolve) => process.stdout.once("drain", resolve));
  }
}

/** valid, revoked or expired: revocation wins over expiry. */
export function statusOf(record: CertificateSummary, now: Date): "valid" | "revoked" | "expired" {
  if (record.status === "revoked") return "revoked";
  return record.notAfter <= now ? "expired" : "valid";
}

/**
 * A record as JSON.stringify(records, null, 2) writes an element of the
 * array, built by hand: the generic indenting took most of the time at
 * 100,000 records.
 */
function jsonRecord(r: CertificateSummary, now: Date): string {
  const fields: [string, unknown][] = [
    ["serial", r.serial.toUpperCase()],
    ["subject", r.subject],
    ["type", r.type],
    // Only for depot.cnf's templates: a built-in's is the type.
    ...(r.template ? [["template", r.template] as [string, unknown]] : []),
    ["keyType", r.keyType],
    ["notBefore", r.notBefore.toISOString()],
    ["notAfter", r.notAfter.toISOString()],
    ["fingerprint", r.fingerprint],
    ["status", statusOf(r, now)],
    ["revokedAt", r.revokedAt?.toISOString() ?? null],
    ["revocationReason", r.revocationReason ?? null],
  ];
  return `  {\n${fields.map(([name, value]) => `    "${name}": ${JSON.stringify(value)}`).join(",\n")}\n  }`;
}
