/**
 * @module
 * The two backends every contract runs on: a fresh SQLite ledger file, and
 * a fresh database on the test run's real PostgreSQL server
 * (test/pg-server.ts, installed and started on first use). Each call opens
 * a new, empty ledger holding nothing but what the test records.
 */
import { afterEach } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Ledger } from "../../src/ca/ledger.ts";
import { SqliteLedger } from "../../src/store/sqlite/ledger.ts";
import { PostgresLedger } from "../../src/store/postgres/ledger.ts";
import { tempDir } from "../helpers.ts";
import { pgDatabase } from "../pg-server.ts";

export interface Backend {
  name: string;
  open(): Promise<Ledger>;
}

/** PostgreSQL's first use installs and starts a server: minutes on a fresh machine. */
export const SETUP_TIMEOUT = 300_000;

export const BACKENDS: Backend[] = [
  {
    name: "sqlite",
    async open() {
      return SqliteLedger.open(join(tempDir("depot-contract-"), "ledger.sqlite3"), { create: true, groupReadable: false });
    },
  },
  {
    name: "postgres",
    async open() {
      const db = await pgDatabase();
      const passwordFile = join(tempDir("depot-contract-"), "pw");
      writeFileSync(passwordFile, `${db.password}\n`, { mode: 0o600 });
      return PostgresLedger.open({ url: db.url, passwordFile, caFingerprint: "ca".repeat(32), host: "contract-host:/depot", create: true });
    },
  },
];

/**
 * For one contract's describe block: opens a fresh ledger per call and
 * closes every ledger it opened after each test.
 */
export function freshLedgers(open: () => Promise<Ledger>): () => Promise<Ledger> {
  let opened: Ledger[] = [];
  afterEach(() => {
    for (const ledger of opened) ledger.close();
    opened = [];
  });
  return async () => {
    const ledger = await open();
    opened.push(ledger);
    return ledger;
  };
}
