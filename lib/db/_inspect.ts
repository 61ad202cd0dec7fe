/**
 * Reading and resetting the tables as a whole: row counts, the guide's §8.2 queries as
 * written, emptying the event tables, and the server state the benchmark waits on.
 */
import type mysql from "mysql2/promise";
import { type Database, handleOf } from "./_handle.ts";

/** Rows of each of the guide's four tables. */
export interface RowCounts {
  readonly customers: number;
  readonly orders: number;
  readonly events: number;
  readonly predictions: number;
}

/** Counts the rows of table_customers, table_orders, table_events and table_predictions. */
export async function countRows(db: Database): Promise<RowCounts> {
  const [[row]] = await handleOf(db).pool.query<mysql.RowDataPacket[]>(
    "SELECT (SELECT COUNT(*) FROM table_customers) AS customers, " +
      "(SELECT COUNT(*) FROM table_orders) AS orders, " +
      "(SELECT COUNT(*) FROM table_events) AS events, " +
      "(SELECT COUNT(*) FROM table_predictions) AS predictions",
  );
  return {
    customers: Number(row.customers),
    orders: Number(row.orders),
    events: Number(row.events),
    predictions: Number(row.predictions),
  };
}

/**
 * Deletes every row of the four event tables, children first (the guide's §9.1 remedy for a
 * rerun). pipeline_offsets is kept: forgetStoredOffsets() clears a topic's offsets.
 */
export async function emptyTables(db: Database): Promise<void> {
  const { pool } = handleOf(db);
  for (const table of ["table_predictions", "table_events", "table_orders", "table_customers"]) {
    await pool.query(`DELETE FROM \`${table}\``);
  }
}

/** The guide's §8.2 count queries, verbatim. */
const GUIDE_COUNTS = [
  "SELECT COUNT(*) FROM table_customers;",
  "SELECT COUNT(*) FROM table_orders;",
  "SELECT COUNT(*) FROM table_events;",
  "SELECT COUNT(*) FROM table_predictions;",
] as const;

/** The guide's §8.2 query of the latest predictions, verbatim. */
const GUIDE_LATEST = `SELECT event_id, order_id, customer_customer_id, return_proba
FROM table_predictions
ORDER BY event_id DESC
LIMIT 10;`;

/** What the guide's §8.2 queries return, each with its text. */
export interface GuideChecks {
  readonly counts: readonly { readonly query: string; readonly count: number }[];
  readonly latest: { readonly query: string; readonly rows: Record<string, unknown>[] };
}

/** Runs the guide's §8.2 queries as written in the guide. */
export async function guideChecks(db: Database): Promise<GuideChecks> {
  const { pool } = handleOf(db);
  const counts = [];
  for (const query of GUIDE_COUNTS) {
    const [[row]] = await pool.query<mysql.RowDataPacket[]>(query);
    counts.push({ query, count: Number(row["COUNT(*)"]) });
  }
  const [rows] = await pool.query<mysql.RowDataPacket[]>(GUIDE_LATEST);
  return { counts, latest: { query: GUIDE_LATEST, rows: rows.map((r) => ({ ...r })) } };
}

/**
 * Modified pages InnoDB has not written back yet (null when the server does not say): a
 * benchmark phase waits for them so as not to pay for the previous phase's flushing.
 */
export async function dirtyPages(db: Database): Promise<number | null> {
  const [rows] = await handleOf(db).pool.query<mysql.RowDataPacket[]>(
    "SHOW GLOBAL STATUS LIKE 'Innodb_buffer_pool_pages_dirty'",
  );
  const value = rows[0]?.Value;
  return value === undefined ? null : Number(value);
}

/** The time zone of the pool's sessions: "+00:00", so CURRENT_TIMESTAMP defaults are UTC. */
export async function sessionTimeZone(db: Database): Promise<string> {
  const [[row]] = await handleOf(db).pool.query<mysql.RowDataPacket[]>(
    "SELECT @@session.time_zone AS tz",
  );
  return String(row.tz);
}

/** Resolves once the server answers a trivial query (readiness checks). */
export async function pingDatabase(db: Database): Promise<void> {
  await handleOf(db).pool.query("SELECT 1");
}
