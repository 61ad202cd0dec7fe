/**
 * Raw SQL against a test's database on a connection of the test's own.
 * Independent check: tests read (and tamper with) the tables as any SQL client does, not
 * through lib/db, so that what they see is what the product really stored.
 */
// independent check: see above.
import mysql from "mysql2/promise";
import type { Database } from "../lib/db/mod.ts";

/**
 * A connection to the database `db` is open on, reading values as the tables hold them:
 * dates as UTC, BIGINT and DECIMAL as exact strings, JSON as its text. Close it with end().
 */
export function connect(db: Database): Promise<mysql.Connection> {
  const { host, port, user, password, database } = db.target;
  return mysql.createConnection({
    host,
    port,
    user,
    password,
    database,
    timezone: "Z",
    supportBigNumbers: true,
    bigNumberStrings: true,
    decimalNumbers: false,
    jsonStrings: true,
  });
}

/** Rows of a raw SQL query, on a connection opened for it. */
export async function queryRows<T = Record<string, unknown>>(
  db: Database,
  query: string,
  params: unknown[] = [],
): Promise<T[]> {
  const connection = await connect(db);
  try {
    const [result] = await connection.query(query, params);
    return result as T[];
  } finally {
    await connection.end();
  }
}
