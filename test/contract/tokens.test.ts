/** The tokens contract (tokens.contract.ts) on every backend: SQLite and a real PostgreSQL. */
import { tokenStoreContract } from "./tokens.contract.ts";
import { BACKENDS } from "./backends.ts";

for (const backend of BACKENDS) tokenStoreContract(backend.name, backend.open);
