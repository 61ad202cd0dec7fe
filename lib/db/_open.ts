/**
 * Opening the database: creating it if missing, the mysql2 pool and the drizzle handle over
 * it, and the retry policy of the transactions run on it. Outside this folder an open
 * database is an opaque `Database`: the pool and the query builder never leave lib/db.
 */
import mysql from "mysql2/promise";
import { drizzle } from "drizzle-orm/mysql2";
import type { PipelineConfig, TlsConfig } from "../config/mod.ts";
import type { Backoff } from "../errors/mod.ts";
import { connectionProblem, errorCode } from "./_errors.ts";
import { connectionOptions, type DatabaseTarget, databaseTarget } from "./_target.ts";
import { applyMigrations } from "./_migrations.ts";
import { applyKeyType } from "./_keys.ts";
import { type Database, registerDatabase, type RetryHook } from "./_handle.ts";
import * as schema from "./_schema.ts";

/** Options of openDatabase(). */
export interface OpenOptions {
  /** Apply pending migrations (default true). */
  readonly migrate?: boolean;
  /** Create the database when it does not exist (default true); else fail with ER_BAD_DB_ERROR. */
  readonly create?: boolean;
  /**
   * How long and how fast a transaction (a batch, a migration) is retried after a transient
   * failure; default 50 ms doubling to 5 s, for at most 120 s.
   */
  readonly retry?: Partial<Backoff>;
  /** Told about each retry (default: nothing is said; this folder never prints). */
  readonly onRetry?: RetryHook;
  /** Milliseconds to wait for the server to answer a connection attempt (default 10 s). */
  readonly connectTimeoutMs?: number;
  /** Told when the key columns are converted to database.key_type (a rewrite of the tables). */
  readonly onLog?: (text: string) => void;
}

/** Long enough to ride out a database restart of half a minute or more. */
const DEFAULT_RETRY = { retryForMs: 120_000, initialDelayMs: 50, maxDelayMs: 5_000 } as const;

/**
 * Opens the database of config.database: creates it if missing (utf8mb4), opens the pool
 * (UTC session time zone) and applies pending migrations.
 */
export async function openDatabase(
  config: PipelineConfig,
  options: OpenOptions = {},
): Promise<Database> {
  const target = databaseTarget(config.database);
  const connectTimeoutMs = options.connectTimeoutMs ?? 10_000;
  await createDatabaseIfMissing(target, connectTimeoutMs, options.create ?? true);
  const pool = mysql.createPool({
    ...connectionOptions(target, { connectTimeoutMs }),
    connectionLimit: config.database.poolSize,
    enableKeepAlive: true,
  });
  // CURRENT_TIMESTAMP(3) defaults must be UTC too; queued before any query on the connection.
  pool.pool.on("connection", (connection) => {
    connection.query("SET time_zone = '+00:00'", (error: unknown) => {
      if (error) connection.destroy();
    });
  });
  const readers = config.database.readAhead > 0
    ? mysql.createPool({
      ...connectionOptions(target, { connectTimeoutMs }),
      connectionLimit: config.database.readAhead,
      enableKeepAlive: true,
    })
    : undefined;
  try {
    // A statement over max_allowed_packet makes the server drop the connection, which would
    // look like a transient failure: statements are kept to a quarter of it (at most 4 MiB).
    const [[row]] = await pool.query<mysql.RowDataPacket[]>(
      "SELECT @@max_allowed_packet AS packet",
    );
    const db = registerDatabase({
      pool,
      readers,
      drizzle: drizzle({ client: pool, schema, mode: "default" }),
      target,
      connectTimeoutMs,
      retry: { ...DEFAULT_RETRY, ...options.retry },
      onRetry: options.onRetry,
      statementBytes: Math.max(64 * 1024, Math.min(4 * 1024 * 1024, Number(row.packet) / 4)),
      close: async () => {
        await readers?.end();
        await pool.end();
      },
    });
    if (options.migrate ?? true) {
      await applyMigrations(db);
      await applyKeyType(db, config.database.keyType, options.onLog);
    }
    return db;
  } catch (error) {
    await readers?.end().catch(() => {});
    await pool.end().catch(() => {});
    throw error;
  }
}

/** Creates the database if it does not exist; one that exists needs no CREATE privilege. */
async function createDatabaseIfMissing(
  target: DatabaseTarget,
  connectTimeoutMs: number,
  create: boolean,
) {
  let connection: mysql.Connection | undefined;
  try {
    try {
      connection = await mysql.createConnection(connectionOptions(target, { connectTimeoutMs }));
      return;
    } catch (error) {
      if (errorCode(error) !== "ER_BAD_DB_ERROR" || !create) throw error;
    }
    connection = await mysql.createConnection(
      connectionOptions(target, { connectTimeoutMs, database: false }),
    );
    await connection.query(
      `CREATE DATABASE IF NOT EXISTS \`${target.database}\` ` +
        "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
    );
  } catch (error) {
    throw connectionProblem(target, error);
  } finally {
    await connection?.end().catch(() => {});
  }
}

/**
 * Drops the database that `url` names, if it exists (tests and the benchmark remove theirs),
 * over TLS when `options.tls` (a database.tls) is given.
 */
export async function dropDatabase(
  url: string,
  options: { connectTimeoutMs?: number; tls?: TlsConfig } = {},
): Promise<void> {
  const { connectTimeoutMs = 10_000 } = options;
  const target = databaseTarget({ url, tls: options.tls });
  let connection: mysql.Connection;
  try {
    connection = await mysql.createConnection(
      connectionOptions(target, { connectTimeoutMs, database: false }),
    );
  } catch (error) {
    throw connectionProblem(target, error);
  }
  try {
    await connection.query(`DROP DATABASE IF EXISTS \`${target.database}\``);
  } finally {
    await connection.end().catch(() => {});
  }
}
