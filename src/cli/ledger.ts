/**
 * @module
 * `depot ledger rebuild PATH`: the explicit recovery of a lost ledger;
 * `depot ledger migrate PATH --to postgres://…` (ledger-migrate.ts).
 */
import { defineCommand } from "citty";
import { rebuildLedger } from "../store/rebuild.ts";
import { command } from "./_command.ts";
import migrate from "./ledger-migrate.ts";

const rebuildArgs = {
  path: { type: "positional", description: "The depot's folder", required: true },
  "without-crl": { type: "boolean", description: "Go on when crl.pem is missing or not this CA's: every certificate then reads as valid" },
} as const;

const rebuild = command({
  meta: {
    name: "rebuild",
    description: "Make a new ledger for a depot that lost its own, from the certificate files and the revocations and number of the last crl.pem.",
  },
  args: rebuildArgs,
  async run({ args: parsed }) {
    const report = await rebuildLedger(parsed.path, { withoutCrl: parsed["without-crl"] === true });
    if (report.movedAside) console.log(`Moved the damaged ledger aside to ${report.movedAside}`);
    console.log(`Rebuilt the ledger: ${report.certificates} certificate(s) from certificates/ (the CA's included)`);
    if (report.crlNumber === undefined) console.log("No revocations restored (--without-crl)");
    else {
      console.log(`Restored ${report.revoked} revocation(s) from crl.pem (CRL number ${report.crlNumber}; the next CRL is ${report.crlNumber + 1})`);
      if (report.crlOnly > 0) console.log(`${report.crlOnly} revoked serial(s) have no certificate file; they stay on every CRL`);
    }
  },
});

export default defineCommand({
  meta: { name: "ledger", description: "Look after the depot's ledger (ledger rebuild PATH, ledger migrate PATH --to postgres://…)." },
  subCommands: { rebuild, migrate },
});
