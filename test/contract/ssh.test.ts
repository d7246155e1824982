/** The SSH store contract (ssh.contract.ts) on every backend: SQLite and a real PostgreSQL. */
import { BACKENDS } from "./backends.ts";
import { sshStoreContract } from "./ssh.contract.ts";

for (const backend of BACKENDS) sshStoreContract(backend.name, backend.open);
