/**
 * @module The ACME tables, in the depot's ledger beside the certificates:
 * step 4 of the ledger's migration list (migrations.ts; step 6 adds the
 * authorizations' and challenges' position, step 10 replaces
 * acme_used_nonces with acme_spent_nonces).
 */
export const ACME_SCHEMA = `
CREATE TABLE IF NOT EXISTS acme_meta (
  name  TEXT PRIMARY KEY NOT NULL,
  value TEXT NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS acme_used_nonces (
  nonce   TEXT PRIMARY KEY NOT NULL,
  used_at INTEGER NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS acme_used_nonces_used_at ON acme_used_nonces (used_at);
CREATE TABLE IF NOT EXISTS acme_accounts (
  id         TEXT PRIMARY KEY NOT NULL,
  thumbprint TEXT NOT NULL UNIQUE,
  jwk        TEXT NOT NULL,
  status     TEXT NOT NULL CHECK (status IN ('valid', 'deactivated', 'revoked')),
  contact    TEXT NOT NULL,
  tos        INTEGER NOT NULL,
  eab_kid    TEXT,
  created_at INTEGER NOT NULL
) STRICT;
CREATE TABLE IF NOT EXISTS acme_orders (
  id                 TEXT PRIMARY KEY NOT NULL,
  account_id         TEXT NOT NULL REFERENCES acme_accounts (id),
  status             TEXT NOT NULL CHECK (status IN ('pending', 'processing', 'valid', 'invalid')),
  identifiers        TEXT NOT NULL,
  authorizations     TEXT NOT NULL,
  expires            INTEGER NOT NULL,
  not_before         INTEGER,
  not_after          INTEGER,
  error              TEXT,
  certificate_serial TEXT,
  replaces           TEXT,
  created_at         INTEGER NOT NULL,
  processing_since   INTEGER,
  processing_by      TEXT
) STRICT;
CREATE INDEX IF NOT EXISTS acme_orders_account ON acme_orders (account_id, created_at);
CREATE INDEX IF NOT EXISTS acme_orders_serial ON acme_orders (certificate_serial);
CREATE TABLE IF NOT EXISTS acme_authorizations (
  id         TEXT PRIMARY KEY NOT NULL,
  account_id TEXT NOT NULL,
  order_id   TEXT NOT NULL,
  type       TEXT NOT NULL CHECK (type IN ('dns', 'ip')),
  value      TEXT NOT NULL,
  wildcard   INTEGER NOT NULL,
  status     TEXT NOT NULL,
  expires    INTEGER NOT NULL
) STRICT;
CREATE INDEX IF NOT EXISTS acme_authorizations_order ON acme_authorizations (order_id);
CREATE INDEX IF NOT EXISTS acme_authorizations_account ON acme_authorizations (account_id, type, value);
CREATE TABLE IF NOT EXISTS acme_challenges (
  id               TEXT PRIMARY KEY NOT NULL,
  authorization_id TEXT NOT NULL,
  type             TEXT NOT NULL,
  token            TEXT NOT NULL,
  status           TEXT NOT NULL CHECK (status IN ('pending', 'processing', 'valid', 'invalid')),
  validated        INTEGER,
  error            TEXT,
  processing_since INTEGER,
  processing_by    TEXT
) STRICT;
CREATE INDEX IF NOT EXISTS acme_challenges_authorization ON acme_challenges (authorization_id);
CREATE TABLE IF NOT EXISTS acme_eab_keys (
  kid        TEXT PRIMARY KEY NOT NULL,
  name       TEXT NOT NULL,
  hmac_key   TEXT NOT NULL,
  allow      TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  account_id TEXT
) STRICT;
`;
