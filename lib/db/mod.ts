/**
 * Public face of this folder: the only code that knows mysql2 and drizzle. An open
 * database is an opaque `Database` handed to the named functions below.
 */
export { dropDatabase, openDatabase } from "./_open.ts";
export type { OpenOptions } from "./_open.ts";
export type { Database, RetryHook } from "./_handle.ts";
export { parseDatabaseUrl } from "./_target.ts";
export { checkLogin } from "./_login.ts";
export type { LoginCheck } from "./_login.ts";
export type { DatabaseTarget, DatabaseTls } from "./_target.ts";
export {
  classifyDatabaseError,
  errorCode,
  errorNumber,
  isDataError,
  isTransientError,
  retryMessage,
} from "./_errors.ts";
export { applyMigrations, MIGRATIONS_FOLDER, migrationStatus } from "./_migrations.ts";
export type { MigrationInfo, MigrationOptions } from "./_migrations.ts";
export { applyKeyType, storedKeyType } from "./_keys.ts";
export type { KeyType } from "./_keys.ts";
export { existingEventIds, ingestBatch } from "./_ingest.ts";
export { forgetStoredOffsets, OffsetMoved, storedOffsets } from "./_offsets.ts";
export type { BatchOffset } from "./_offsets.ts";
export type { EventSource, IngestBatch, IngestOptions, IngestResult } from "./_ingest.ts";
export {
  countRows,
  dirtyPages,
  emptyTables,
  guideChecks,
  pingDatabase,
  sessionTimeZone,
} from "./_inspect.ts";
export type { GuideChecks, RowCounts } from "./_inspect.ts";
export { writeCeilingRows } from "./_ceiling.ts";
export type { CeilingData } from "./_ceiling.ts";
export {
  countStoredEvents,
  findRescoreRun,
  finishRescoreRun,
  readComparedPredictions,
  readStoredEvents,
  startRescoreRun,
  storeShadowPredictions,
  writeRescoredBatch,
} from "./_models.ts";
export { liveSchema, pipelineSchema } from "./_live_schema.ts";
export type { SchemaColumn, SchemaForeignKey, SchemaSnapshot } from "./_live_schema.ts";
export type {
  ComparedPrediction,
  EventRange,
  RescoredBatch,
  RescoreRun,
  ShadowPrediction,
  StoredEvent,
} from "./_models.ts";
export {
  bufferPoolByIndex,
  memoryFit,
  performanceSchemaFigures,
  serverSettings,
  statusCounters,
  storageFootprint,
  storedEventCount,
} from "./_server_figures.ts";
export type { MemoryFit } from "./_server_figures.ts";
