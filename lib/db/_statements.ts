/** Multi-row statements: INSERT (or upsert) of many rows, split to fit a statement budget. */
import mysql from "mysql2/promise";
import { getTableColumns, type SQL, sql } from "drizzle-orm";
import type { MySqlTable } from "drizzle-orm/mysql-core";

/** Rows per INSERT statement: large enough to be fast, small enough for any packet limit. */
export const ROWS_PER_STATEMENT = 1000;

/** Splits rows into statements of at most ROWS_PER_STATEMENT rows and the byte budget. */
export function* chunks<R>(
  rows: readonly R[],
  size: (row: R) => number,
  budget = Infinity,
): Generator<R[]> {
  let part: R[] = [];
  let bytes = 0;
  for (const row of rows) {
    const rowBytes = size(row);
    if (
      part.length &&
      (part.length >= ROWS_PER_STATEMENT || bytes + rowBytes > budget)
    ) {
      yield part;
      part = [];
      bytes = 0;
    }
    part.push(row);
    bytes += rowBytes;
  }
  if (part.length) yield part;
}

/**
 * One multi-row `INSERT INTO table (...) VALUES (...), (...)`, optionally
 * `ON DUPLICATE KEY UPDATE col = VALUES(col)` for the columns named in `update`.
 * Values go through each column's drizzle mapping and are escaped by mysql2, as drizzle's
 * own insert() does with its parameters; but the row list is built directly, about 15 times
 * faster than drizzle's per-value builder for thousand-row statements. `undefined` means the
 * column's DEFAULT.
 */
export async function insertMany<T extends MySqlTable>(
  executor: { execute(query: SQL): Promise<unknown> },
  table: T,
  rows: readonly T["$inferInsert"][],
  options: { update?: readonly (keyof T["$inferInsert"] & string)[] } = {},
): Promise<void> {
  if (!rows.length) return;
  const columns = Object.entries(getTableColumns(table));
  const tuples = rows.map((row) => {
    const values = columns.map(([key, column]) => {
      const value = (row as Record<string, unknown>)[key];
      if (value === undefined) return "DEFAULT";
      if (value === null) return "NULL";
      return mysql.escape(column.mapToDriverValue(value) as Parameters<typeof mysql.escape>[0]);
    });
    return `(${values.join(",")})`;
  });
  const names = sql.join(columns.map(([, column]) => sql.identifier(column.name)), sql`, `);
  const statement = sql`INSERT INTO ${table} (${names}) VALUES ${sql.raw(tuples.join(",\n"))}`;
  if (options.update?.length) {
    const byKey = new Map(columns);
    const sets = options.update.map((key) => {
      const name = sql.identifier(byKey.get(key)!.name);
      return sql`${name} = VALUES(${name})`;
    });
    statement.append(sql` ON DUPLICATE KEY UPDATE ${sql.join(sets, sql`, `)}`);
  }
  await executor.execute(statement);
}
