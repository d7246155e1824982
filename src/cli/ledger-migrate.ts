/**
 * @module
 * `depot ledger migrate PATH --to postgres://…`: the command line over
 * `migrateLedgerToPostgres` (src/ca/ledger/migrate-to-postgres.ts).
 */
import { command } from "./_command.ts";
import { migrateLedgerToPostgres } from "../store/migrate-to-postgres.ts";
import { redactedUrl } from "../ca/ledger-url.ts";
import { poolSize } from "../store/postgres/settings.ts";
import { DepotError } from "../errors.ts";
import { lastOf } from "./_strict.ts";

const args = {
  path: { type: "positional", description: "The depot's folder", required: true },
  to: { type: "string", description: "The PostgreSQL ledger: postgres://user@host:5432/db (password from PGPASSWORD or --ledger-password-file)" },
  "ledger-password-file": { type: "string", description: "File holding the ledger's password; its path is kept in depot.cnf, the password never" },
  "ledger-pool": { type: "string", description: "Connections each process keeps to the ledger (4)" },
} as const;

export default command({
  meta: { name: "migrate", description: "Copy the depot's SQLite ledger into PostgreSQL, check the copy, and switch the depot to it (safe to run again)." },
  args,
  async run({ args: parsed }) {
    const url = lastOf(parsed.to);
    if (!url) throw new DepotError("E_BAD_ARGUMENT", "give the target: depot ledger migrate PATH --to postgres://user@host:5432/db");
    const passwordFile = lastOf(parsed["ledger-password-file"]);
    const pool = lastOf(parsed["ledger-pool"]);
    const report = await migrateLedgerToPostgres(parsed.path, { url, ...(passwordFile ? { passwordFile } : {}), ...(pool ? { pool: poolSize(pool) } : {}) });
    console.log(`copied ${report.copied} of ${report.total} certificates (${report.revoked} revoked) to ${redactedUrl(url)}; ${report.total - report.copied} were there already`);
    console.log(`verified ${report.verified} of ${report.total}; CRL numbers continue after ${report.crlNumber}`);
    console.log(`audit chain: copied ${report.audit.copied} of ${report.audit.total} records, verified; API tokens: copied ${report.tokens.copied} of ${report.tokens.total}`);
    // Only a depot that served ACME has ACME rows; one that never did is not told about them.
    if (report.ssh.total > 0) console.log(`SSH certificates: copied ${report.ssh.copied} of ${report.ssh.total}`);
    if (report.acme.total > 0) console.log(`ACME: copied ${report.acme.copied} of ${report.acme.total} rows (accounts, orders, authorizations, challenges, binding keys, used nonces)`);
    console.log("depot.cnf now names the PostgreSQL ledger; ledger.sqlite3 is kept as it was");
  },
});
