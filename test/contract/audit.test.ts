/** The audit contract (audit.contract.ts) on every backend: SQLite and a real PostgreSQL. */
import { auditLogContract } from "./audit.contract.ts";
import { BACKENDS } from "./backends.ts";

for (const backend of BACKENDS) auditLogContract(backend.name, backend.open);
