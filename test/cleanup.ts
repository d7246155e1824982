// Preloaded by `npm test` (package.json): a top-level afterAll in a preload
// runs once, after every test file, and removes the temporary folders the
// tests made (a full run made about 1 GB of them in /tmp).
import { afterAll } from "bun:test";
// Tests open depots through src/ca/ (Depot.open, createDepot) as the library
// does: loading the backends' factory installs it as the ledger opener.
import "../src/store/open-ledger.ts";
import { removeTempDirs } from "./helpers.ts";

afterAll(removeTempDirs);
