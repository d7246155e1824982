/** The Ledger contract (ledger.contract.ts) on every backend: SQLite and a real PostgreSQL. */
import { ledgerContract } from "./ledger.contract.ts";
import { BACKENDS } from "./backends.ts";

for (const backend of BACKENDS) ledgerContract(backend.name, backend.open);
