/**
 * @module
 * Makes a large depot quickly for the benches: `init` once, then rows
 * inserted straight into the ledger in one transaction, each a copy of one
 * real certificate with its own serial and fingerprint (list and CRL read
 * only the rows, so the copies need not be distinct certificates).
 */
import "../src/store/open-ledger.ts"; // installs the ledger factory: Depot.open and createDepot open the ledger depot.cnf names
import { Database } from "bun:sqlite";
import { join } from "node:path";
import { createDepot } from "../src/ca/create.ts";
import { Depot } from "../src/ca/depot.ts";
import { parseDn } from "../src/ca/dn.ts";

export async function makeLargeDepot(path: string, options: { certificates: number; revoked: number }): Promise<string> {
  const root = await createDepot(path, { keyType: "ec-p256" });
  const depot = await Depot.open(root);
  const template = (await depot.issue({ profile: "client", subject: parseDn("CN=template") })).record;
  depot.close();
  const db = new Database(join(root, "ledger.sqlite3"));
  const insert = db.prepare(
    "INSERT INTO certificates (serial, subject, type, key_type, not_before, not_after, fingerprint, pem, status, revoked_at, revocation_reason) VALUES (?, ?, 'client', 'ec-p256', ?, ?, ?, ?, ?, ?, ?)",
  );
  const reasons = ["unspecified", "keyCompromise", "superseded", "cessationOfOperation", "affiliationChanged"];
  const start = template.notBefore.getTime();
  db.transaction(() => {
    for (let i = 0; i < options.certificates; i++) {
      const serial = (0x40000000000000000000000000000000n + BigInt(i) * 7919n).toString(16);
      const revoked = i < options.revoked;
      const notBefore = new Date(start + i * 1000).toISOString();
      insert.run(
        serial,
        `CN=bench user ${i},O=Bench`,
        notBefore,
        template.notAfter.toISOString(),
        `bench-${i}`,
        template.pem,
        revoked ? "revoked" : "valid",
        revoked ? new Date(start + i * 1000).toISOString() : null,
        revoked ? reasons[i % reasons.length]! : null,
      );
    }
    db.run("INSERT OR REPLACE INTO counters (name, value) VALUES ('revocations', ?)", [options.revoked]);
  })();
  db.close();
  return root;
}
