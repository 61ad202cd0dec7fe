/** The schema the pipeline writes, and the live one `deno task check` compares it with. */
import { is, type SQL, sql } from "drizzle-orm";
import { getTableConfig, MySqlTable } from "drizzle-orm/mysql-core";
import { type Database, handleOf } from "./_handle.ts";
import { isKeyColumn, type KeyType } from "./_keys.ts";
import * as schema from "./_schema.ts";

/**
 * A column in one vocabulary for the schema the pipeline writes and the one a server has:
 * `type` lowercased without integer display widths (int(11) is int), boolean as tinyint(1),
 * MariaDB's JSON (longtext checked by json_valid) as json.
 */
export interface SchemaColumn {
  readonly table: string;
  readonly name: string;
  readonly type: string;
  readonly nullable: boolean;
  readonly hasDefault: boolean;
  /** Set where the pipeline depends on it (identifiers compare byte for byte). */
  readonly collation?: string;
  readonly charset?: string;
}

export interface SchemaForeignKey {
  readonly table: string;
  readonly name: string;
  readonly columns: readonly string[];
  readonly refTable: string;
  readonly refColumns: readonly string[];
}

/** Tables, columns and foreign keys of a schema. */
export interface SchemaSnapshot {
  readonly tables: readonly string[];
  readonly columns: readonly SchemaColumn[];
  readonly foreignKeys: readonly SchemaForeignKey[];
}

function normalType(type: string): string {
  const t = type.trim().toLowerCase().replace(/\s+/g, " ");
  if (t === "boolean" || t === "bool") return "tinyint(1)";
  return t.replace(
    /^(tinyint|smallint|mediumint|int|bigint)\(\d+\)/,
    (m, base: string) => base === "tinyint" && m === "tinyint(1)" ? m : base,
  );
}

/**
 * The schema lib/db/_schema.ts declares: what the migrations create and the pipeline writes,
 * with the key columns as database.key_type stores them.
 */
export function pipelineSchema(keyType: KeyType = "text"): SchemaSnapshot {
  const tables = (Object.values(schema) as unknown[]).filter((t): t is MySqlTable =>
    is(t, MySqlTable)
  );
  const columns: SchemaColumn[] = [];
  const foreignKeys: SchemaForeignKey[] = [];
  for (const table of tables) {
    const config = getTableConfig(table);
    for (const column of config.columns) {
      if (keyType === "uuid" && isKeyColumn(config.name, column.name)) {
        columns.push({
          table: config.name,
          name: column.name,
          type: "uuid",
          nullable: !column.notNull,
          hasDefault: column.hasDefault,
        });
        continue;
      }
      const declared = column.getSQLType();
      const collation = /\bCOLLATE\s+(\w+)/i.exec(declared)?.[1];
      const charset = /\bCHARACTER SET\s+(\w+)/i.exec(declared)?.[1];
      columns.push({
        table: config.name,
        name: column.name,
        type: normalType(declared.replace(/\s+(CHARACTER SET|COLLATE)\s+\w+/gi, "")),
        nullable: !column.notNull,
        hasDefault: column.hasDefault,
        ...(collation && { collation }),
        ...(charset && { charset }),
      });
    }
    for (const fk of config.foreignKeys) {
      const ref = fk.reference();
      foreignKeys.push({
        table: config.name,
        name: fk.getName(),
        columns: ref.columns.map((c) => c.name),
        refTable: getTableConfig(ref.foreignTable).name,
        refColumns: ref.foreignColumns.map((c) => c.name),
      });
    }
  }
  return { tables: tables.map((t) => getTableConfig(t).name), columns, foreignKeys };
}

/** The schema of the connected database, read from information_schema (reads only). */
export async function liveSchema(db: Database): Promise<SchemaSnapshot> {
  const rows = async <T>(query: SQL) => {
    const [result] = await handleOf(db).drizzle.execute(query) as unknown as [T[]];
    return result;
  };
  const tables = await rows<{ t: string }>(sql`
    SELECT TABLE_NAME AS t FROM information_schema.TABLES
    WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE' ORDER BY 1`);
  const columns = await rows<{
    t: string;
    c: string;
    type: string;
    nullable: string;
    dflt: string | null;
    extra: string;
    charset: string | null;
    collation: string | null;
  }>(sql`
    SELECT TABLE_NAME AS t, COLUMN_NAME AS c, COLUMN_TYPE AS type, IS_NULLABLE AS nullable,
           COLUMN_DEFAULT AS dflt, EXTRA AS extra, CHARACTER_SET_NAME AS charset,
           COLLATION_NAME AS collation
    FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE()
    ORDER BY TABLE_NAME, ORDINAL_POSITION`);
  // MariaDB stores JSON as LONGTEXT with a json_valid() CHECK named after the column.
  const jsonChecks = await rows<{ t: string; clause: string }>(sql`
    SELECT TABLE_NAME AS t, CHECK_CLAUSE AS clause FROM information_schema.CHECK_CONSTRAINTS
    WHERE CONSTRAINT_SCHEMA = DATABASE()`).catch(() => []);
  const isJson = (table: string, column: string) =>
    jsonChecks.some((k) =>
      k.t === table && k.clause.replace(/\s/g, "").toLowerCase() === `json_valid(\`${column}\`)`
    );
  const keys = await rows<{
    t: string;
    name: string;
    c: string;
    rt: string;
    rc: string;
  }>(sql`
    SELECT TABLE_NAME AS t, CONSTRAINT_NAME AS name, COLUMN_NAME AS c,
           REFERENCED_TABLE_NAME AS rt, REFERENCED_COLUMN_NAME AS rc
    FROM information_schema.KEY_COLUMN_USAGE
    WHERE TABLE_SCHEMA = DATABASE() AND REFERENCED_TABLE_NAME IS NOT NULL
    ORDER BY TABLE_NAME, CONSTRAINT_NAME, ORDINAL_POSITION`);
  const foreignKeys = new Map<
    string,
    SchemaForeignKey & { columns: string[]; refColumns: string[] }
  >();
  for (const k of keys) {
    const id = `${k.t}.${k.name}`;
    const fk = foreignKeys.get(id) ??
      { table: k.t, name: k.name, columns: [], refTable: k.rt, refColumns: [] };
    fk.columns.push(k.c);
    fk.refColumns.push(k.rc);
    foreignKeys.set(id, fk);
  }
  return {
    tables: tables.map((r) => r.t),
    columns: columns.map((r) => ({
      table: r.t,
      name: r.c,
      type: r.type.toLowerCase() === "longtext" && isJson(r.t, r.c) ? "json" : normalType(r.type),
      nullable: r.nullable === "YES",
      // MariaDB reports a nullable column without default as DEFAULT NULL.
      hasDefault: (r.dflt !== null && r.dflt !== "NULL") || /auto_increment/i.test(r.extra),
      ...(r.collation && { collation: r.collation }),
      ...(r.charset && { charset: r.charset }),
    })),
    foreignKeys: [...foreignKeys.values()],
  };
}
