/**
 * @module
 * The SQLite ledger's schema, as a list of versioned steps. A ledger's
 * version is its `PRAGMA user_version`: the number of steps applied. Opening
 * a ledger applies the missing steps in one transaction; a ledger newer than
 * this list (written by a newer depot) is refused rather than guessed at.
 *
 * To add tables (tokens, audit records, metrics, ...), append a step; never
 * edit or reorder a released one. Version 1 is the schema depot 0.1.0
 * created (written with IF NOT EXISTS, so 0.1.0's ledgers, at user_version 0
 * with these tables already there, pass through it unchanged).
 */
import { ACME_SCHEMA } from "./acme-schema.ts";
import type { Migration } from "../migration.ts";

// Frozen as the table stood at step 11: a later step that adds a column must not change what step 11 copies.
const COLUMNS_AT_11 = "serial, subject, type, key_type, not_before, not_after, fingerprint, pem, status, revoked_at, revocation_reason, template";

/**
 * A step, and the columns it adds: SQLite's ALTER TABLE has no IF NOT
 * EXISTS, and a step may run again on a ledger that has it (a ledger whose
 * user_version was set back, as 0.1.0's are at 0), so the runner adds a
 * column only when missing, then fills it with `fill`.
 */
export interface SqliteMigration extends Migration {
  addColumns?: { table: string; column: string; definition: string; fill: string }[];
  /** A query giving the rows the step will copy: past SLOW_STEP_ROWS, the runner says on stderr that it may take a while. */
  rowsCopied?: string;
}

/** About 3 s of copying on a 2-core machine (1,000,000 certificates took ~30 s in step 11). */
export const SLOW_STEP_ROWS = 100_000;

export const MIGRATIONS: SqliteMigration[] = [
  {
    version: 1,
    description: "certificates and counters (depot 0.1.0)",
    sql: `
CREATE TABLE IF NOT EXISTS certificates (
  serial            TEXT PRIMARY KEY NOT NULL,
  subject           TEXT NOT NULL,
  type              TEXT NOT NULL CHECK (type IN ('client', 'server', 'ca')),
  key_type          TEXT NOT NULL,
  not_before        TEXT NOT NULL,
  not_after         TEXT NOT NULL,
  fingerprint       TEXT NOT NULL UNIQUE,
  pem               TEXT NOT NULL,
  status            TEXT NOT NULL DEFAULT 'valid' CHECK (status IN ('valid', 'revoked')),
  revoked_at        TEXT,
  revocation_reason TEXT
) STRICT;
CREATE TABLE IF NOT EXISTS counters (
  name  TEXT PRIMARY KEY NOT NULL,
  value INTEGER NOT NULL
) STRICT;`,
  },
  {
    version: 2,
    description: "indexes for listing and for the CRL; revocations known only from a CRL; the revocation counter",
    sql: `
CREATE INDEX IF NOT EXISTS certificates_by_date ON certificates (not_before, serial);
CREATE INDEX IF NOT EXISTS certificates_revoked ON certificates (revoked_at, serial) WHERE status = 'revoked';
-- Serials a rebuilt ledger found revoked in crl.pem but without a certificate file:
-- they stay on every CRL, since nothing else records them.
CREATE TABLE IF NOT EXISTS crl_only_revocations (
  serial            TEXT PRIMARY KEY NOT NULL,
  revoked_at        TEXT NOT NULL,
  revocation_reason TEXT NOT NULL
) STRICT;
-- Counts every revocation; a CRL records the count it covers, so a CRL behind the ledger is seen.
INSERT OR IGNORE INTO counters (name, value) SELECT 'revocations', count(*) FROM certificates WHERE status = 'revoked';`,
  },
  {
    version: 3,
    description: "API tokens (hash and policy, use counts, rate windows) and the audit hash chain",
    sql: `
CREATE TABLE IF NOT EXISTS api_tokens (
  name          TEXT PRIMARY KEY NOT NULL,
  hash          TEXT NOT NULL UNIQUE,
  policy        TEXT NOT NULL,
  created_at    TEXT NOT NULL,
  expires_at    TEXT,
  uses          INTEGER,
  uses_left     INTEGER,
  rate_limit    INTEGER,
  rate_window   INTEGER,
  revoked_at    TEXT,
  window_start  INTEGER NOT NULL DEFAULT 0,
  window_count  INTEGER NOT NULL DEFAULT 0,
  window_before INTEGER NOT NULL DEFAULT 0
) STRICT;
-- One row per issuance, revocation and token change; each holds the SHA-256 of the one before (see audit.ts).
CREATE TABLE IF NOT EXISTS audit (
  seq      INTEGER PRIMARY KEY NOT NULL,
  time     TEXT NOT NULL,
  event    TEXT NOT NULL,
  serial   TEXT,
  body     TEXT NOT NULL,
  previous TEXT NOT NULL,
  hash     TEXT NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS audit_serial ON audit (serial);`,
  },
  {
    version: 4,
    description: "ACME: accounts, orders, authorizations, challenges, used nonces, external account binding keys (acme-schema.ts)",
    sql: ACME_SCHEMA,
  },
  {
    version: 5,
    // No query reads the audit chain by serial (export and verify walk it by
    // seq), and the index cost every issuance and revocation a random B-tree
    // insert: recording 40,000 certificates in groups of 4 took 95-101 us of
    // CPU each with it, 77-87 us without (docs/performance.md).
    description: "drop the audit chain's serial index, which no query used",
    sql: "DROP INDEX IF EXISTS audit_serial;",
  },
  {
    version: 6,
    // PostgreSQL's tables had a position column from the start; SQLite's
    // store ordered by rowid. One column now orders them on both (the
    // rows' place in their order as made), so both stores share one query.
    description: "ACME: authorizations and challenges keep their position in their order, as in the PostgreSQL ledger",
    addColumns: ["acme_authorizations", "acme_challenges"].map((table) => ({ table, column: "position", definition: "INTEGER NOT NULL DEFAULT 0", fill: "rowid" })),
    sql: "",
  },
  {
    version: 7,
    description: "SSH certificates (src/ca/ssh/): one row each, never a key; the KRL's revocation counter",
    sql: `
CREATE TABLE IF NOT EXISTS ssh_certificates (
  serial            TEXT PRIMARY KEY NOT NULL,
  kind              TEXT NOT NULL CHECK (kind IN ('user', 'host')),
  key_id            TEXT NOT NULL,
  principals        TEXT NOT NULL,
  key_type          TEXT NOT NULL,
  key_fingerprint   TEXT NOT NULL,
  valid_after       TEXT NOT NULL,
  valid_before      TEXT NOT NULL,
  certificate       TEXT NOT NULL,
  status            TEXT NOT NULL DEFAULT 'valid' CHECK (status IN ('valid', 'revoked')),
  revoked_at        TEXT,
  revocation_reason TEXT
) STRICT;
CREATE INDEX IF NOT EXISTS ssh_certificates_by_date ON ssh_certificates (valid_after, serial);
CREATE INDEX IF NOT EXISTS ssh_certificates_revoked ON ssh_certificates (kind, serial) WHERE status = 'revoked';
INSERT OR IGNORE INTO counters (name, value) VALUES ('ssh_revocations', 0);`,
  },
  {
    version: 8,
    // NULL for the built-ins client and server (the type says which), and
    // for every row made before templates.
    description: "certificates: the depot.cnf template each was issued under (src/ca/templates.ts)",
    addColumns: [{ table: "certificates", column: "template", definition: "TEXT", fill: "NULL" }],
    sql: "",
  },
  {
    version: 9,
    description: "SCEP: each enrolment's transactionID, the certificate it got and the key that signed it, for GetCertInitial (src/ca/scep/store.ts)",
    sql: `
CREATE TABLE IF NOT EXISTS scep_transactions (
  transaction_id TEXT PRIMARY KEY NOT NULL,
  serial         TEXT NOT NULL,
  signer_key     TEXT NOT NULL,
  created_at     TEXT NOT NULL
) STRICT;`,
  },
  {
    version: 10,
    description: "ACME: spent nonces keyed by their issue time, one B-tree instead of a table and two indexes (a lego order's WAL writes 93 -> 72)",
    // The old rows have no issue time, so they cannot move: a new nonce
    // secret makes every nonce handed out before this step unknown instead
    // (a client's next request gets badNonce and retries with a fresh one).
    sql: `
CREATE TABLE IF NOT EXISTS acme_spent_nonces (
  issued_at INTEGER NOT NULL,
  nonce     TEXT NOT NULL,
  PRIMARY KEY (issued_at, nonce)
) STRICT, WITHOUT ROWID;
DROP TABLE IF EXISTS acme_used_nonces;
DELETE FROM acme_meta WHERE name = 'nonce_secret';`,
  },
  {
    version: 11,
    // The fingerprint's UNIQUE index was never read (no query looks a
    // certificate up by fingerprint) and never refused anything the serial's
    // key would not (two equal fingerprints are one certificate, serial
    // included), but every issuance paid a random B-tree insert into it:
    // 30-40 % of recording's CPU with the serial's (docs/performance.md).
    // SQLite cannot drop a column constraint, so the table is rebuilt, rows
    // and rowids as they were; on a ledger of a million certificates that is
    // a one-time wait at the first open (~30 s), announced on stderr.
    description: "certificates: the fingerprint is no longer a UNIQUE index (rebuilds the table once)",
    rowsCopied: "SELECT count(*) AS rows FROM certificates",
    sql: `
CREATE TABLE certificates_rebuilt (
  serial            TEXT PRIMARY KEY NOT NULL,
  subject           TEXT NOT NULL,
  type              TEXT NOT NULL CHECK (type IN ('client', 'server', 'ca')),
  key_type          TEXT NOT NULL,
  not_before        TEXT NOT NULL,
  not_after         TEXT NOT NULL,
  fingerprint       TEXT NOT NULL,
  pem               TEXT NOT NULL,
  status            TEXT NOT NULL DEFAULT 'valid' CHECK (status IN ('valid', 'revoked')),
  revoked_at        TEXT,
  revocation_reason TEXT,
  template          TEXT
) STRICT;
INSERT INTO certificates_rebuilt (rowid, ${COLUMNS_AT_11})
  SELECT rowid, ${COLUMNS_AT_11} FROM certificates ORDER BY rowid;
DROP TABLE certificates;
ALTER TABLE certificates_rebuilt RENAME TO certificates;
CREATE INDEX certificates_by_date ON certificates (not_before, serial);
CREATE INDEX certificates_revoked ON certificates (revoked_at, serial) WHERE status = 'revoked';`,
  },
];

/** The newest schema version this depot knows. */
export const SCHEMA_VERSION = MIGRATIONS.length;
