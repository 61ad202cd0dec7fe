/**
 * What the server says about itself and about the tables it holds: status counters, the
 * settings that shape a write-heavy run, bytes on disk per table and index, what the buffer
 * pool holds, and (with performance_schema) reads per file and time per statement. Reads only;
 * the benchmark's sustained phase records them.
 */
import type mysql from "mysql2/promise";
import { type Database, handleOf } from "./_handle.ts";

async function query<T>(db: Database, text: string, params: unknown[] = []): Promise<T[]> {
  const [rows] = await handleOf(db).pool.query<mysql.RowDataPacket[]>(text, params);
  return rows as unknown as T[];
}

/** SHOW GLOBAL STATUS values of `names` (0 for a counter the server does not have). */
export async function statusCounters<N extends string>(
  db: Database,
  names: readonly N[],
): Promise<Record<N, number>> {
  const rows = await query<{ Variable_name: string; Value: string }>(
    db,
    `SHOW GLOBAL STATUS WHERE Variable_name IN (${names.map(() => "?").join(",")})`,
    [...names],
  );
  const status = Object.fromEntries(names.map((c) => [c, 0])) as Record<N, number>;
  for (const row of rows) {
    const name = names.find((c) => c.toLowerCase() === row.Variable_name.toLowerCase());
    if (name) status[name] = Number(row.Value);
  }
  return status;
}

/** Events stored so far for a group: Σ next_offset (distinct events, one per offset). */
export async function storedEventCount(db: Database, group: string): Promise<number> {
  const [row] = await query<{ n: string }>(
    db,
    "SELECT COALESCE(SUM(next_offset), 0) AS n FROM pipeline_offsets WHERE consumer_group = ?",
    [group],
  );
  return Number(row.n);
}

/** The server's settings that shape a write-heavy run. */
export async function serverSettings(db: Database) {
  const [r] = await query<Record<string, string | number>>(
    db,
    "SELECT VERSION() AS version, @@innodb_buffer_pool_size AS bufferPool, " +
      "@@innodb_flush_log_at_trx_commit AS flushAtCommit, @@innodb_log_file_size AS logFile, " +
      "@@innodb_io_capacity AS ioCapacity, @@innodb_flush_method AS flushMethod, " +
      "@@innodb_change_buffering AS changeBuffering, @@performance_schema AS perfSchema, " +
      "@@innodb_page_size AS pageSize, @@innodb_default_row_format AS rowFormat",
  );
  return {
    version: String(r.version),
    innodbBufferPoolSize: Number(r.bufferPool),
    innodbFlushLogAtTrxCommit: Number(r.flushAtCommit),
    innodbLogFileSize: Number(r.logFile),
    innodbIoCapacity: Number(r.ioCapacity),
    innodbFlushMethod: String(r.flushMethod),
    innodbChangeBuffering: String(r.changeBuffering),
    innodbPageSize: Number(r.pageSize),
    innodbDefaultRowFormat: String(r.rowFormat),
    performanceSchema: Number(r.perfSchema) === 1,
  };
}

/**
 * Bytes on disk per table and per index, after ANALYZE TABLE (information_schema's sizes
 * come from the statistics, which ANALYZE brings up to date).
 */
export async function storageFootprint(db: Database, events: number) {
  const names = await query<{ name: string }>(
    db,
    "SELECT TABLE_NAME AS name FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()",
  );
  for (const { name } of names) await query(db, `ANALYZE TABLE \`${name}\``);
  const sizes = await query<Record<string, string | number | null>>(
    db,
    "SELECT t.TABLE_NAME AS name, t.DATA_LENGTH AS data, t.INDEX_LENGTH AS idx, " +
      "t.TABLE_ROWS AS tableRows, t.ROW_FORMAT AS rowFormat, s.FILE_SIZE AS file " +
      "FROM information_schema.TABLES t LEFT JOIN information_schema.INNODB_SYS_TABLESPACES s " +
      "ON s.NAME = CONCAT(t.TABLE_SCHEMA, '/', t.TABLE_NAME) " +
      "WHERE t.TABLE_SCHEMA = DATABASE() ORDER BY t.TABLE_NAME",
  );
  const indexRows = await query<Record<string, string | number>>(
    db,
    "SELECT table_name AS tableName, index_name AS indexName, " +
      "MAX(IF(stat_name = 'size', stat_value, NULL)) AS pages, " +
      "MAX(IF(stat_name = 'n_leaf_pages', stat_value, NULL)) AS leafPages " +
      "FROM mysql.innodb_index_stats WHERE database_name = DATABASE() " +
      "GROUP BY table_name, index_name ORDER BY table_name, index_name",
  );
  const [{ p: pageSize }] = await query<{ p: number }>(db, "SELECT @@innodb_page_size AS p");
  const tables = sizes.map((t) => ({
    table: String(t.name),
    rows: Number(t.tableRows),
    rowFormat: String(t.rowFormat),
    dataBytes: Number(t.data),
    indexBytes: Number(t.idx),
    fileBytes: t.file === null ? null : Number(t.file),
    bytesPerEvent: events > 0 ? (Number(t.data) + Number(t.idx)) / events : 0,
  }));
  const indexes = indexRows.map((i) => ({
    table: String(i.tableName),
    index: String(i.indexName),
    bytes: Number(i.pages) * Number(pageSize),
    leafPages: Number(i.leafPages),
    bytesPerEvent: events > 0 ? (Number(i.pages) * Number(pageSize)) / events : 0,
  }));
  const total = tables.reduce((sum, t) => sum + t.dataBytes + t.indexBytes, 0);
  const files = tables.reduce((sum, t) => sum + (t.fileBytes ?? 0), 0);
  return {
    tables,
    indexes,
    totalBytes: total,
    bytesPerEvent: events > 0 ? total / events : 0,
    fileBytes: files,
    fileBytesPerEvent: events > 0 ? files / events : 0,
  };
}

/** Pages of this database's indexes held by the buffer pool now. */
export async function bufferPoolByIndex(db: Database) {
  const rows = await query<Record<string, string | number>>(
    db,
    "SELECT TABLE_NAME AS tableName, INDEX_NAME AS indexName, COUNT(*) AS pages, " +
      "SUM(OLDEST_MODIFICATION <> 0) AS dirty FROM information_schema.INNODB_BUFFER_PAGE " +
      "WHERE TABLE_NAME LIKE CONCAT('`', DATABASE(), '`.%') GROUP BY TABLE_NAME, INDEX_NAME " +
      "ORDER BY pages DESC",
  );
  return rows.map((r) => ({
    table: String(r.tableName).replace(/^`[^`]*`\.`?|`$/g, ""),
    index: String(r.indexName),
    pages: Number(r.pages),
    dirtyPages: Number(r.dirty),
  }));
}

/** File reads per table and time per statement, when the server runs performance_schema. */
export async function performanceSchemaFigures(db: Database, database: string) {
  const files = await query<Record<string, string | number>>(
    db,
    "SELECT FILE_NAME AS `file`, COUNT_READ AS `reads`, COUNT_WRITE AS `writes`, " +
      "SUM_TIMER_READ / 1e12 AS `readSeconds` FROM performance_schema.file_summary_by_instance " +
      "WHERE FILE_NAME LIKE ? ORDER BY COUNT_READ DESC",
    [`%/${database}/%`],
  );
  // By what comes before the first "(": one row per INSERT's table, whatever its values
  // (TRUE and FALSE are not normalised into the digest, so an INSERT has many digests).
  const statements = await query<Record<string, string | number>>(
    db,
    "SELECT SUBSTRING_INDEX(DIGEST_TEXT, '(', 1) AS `statement`, SUM(COUNT_STAR) AS `calls`, " +
      "SUM(SUM_TIMER_WAIT) / 1e12 AS `seconds`, SUM(SUM_ROWS_AFFECTED) AS `rowsAffected`, " +
      "SUM(SUM_ROWS_EXAMINED) AS `rowsExamined` " +
      "FROM performance_schema.events_statements_summary_by_digest WHERE SCHEMA_NAME = ? " +
      "GROUP BY 1 ORDER BY 3 DESC LIMIT 20",
    [database],
  );
  return {
    files: files.map((f) => ({
      file: String(f.file).replace(/^.*\//, ""),
      reads: Number(f.reads),
      writes: Number(f.writes),
      readSeconds: Number(f.readSeconds),
    })),
    statements: statements.map((s) => ({
      statement: String(s.statement).replace(/\s+/g, " ").slice(0, 160),
      calls: Number(s.calls),
      seconds: Number(s.seconds),
      rowsAffected: Number(s.rowsAffected),
      rowsExamined: Number(s.rowsExamined),
    })),
  };
}

/** The server's buffer pool against what the pipeline's tables take on disk. */
export interface MemoryFit {
  readonly bufferPoolBytes: number;
  /** Data and indexes of the pipeline's tables in the connected database. */
  readonly tableBytes: number;
  readonly fits: boolean;
}

/** Compares innodb_buffer_pool_size with the pipeline's tables (information_schema). */
export async function memoryFit(db: Database): Promise<MemoryFit> {
  const [row] = await query<{ pool: string; bytes: string | null }>(
    db,
    "SELECT @@innodb_buffer_pool_size AS pool, (SELECT SUM(data_length + index_length) " +
      "FROM information_schema.TABLES WHERE table_schema = DATABASE() AND table_name IN " +
      "('table_customers', 'table_orders', 'table_events', 'table_predictions')) AS bytes",
  );
  const bufferPoolBytes = Number(row.pool);
  const tableBytes = Number(row.bytes ?? 0);
  return { bufferPoolBytes, tableBytes, fits: tableBytes <= bufferPoolBytes };
}
