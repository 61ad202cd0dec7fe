/**
 * The storage of the key columns (event_id, order_id, customer_customer_id in every table):
 * `text` (VARCHAR(64), NO PAD binary collation: any id, byte for byte) or `uuid` (MariaDB's
 * native UUID type, 10.7+: 16 bytes instead of up to 65, printed in the usual text form, for
 * ids that are all UUIDs). database.key_type chooses; the tables are converted in place when
 * the stored columns differ. Every index entry carries its table's key, so this shrinks every
 * index, which is what decides how much of the tables the buffer pool holds.
 */
import mysql from "mysql2/promise";
import { getTableConfig, type MySqlTable } from "drizzle-orm/mysql-core";
import { ID_LENGTH, UUID_PATTERN } from "../config/mod.ts";
import { errorChain, UserError } from "../errors/mod.ts";
import { errorNumber } from "./_errors.ts";
import { type Database, handleOf } from "./_handle.ts";
import { connectionOptions } from "./_target.ts";
import { customers, events, orders, predictions, shadowPredictions } from "./_schema.ts";

/** How key columns are stored. */
export type KeyType = "text" | "uuid";

/** The key columns of each table, in the order the foreign keys need them converted. */
const KEY_COLUMNS: readonly { table: MySqlTable; columns: readonly string[] }[] = [
  { table: customers, columns: ["customer_customer_id"] },
  { table: orders, columns: ["order_id", "customer_customer_id"] },
  { table: events, columns: ["event_id", "order_id", "customer_customer_id"] },
  { table: predictions, columns: ["event_id", "order_id", "customer_customer_id"] },
  // Its foreign key to table_events needs the same type on both sides.
  { table: shadowPredictions, columns: ["event_id"] },
];

const COLUMN_TYPE: Record<KeyType, string> = {
  text: `varchar(${ID_LENGTH}) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin NOT NULL`,
  uuid: "UUID NOT NULL",
};

const tableName = (table: MySqlTable) => getTableConfig(table).name;

/** Whether database.key_type decides the type of this column. */
export function isKeyColumn(table: string, column: string): boolean {
  return KEY_COLUMNS.some((k) => tableName(k.table) === table && k.columns.includes(column));
}

/** The key type the stored columns have: "text", "uuid" or "mixed" (a conversion stopped). */
export async function storedKeyType(db: Database): Promise<KeyType | "mixed"> {
  const [rows] = await handleOf(db).pool.query<mysql.RowDataPacket[]>(
    "SELECT DATA_TYPE AS type FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() " +
      "AND TABLE_NAME IN (?) AND COLUMN_NAME IN ('event_id', 'order_id', 'customer_customer_id')",
    [KEY_COLUMNS.map((k) => tableName(k.table))],
  );
  const types = new Set(rows.map((r) => String(r.type).toLowerCase()));
  if (types.size !== 1) return "mixed";
  return types.has("uuid") ? "uuid" : "text";
}

/**
 * Converts the key columns to `keyType` if they are not stored so (after the migrations,
 * under the migrations' lock). Refuses, naming the value, when a stored id is not a UUID.
 * Returns whether anything was converted; `onConvert` is told before the tables are rewritten.
 */
export async function applyKeyType(
  db: Database,
  keyType: KeyType,
  onConvert?: (text: string) => void,
): Promise<boolean> {
  if (await storedKeyType(db) === keyType) return false;
  const handle = handleOf(db);
  const connection = await mysql.createConnection(
    connectionOptions(handle.target, { connectTimeoutMs: handle.connectTimeoutMs }),
  );
  try {
    const [[lock]] = await connection.query<mysql.RowDataPacket[]>(
      "SELECT GET_LOCK(?, 120) AS got",
      [`${handle.target.database}.migrations`],
    );
    if (Number(lock.got) !== 1) {
      throw new Error(`Cannot convert keys of "${handle.target.display}": another migration runs`);
    }
    if (await storedKeyType(db) === keyType) return false;
    if (keyType === "uuid") await checkConvertible(handle.target.display, connection);
    onConvert?.(
      `database ${handle.target.display}: storing key columns as ${keyType} (rewrites the tables)`,
    );
    await convert(connection, keyType);
    return true;
  } finally {
    await connection.end().catch(() => {});
  }
}

async function checkConvertible(display: string, connection: mysql.Connection): Promise<void> {
  const [[server]] = await connection.query<mysql.RowDataPacket[]>("SELECT VERSION() AS v");
  const version = String(server.v);
  const [major, minor] = version.split(".").map(Number);
  if (!/mariadb/i.test(version) || major < 10 || (major === 10 && minor < 7)) {
    throw new UserError(
      `Cannot store keys as UUID on "${display}": server ${version} has no UUID type`,
      { hint: "set database.key_type: text (UUID needs MariaDB 10.7 or later)" },
    );
  }
  for (const { table, columns } of KEY_COLUMNS) {
    for (const column of columns) {
      const [bad] = await connection.query<mysql.RowDataPacket[]>(
        `SELECT \`${column}\` AS id, COUNT(*) OVER () AS n FROM \`${tableName(table)}\` ` +
          `WHERE \`${column}\` NOT REGEXP ? LIMIT 1`,
        [`(?i)${UUID_PATTERN.source}`],
      );
      if (bad.length) {
        throw new UserError(
          `Cannot store keys as UUID: ${tableName(table)}.${column} holds ${bad[0].n} value(s) ` +
            `that are not UUIDs, such as "${bad[0].id}"`,
          { hint: "set database.key_type: text, which stores any id" },
        );
      }
    }
  }
}

/** A column in a foreign key cannot change: drop them, convert each table, add them back. */
async function convert(connection: mysql.Connection, keyType: KeyType): Promise<void> {
  const [existing] = await connection.query<mysql.RowDataPacket[]>(
    "SELECT TABLE_NAME AS t, CONSTRAINT_NAME AS name FROM " +
      "information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE()",
  );
  for (const fk of existing) {
    await connection.query(`ALTER TABLE \`${fk.t}\` DROP FOREIGN KEY \`${fk.name}\``);
  }
  for (const { table, columns } of KEY_COLUMNS) {
    const modify = columns.map((c) => `MODIFY COLUMN \`${c}\` ${COLUMN_TYPE[keyType]}`);
    await connection.query(`ALTER TABLE \`${tableName(table)}\` ${modify.join(", ")}`);
  }
  for (const { table } of KEY_COLUMNS) {
    for (const fk of getTableConfig(table).foreignKeys) {
      const ref = fk.reference();
      const list = (cols: { name: string }[]) => cols.map((c) => `\`${c.name}\``).join(",");
      try {
        await connection.query(
          `ALTER TABLE \`${tableName(table)}\` ADD CONSTRAINT \`${fk.getName()}\` FOREIGN KEY ` +
            `(${list(ref.columns)}) REFERENCES \`${tableName(ref.foreignTable)}\`` +
            `(${list(ref.foreignColumns)}) ON DELETE ${fk.onDelete ?? "no action"} ` +
            `ON UPDATE ${fk.onUpdate ?? "no action"}`,
        );
      } catch (error) {
        // Already there (a conversion resumed after it had added this one).
        const exists = errorNumber(error) === 1005 &&
          errorChain(error).some((e) => /errno: 121\b/.test(String(e.message)));
        if (!exists) throw error;
      }
    }
  }
}
