/** Public face of this folder. */
export {
  applyMigrations,
  describeError,
  errorCode,
  errorNumber,
  isDataError,
  isTransientError,
  MIGRATIONS_FOLDER,
  migrationStatus,
  openDatabase,
  parseDatabaseUrl,
  runMigrations,
  withRetry,
} from "./_connect.ts";
export type { Database, OpenOptions } from "./_connect.ts";
export { existingEventIds, forgetStoredOffsets, ingestBatch, storedOffsets } from "./_ingest.ts";
export type { IngestBatch } from "./_ingest.ts";
export {
  countStoredEvents,
  findRescoreRun,
  finishRescoreRun,
  liveSchema,
  pipelineSchema,
  readComparedPredictions,
  readStoredEvents,
  startRescoreRun,
  storeShadowPredictions,
  writeRescoredBatch,
} from "./_models.ts";
export type {
  ComparedPrediction,
  EventRange,
  RescoredBatch,
  RescoreRun,
  SchemaColumn,
  SchemaForeignKey,
  SchemaSnapshot,
  ShadowPrediction,
  StoredEvent,
} from "./_models.ts";
