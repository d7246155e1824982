/**
 * @module
 * Where the workers' counts add up: a small SQLite file in the depot
 * (`metrics.sqlite`, beside the ledger but apart from it, so that metrics
 * never contend with issuance for the ledger's write lock and the ledger's
 * schema stays the ledger's). Counters only ever grow by the increments the
 * workers flush; gauges are one row per worker, counted while fresh.
 */
import { Database, SQLiteError } from "bun:sqlite";
import { isBusy } from "../../store/sqlite/busy.ts";
import { join } from "node:path";
import { FAMILIES, type Sample } from "./registry.ts";

const SCHEMA = `
CREATE TABLE IF NOT EXISTS counters (
  name   TEXT NOT NULL,
  labels TEXT NOT NULL,
  value  REAL NOT NULL,
  PRIMARY KEY (name, labels)
) STRICT, WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS gauges (
  worker     TEXT NOT NULL,
  name       TEXT NOT NULL,
  labels     TEXT NOT NULL,
  value      REAL NOT NULL,
  updated_ms INTEGER NOT NULL,
  PRIMARY KEY (worker, name, labels)
) STRICT, WITHOUT ROWID;
`;

/** A worker's gauges count while it flushed them this recently (it flushes every second). */
export const GAUGE_FRESH_MS = 3000;

export function metricsStorePath(depotRoot: string): string {
  return join(depotRoot, "metrics.sqlite");
}

export class MetricsStore {
  private readonly db: Database;
  /** Made once: bun:sqlite's transaction() builds its wrappers at every call, and this runs every second in each worker. */
  private readonly flushAll: ReturnType<typeof flushTransaction>;

  constructor(path: string) {
    this.db = new Database(path, { create: true, strict: true });
    this.db.run("PRAGMA busy_timeout = 5000");
    // Two workers making a fresh metrics.sqlite at once: switching it to WAL
    // needs the file to itself, and SQLite answers SQLITE_BUSY at once
    // rather than wait (a worker failed to start, 1 start in 30).
    setUpWhenFree(() => this.db.run("PRAGMA journal_mode = WAL"));
    this.db.run("PRAGMA synchronous = NORMAL");
    setUpWhenFree(() => this.db.run(SCHEMA));
    setUpWhenFree(() => this.db.transaction(() => upgrade(this.db)).immediate());
    // Past the set-up, a worker's event loop never waits long on this file:
    // a flush that meets the lock fails and its increments go with the next one.
    this.db.run("PRAGMA busy_timeout = 20");
    this.flushAll = flushTransaction(this.db);
  }

  /**
   * Adds a worker's increments and replaces its gauges, in one transaction.
   * Throws on a busy database: the caller keeps the increments for the next flush.
   */
  flush(worker: string, increments: Sample[], gauges: Sample[], now = Date.now()): void {
    this.flushAll.immediate(worker, increments, gauges, now);
  }

  counters(): Sample[] {
    return this.db.query<Sample, []>("SELECT name, labels, value FROM counters").all();
  }

  /** Each gauge summed over the workers that reported it recently, and how many workers that is. */
  gauges(now = Date.now()): { samples: Sample[]; workers: number } {
    const since = now - GAUGE_FRESH_MS;
    const samples = this.db
      .query<Sample, [number]>("SELECT name, labels, sum(value) AS value FROM gauges WHERE updated_ms >= ? GROUP BY name, labels")
      .all(since);
    const workers = this.db.query<{ n: number }, [number]>("SELECT count(DISTINCT worker) AS n FROM gauges WHERE updated_ms >= ?").get(since)!.n;
    return { samples, workers };
  }

  /** Drops a worker's gauges at once when it stops (its pool is gone). */
  forget(worker: string): void {
    try {
      this.db.prepare("DELETE FROM gauges WHERE worker = ?").run(worker);
    } catch (error) {
      if (!(error instanceof SQLiteError)) throw error;
    }
  }

  close(): void {
    this.db.close();
  }
}

/**
 * The stored counts' meaning, in `PRAGMA user_version`. 1: a histogram's
 * _bucket rows count each bucket on its own (registry.ts cumulates them
 * when it renders). A file from before held cumulative rows: those series
 * start again from zero, which Prometheus reads as a restart.
 */
const STORE_VERSION = 1;

function upgrade(db: Database): void {
  const version = db.query<{ user_version: number }, []>("PRAGMA user_version").get()!.user_version;
  if (version >= STORE_VERSION) return;
  const histograms = Object.entries(FAMILIES).filter(([, family]) => family.type === "histogram");
  const drop = db.query("DELETE FROM counters WHERE name IN (?, ?, ?)");
  for (const [name] of histograms) drop.run(`${name}_bucket`, `${name}_sum`, `${name}_count`);
  db.run(`PRAGMA user_version = ${STORE_VERSION}`);
}

/** A worker's increments added and its gauges replaced, in one transaction (query() compiles each statement once per connection). */
function flushTransaction(db: Database) {
  return db.transaction((worker: string, increments: Sample[], gauges: Sample[], now: number) => {
    const add = db.query("INSERT INTO counters (name, labels, value) VALUES (?, ?, ?) ON CONFLICT (name, labels) DO UPDATE SET value = value + excluded.value");
    const set = db.query("INSERT OR REPLACE INTO gauges (worker, name, labels, value, updated_ms) VALUES (?, ?, ?, ?, ?)");
    for (const sample of increments) add.run(sample.name, sample.labels, sample.value);
    for (const sample of gauges) set.run(worker, sample.name, sample.labels, sample.value, now);
    // Gauges of workers long gone would only grow the table.
    db.query("DELETE FROM gauges WHERE updated_ms < ?").run(now - 60_000);
  });
}

/** Runs a set-up statement, retrying for up to 5 s while another process holds the file (only at a worker's start). */
function setUpWhenFree(statement: () => void): void {
  const deadline = performance.now() + 5000;
  for (;;) {
    try {
      return statement();
    } catch (error) {
      if (!isBusy(error) || performance.now() > deadline) throw error;
      Bun.sleepSync(5 + Math.random() * 20);
    }
  }
}
