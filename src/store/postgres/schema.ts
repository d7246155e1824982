/**
 * @module
 * The PostgreSQL ledger's schema as a list of numbered migrations. At open,
 * one process takes a transaction-level advisory lock and brings the schema
 * up to this binary's version; the others wait on the lock, then find
 * nothing to do. DDL is transactional in PostgreSQL, so a migration that
 * fails leaves the schema as it was. A schema newer than this binary knows
 * is refused: an older binary must not write rows it does not understand.
 */
import type { SQL } from "bun";
import { DepotError } from "../../errors.ts";

import type { Migration } from "../migration.ts";

const MIGRATIONS: Migration[] = [
  {
    version: 1,
    description: "certificates with their issuing host, the CA they belong to, the CRL sequence and per-host publication",
    sql: `
      CREATE TABLE depot_meta (
        name  TEXT PRIMARY KEY,
        value TEXT NOT NULL
      );
      CREATE TABLE certificates (
        serial            TEXT PRIMARY KEY,
        subject           TEXT NOT NULL,
        type              TEXT NOT NULL CHECK (type IN ('client', 'server', 'ca')),
        key_type          TEXT NOT NULL,
        not_before        TIMESTAMPTZ NOT NULL,
        not_after         TIMESTAMPTZ NOT NULL,
        fingerprint       TEXT NOT NULL UNIQUE,
        pem               TEXT NOT NULL,
        status            TEXT NOT NULL DEFAULT 'valid' CHECK (status IN ('valid', 'revoked')),
        revoked_at        TIMESTAMPTZ,
        revocation_reason TEXT,
        host              TEXT NOT NULL
      );
      CREATE INDEX certificates_revoked ON certificates (not_after) WHERE status = 'revoked';
      CREATE INDEX certificates_host ON certificates (host);
      CREATE SEQUENCE crl_number AS BIGINT;
      CREATE TABLE depot_counters (
        name  TEXT PRIMARY KEY,
        value BIGINT NOT NULL
      );
      INSERT INTO depot_counters (name, value) VALUES ('revocations', 0);
      CREATE TABLE crl_published (
        host        TEXT PRIMARY KEY,
        crl_number  BIGINT NOT NULL,
        -- depot_counters.revocations when that CRL was claimed: lower than now means due.
        revocations BIGINT NOT NULL DEFAULT -1,
        this_update TIMESTAMPTZ,
        next_update TIMESTAMPTZ
      );
      -- Serials a CRL listed revoked with no certificate on record (a rebuilt SQLite ledger's): on every CRL.
      CREATE TABLE crl_only_revocations (
        serial            TEXT PRIMARY KEY,
        revoked_at        TIMESTAMPTZ NOT NULL,
        revocation_reason TEXT NOT NULL
      );
    `,
  },
  {
    version: 2,
    description: "API tokens (hash and policy, use counts, rate windows) and the audit hash chain, shared by every host",
    sql: `
      CREATE TABLE api_tokens (
        name          TEXT PRIMARY KEY,
        hash          TEXT NOT NULL UNIQUE,
        policy        TEXT NOT NULL,
        created_at    TIMESTAMPTZ NOT NULL,
        expires_at    TIMESTAMPTZ,
        uses          INTEGER,
        uses_left     INTEGER,
        rate_limit    INTEGER,
        rate_window   INTEGER,
        revoked_at    TIMESTAMPTZ,
        window_start  BIGINT NOT NULL DEFAULT 0,
        window_count  INTEGER NOT NULL DEFAULT 0,
        window_before INTEGER NOT NULL DEFAULT 0
      );
      -- One chain for every host: each record holds the SHA-256 of the one before (see audit.ts).
      CREATE TABLE audit (
        seq      BIGINT PRIMARY KEY,
        time     TEXT NOT NULL,
        event    TEXT NOT NULL,
        serial   TEXT,
        body     TEXT NOT NULL,
        previous TEXT NOT NULL,
        hash     TEXT NOT NULL
      );
      CREATE INDEX audit_serial ON audit (serial);
    `,
  },
  {
    version: 3,
    description: "appending to the audit chain in one call: the lock is held for microseconds, not for round trips (the same hash as audit.ts's chainHash)",
    sql: `
      CREATE FUNCTION depot_audit_append(p_time TEXT, p_event TEXT, p_serial TEXT, p_tail TEXT)
      RETURNS TABLE (o_seq BIGINT, o_previous TEXT, o_hash TEXT, o_body TEXT) LANGUAGE plpgsql AS $fn$
      DECLARE
        head_seq  BIGINT;
        head_hash TEXT;
      BEGIN
        PERFORM pg_advisory_xact_lock(${0x64_65_70_03});
        SELECT a.seq, a.hash INTO head_seq, head_hash FROM audit a ORDER BY a.seq DESC LIMIT 1;
        o_seq := COALESCE(head_seq, 0) + 1;
        o_previous := COALESCE(head_hash, repeat('0', 64));
        -- canonicalBody(seq, ...): the caller sends everything after the seq.
        o_body := '{"seq":' || o_seq || p_tail;
        o_hash := encode(sha256(convert_to(o_previous || E'\\n' || o_body, 'UTF8')), 'hex');
        INSERT INTO audit (seq, time, event, serial, body, previous, hash) VALUES (o_seq, p_time, p_event, p_serial, o_body, o_previous, o_hash);
        RETURN NEXT;
      END
      $fn$;
    `,
  },
  {
    version: 4,
    description: "ACME accounts, orders, authorizations, challenges, EAB keys and used nonces, shared by every host (times in ms since the epoch, as the SQLite store's)",
    sql: `
      CREATE TABLE acme_meta (
        name  TEXT PRIMARY KEY,
        value TEXT NOT NULL
      );
      CREATE TABLE acme_used_nonces (
        nonce   TEXT PRIMARY KEY,
        used_at BIGINT NOT NULL
      );
      CREATE INDEX acme_used_nonces_used_at ON acme_used_nonces (used_at);
      CREATE TABLE acme_accounts (
        id         TEXT PRIMARY KEY,
        thumbprint TEXT NOT NULL UNIQUE,
        jwk        TEXT NOT NULL,
        status     TEXT NOT NULL CHECK (status IN ('valid', 'deactivated', 'revoked')),
        contact    TEXT NOT NULL,
        tos        BOOLEAN NOT NULL,
        eab_kid    TEXT,
        created_at BIGINT NOT NULL
      );
      CREATE TABLE acme_orders (
        id                 TEXT PRIMARY KEY,
        account_id         TEXT NOT NULL REFERENCES acme_accounts (id),
        status             TEXT NOT NULL CHECK (status IN ('pending', 'processing', 'valid', 'invalid')),
        identifiers        TEXT NOT NULL,
        authorizations     TEXT NOT NULL,
        expires            BIGINT NOT NULL,
        not_before         BIGINT,
        not_after          BIGINT,
        error              TEXT,
        certificate_serial TEXT,
        replaces           TEXT,
        created_at         BIGINT NOT NULL,
        processing_since   BIGINT,
        processing_by      TEXT
      );
      CREATE INDEX acme_orders_account ON acme_orders (account_id, created_at);
      CREATE INDEX acme_orders_serial ON acme_orders (certificate_serial);
      -- position: the order of creation (SQLite's rowid), so an order lists its authorizations as it was made.
      CREATE TABLE acme_authorizations (
        id         TEXT PRIMARY KEY,
        position   BIGSERIAL NOT NULL,
        account_id TEXT NOT NULL,
        order_id   TEXT NOT NULL,
        type       TEXT NOT NULL CHECK (type IN ('dns', 'ip')),
        value      TEXT NOT NULL,
        wildcard   BOOLEAN NOT NULL,
        status     TEXT NOT NULL,
        expires    BIGINT NOT NULL
      );
      CREATE INDEX acme_authorizations_order ON acme_authorizations (order_id);
      CREATE INDEX acme_authorizations_account ON acme_authorizations (account_id, type, value);
      CREATE TABLE acme_challenges (
        id               TEXT PRIMARY KEY,
        position         BIGSERIAL NOT NULL,
        authorization_id TEXT NOT NULL,
        type             TEXT NOT NULL,
        token            TEXT NOT NULL,
        status           TEXT NOT NULL CHECK (status IN ('pending', 'processing', 'valid', 'invalid')),
        validated        BIGINT,
        error            TEXT,
        processing_since BIGINT,
        processing_by    TEXT
      );
      CREATE INDEX acme_challenges_authorization ON acme_challenges (authorization_id);
      CREATE TABLE acme_eab_keys (
        kid        TEXT PRIMARY KEY,
        name       TEXT NOT NULL,
        hmac_key   TEXT NOT NULL,
        allow      TEXT NOT NULL,
        created_at BIGINT NOT NULL,
        account_id TEXT
      );
    `,
  },
  {
    version: 5,
    description: "SSH certificates (src/ca/ssh/): one row each, never a key, shared by every host; the KRL's revocation counter",
    sql: `
      CREATE TABLE ssh_certificates (
        serial            TEXT PRIMARY KEY,
        kind              TEXT NOT NULL CHECK (kind IN ('user', 'host')),
        key_id            TEXT NOT NULL,
        principals        TEXT NOT NULL,
        key_type          TEXT NOT NULL,
        key_fingerprint   TEXT NOT NULL,
        valid_after       TIMESTAMPTZ NOT NULL,
        valid_before      TIMESTAMPTZ NOT NULL,
        certificate       TEXT NOT NULL,
        status            TEXT NOT NULL DEFAULT 'valid' CHECK (status IN ('valid', 'revoked')),
        revoked_at        TIMESTAMPTZ,
        revocation_reason TEXT,
        host              TEXT NOT NULL
      );
      CREATE INDEX ssh_certificates_by_date ON ssh_certificates (valid_after, serial);
      CREATE INDEX ssh_certificates_revoked ON ssh_certificates (kind, serial) WHERE status = 'revoked';
      INSERT INTO depot_counters (name, value) VALUES ('ssh_revocations', 0);
    `,
  },
  {
    version: 6,
    // NULL for the built-ins client and server (the type says which), and for rows made before templates.
    description: "certificates: the depot.cnf template each was issued under (src/ca/templates.ts)",
    sql: "ALTER TABLE certificates ADD COLUMN template TEXT;",
  },
  {
    version: 7,
    description: "SCEP: each enrolment's transactionID, the certificate it got and the key that signed it, for GetCertInitial on any host (src/ca/scep/store.ts)",
    sql: `
      CREATE TABLE scep_transactions (
        transaction_id TEXT PRIMARY KEY,
        serial         TEXT NOT NULL,
        signer_key     TEXT NOT NULL,
        created_at     TIMESTAMPTZ NOT NULL
      );
    `,
  },
  {
    version: 8,
    // As in the SQLite ledger (its step 11): no query reads it, the serial's
    // key already refuses a second copy of a certificate, and each issuance
    // paid a random index insert for it.
    description: "certificates: the fingerprint is no longer a UNIQUE index",
    sql: "ALTER TABLE certificates DROP CONSTRAINT IF EXISTS certificates_fingerprint_key;",
  },
];

export const SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;

/** Key of the advisory lock that makes one process migrate while the others wait. */
const MIGRATION_LOCK = 0x64_65_70_01;

/**
 * Brings the schema to SCHEMA_VERSION. Without `create`, a database with no
 * depot schema at all is refused (a wrong URL must not become an empty CA).
 * Returns the version found before migrating (0: none).
 */
export async function migrateSchema(sql: SQL, options: { create: boolean; url: string }): Promise<number> {
  return sql.begin(async (tx) => {
    await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK})`;
    const [{ present }] = await tx`SELECT to_regclass('depot_schema') IS NOT NULL AS present`;
    let found = 0;
    if (present) {
      const [row] = await tx`SELECT version FROM depot_schema`;
      found = Number(row?.version ?? 0);
    } else if (!options.create) {
      throw new DepotError("E_LEDGER", `the database ${options.url} holds no depot ledger; make one with depot init PATH --ledger URL, or depot ledger migrate PATH --to URL`);
    }
    if (found > SCHEMA_VERSION) {
      throw new DepotError("E_LEDGER", `the ledger ${options.url} has schema version ${found}, newer than this depot knows (${SCHEMA_VERSION}); upgrade depot on this host`);
    }
    if (!present) await tx`CREATE TABLE depot_schema (version INTEGER NOT NULL)`;
    for (const migration of MIGRATIONS.filter((m) => m.version > found)) {
      try {
        await tx.unsafe(migration.sql);
      } catch (error) {
        // 42P07: a table of that name exists, not depot's (depot's would have depot_schema).
        if ((error as { errno?: string }).errno === "42P07") {
          throw new DepotError("E_LEDGER", `the database ${options.url} already holds tables of another program (${(error as Error).message}); give depot a database of its own`);
        }
        throw error;
      }
    }
    if (found < SCHEMA_VERSION) {
      await tx`DELETE FROM depot_schema`;
      await tx`INSERT INTO depot_schema (version) VALUES (${SCHEMA_VERSION})`;
    }
    return found;
  });
}
