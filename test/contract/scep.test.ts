/** The SCEP store contract (scep.contract.ts) on every backend: SQLite and a real PostgreSQL. */
import { BACKENDS } from "./backends.ts";
import { scepStoreContract } from "./scep.contract.ts";

for (const backend of BACKENDS) scepStoreContract(backend.name, backend.open);
