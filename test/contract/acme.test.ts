/** The ACME store contract (acme.contract.ts) on every backend: SQLite and a real PostgreSQL. */
import { acmeStoreContract } from "./acme.contract.ts";
import { BACKENDS } from "./backends.ts";

for (const backend of BACKENDS) acmeStoreContract(backend.name, backend.open);
