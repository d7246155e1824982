/**
 * @module
 * `depot ledger …`: commands on the depot's ledger itself.
 */
import { defineCommand } from "citty";
import migrate from "./ledger-migrate.ts";

export default defineCommand({
  meta: { name: "ledger", description: "Work on the depot's ledger: migrate it to PostgreSQL." },
  subCommands: { migrate },
});
