/**
 * The open database as the rest of the program sees it (an opaque `Database`) and as this
 * folder's files see it (the `Handle`: pool, drizzle, settings). Only lib/db reaches through.
 */
import type mysql from "mysql2/promise";
import type { MySql2Database } from "drizzle-orm/mysql2";
import type { Backoff } from "../errors/mod.ts";
import type { DatabaseTarget } from "./_target.ts";
import type * as schema from "./_schema.ts";

/** Called before each retry with the error, the attempt that failed and the wait. */
export type RetryHook = (error: unknown, attempt: number, delayMs: number) => void;

/**
 * An open database, passed to this folder's functions (ingestBatch, storedOffsets, ...).
 * `await using db = await openDatabase(config)` closes it at the end of the scope.
 */
export interface Database extends AsyncDisposable {
  /** Where it is; `display` is the URL with its password masked. */
  readonly target: DatabaseTarget;
  /** Closes the pool once the queries in flight are done. */
  close(): Promise<void>;
}

/** drizzle over the pool, with the schema's tables. */
export type Drizzle = MySql2Database<typeof schema>;

/** An open transaction of the drizzle handle. */
export type Tx = Parameters<Parameters<Drizzle["transaction"]>[0]>[0];

/** What this folder's files reach through a Database. */
export interface Handle {
  readonly pool: mysql.Pool;
  /** Connections of database.read_ahead (see _read_ahead.ts); absent when it is 0. */
  readonly readers?: mysql.Pool;
  readonly drizzle: Drizzle;
  readonly target: DatabaseTarget;
  readonly connectTimeoutMs: number;
  /** How transactions (a batch, a migration) are retried after transient failures. */
  readonly retry: Backoff;
  readonly onRetry?: RetryHook;
  /** Byte budget of one statement: well below the server's max_allowed_packet. */
  readonly statementBytes: number;
  readonly close: () => Promise<void>;
}

const handles = new WeakMap<Database, Handle>();

/** Wraps a handle into the Database that the rest of the program holds. */
export function registerDatabase(handle: Handle): Database {
  const db: Database = Object.freeze({
    target: handle.target,
    close: handle.close,
    [Symbol.asyncDispose]: handle.close,
  });
  handles.set(db, handle);
  return db;
}

/** The pool, drizzle and settings behind a Database. */
export function handleOf(db: Database): Handle {
  const handle = handles.get(db);
  if (!handle) throw new TypeError("Cannot use a database that openDatabase() did not open");
  return handle;
}
