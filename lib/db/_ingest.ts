/**
 * Writes one consumed batch in one transaction, in foreign-key order: customers, orders,
 * events, predictions, then the consumed offsets. Multi-row upserts keep it fast; the whole
 * transaction is retried after deadlocks, lock wait timeouts and lost connections.
 *
 * Duplicates (an event_id already stored) are decided inside the transaction: the stored
 * ids are read first, and events believed new are written with a plain INSERT. If another
 * consumer commits the same event_id in between, that INSERT fails with a duplicate-key
 * error (after waiting for the other transaction's row lock), this transaction rolls back
 * and the retry sees the stored row. So each event_id is reported "inserted" by exactly one
 * committed transaction, under any isolation level, without the gap locks (and deadlocks)
 * that a locking read of absent keys would take.
 */
import {
  and,
  type Database,
  describeError,
  eq,
  errorNumber,
  getTableColumns,
  inArray,
  insertMany,
  withRetry,
} from "./_connect.ts";
import { customers, events, orders, pipelineOffsets, predictions } from "./_schema.ts";
import type { EventValue, ValidEvent } from "../events/mod.ts";

/** Where one event was read from. */
export interface EventSource {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
}

/** One batch as the consumer hands it over. */
export interface IngestBatch {
  readonly events: readonly ValidEvent[];
  /**
   * Each event's keys that have no column, as a JSON object text (null when none), same
   * order: stored in table_events.extra_fields (validateMessage() computes it).
   */
  readonly extraFields: readonly (string | null)[];
  /** Return probability of each event, same order. */
  readonly probabilities: Float64Array;
  readonly modelVersion: string;
  /** The next offset to consume per partition once this batch is stored. */
  readonly offsets: readonly { topic: string; partition: number; nextOffset: string }[];
  readonly consumerGroup: string;
  /** skip: a stored event_id is left as is (first wins); update: it is overwritten (last wins). */
  readonly duplicates: "skip" | "update";
  /** Optional: where each event was read from (stored in table_events), same order. */
  readonly sources?: readonly (EventSource | undefined)[];
}

/**
 * What became of each event, in batch order: `inserted` lists event_ids new to the
 * database, `duplicates` one entry per event whose event_id was already stored or appeared
 * earlier in the batch (skipped or, with "update", overwritten).
 */
export interface IngestResult {
  inserted: string[];
  duplicates: string[];
}

/** Rows per INSERT statement: large enough to be fast, small enough for any packet limit. */
const ROWS_PER_STATEMENT = 1000;
/** A duplicate-key race is retried this many times before it is taken as a real conflict. */
const DUPLICATE_RACE_ATTEMPTS = 5;
const ER_DUP_ENTRY = 1062;

type Tx = Parameters<Parameters<Database["drizzle"]["transaction"]>[0]>[0];

/** Writes one batch in one transaction (retried as a whole on transient failures). */
export async function ingestBatch(db: Database, batch: IngestBatch): Promise<IngestResult> {
  const prepared = prepare(batch);
  if (!prepared.chosen.length && !batch.offsets.length) return { inserted: [], duplicates: [] };
  try {
    return await withRetry(
      db.retry,
      () =>
        db.drizzle.transaction((tx) => write(tx, batch, prepared, db.statementBytes), {
          isolationLevel: "read committed",
        }),
      {
        alsoRetry: (error, attempt) =>
          errorNumber(error) === ER_DUP_ENTRY && attempt < DUPLICATE_RACE_ATTEMPTS,
        onRetry: db.onRetry,
      },
    );
  } catch (error) {
    throw new Error(
      `Cannot ingest batch of ${batch.events.length} event(s): ${describeError(error)}`,
      { cause: error },
    );
  }
}

interface Row {
  readonly id: string;
  readonly customer: typeof customers.$inferInsert;
  readonly order: typeof orders.$inferInsert;
  readonly event: typeof events.$inferInsert;
  readonly prediction: typeof predictions.$inferInsert;
}

interface Prepared {
  /** event_id of each event, batch order. */
  readonly ids: readonly string[];
  /** One row per distinct event_id: its first occurrence (skip) or its last (update). */
  readonly chosen: readonly Row[];
  readonly now: Date;
}

/** Converts and checks every event before the transaction starts (pure, done once). */
function prepare(batch: IngestBatch): Prepared {
  const n = batch.events.length;
  if (batch.extraFields.length !== n || batch.probabilities.length !== n) {
    throw new Error(
      `Cannot ingest batch: ${n} events, ${batch.extraFields.length} extra fields and ` +
        `${batch.probabilities.length} probabilities`,
    );
  }
  const now = new Date();
  const ids = batch.events.map((event, i) => text(event, "event_id", i));
  const winner = new Map<string, number>();
  for (const [i, id] of ids.entries()) {
    if (batch.duplicates === "update" || !winner.has(id)) winner.set(id, i);
  }
  const chosen = [...winner.values()].sort((a, b) => a - b).map((i): Row => {
    const e = batch.events[i];
    const id = ids[i];
    const order_id = text(e, "order_id", i);
    const customer_customer_id = text(e, "customer_customer_id", i);
    const proba = batch.probabilities[i];
    if (!Number.isFinite(proba)) {
      throw new Error(`Cannot ingest event "${id}": return probability ${proba} is not a number`);
    }
    const source = batch.sources?.[i];
    return {
      id,
      customer: {
        customer_customer_id,
        customer_country: optionalText(e, "customer_country", i),
        updated_at: now,
      },
      order: {
        order_id,
        customer_customer_id,
        order_device: optionalText(e, "order_device", i),
        order_channel: optionalText(e, "order_channel", i),
        order_main_category: optionalText(e, "order_main_category", i),
        order_n_items: integer(e, "order_n_items", i),
        order_basket_value: money(e, "order_basket_value", i),
        order_shipping_fee: money(e, "order_shipping_fee", i),
        order_discount: money(e, "order_discount", i),
        order_order_total: money(e, "order_order_total", i),
        order_is_returned: flag(e, "order_is_returned", i),
        updated_at: now,
      },
      event: {
        event_id: id,
        event_time: time(e, "event_time", i) ?? now,
        order_id,
        customer_customer_id,
        extra_fields: batch.extraFields[i],
        source_topic: source?.topic ?? null,
        source_partition: source?.partition ?? null,
        source_offset: source ? BigInt(source.offset) : null,
        ingested_at: now,
      },
      prediction: {
        event_id: id,
        order_id,
        customer_customer_id,
        return_proba: proba,
        model_version: batch.modelVersion,
        predicted_at: now,
      },
    };
  });
  return { ids, chosen, now };
}

async function write(
  tx: Tx,
  batch: IngestBatch,
  prepared: Prepared,
  statementBytes: number,
): Promise<IngestResult> {
  const { chosen, ids } = prepared;
  const stored = await selectExisting(tx, chosen.map((r) => r.id));
  const writing = batch.duplicates === "update" ? chosen : chosen.filter((r) => !stored.has(r.id));

  // The latest event naming a customer or order sets its columns; rows sorted by key so that
  // concurrent batches lock shared rows in the same order.
  await upsert(tx, customers, latest(writing, (r) => r.customer, "customer_customer_id"));
  await upsert(tx, orders, latest(writing, (r) => r.order, "order_id"));
  // Events believed new: a plain INSERT, so that a concurrent writer of the same event_id
  // makes this transaction fail (and retry) instead of silently overwriting.
  const fresh = writing.filter((r) => !stored.has(r.id)).map((r) => r.event);
  for (const part of chunks(fresh, utf8Bound, statementBytes)) {
    await insertMany(tx, events, part);
  }
  const overwrite = writing.filter((r) => stored.has(r.id)).map((r) => r.event);
  for (const part of chunks(overwrite, utf8Bound, statementBytes)) {
    await insertMany(tx, events, part, { update: nonKeyColumns(events) });
  }
  await upsert(tx, predictions, writing.map((r) => r.prediction));
  // Overwritten, not maximised: a topic deleted and re-created starts again at 0.
  await insertMany(
    tx,
    pipelineOffsets,
    batch.offsets.map((o) => ({
      consumer_group: batch.consumerGroup,
      topic: o.topic,
      partition_id: o.partition,
      next_offset: BigInt(o.nextOffset),
      updated_at: prepared.now,
    })),
    { update: ["next_offset", "updated_at"] },
  );

  const inserted: string[] = [];
  const duplicates: string[] = [];
  const seen = new Set<string>();
  for (const id of ids) {
    if (seen.has(id) || stored.has(id)) duplicates.push(id);
    else inserted.push(id);
    seen.add(id);
  }
  return { inserted, duplicates };
}

/** At most this many bytes for an event row: 3 per UTF-16 unit of extra_fields, plus the rest. */
function utf8Bound(event: { extra_fields?: string | null }): number {
  return (event.extra_fields?.length ?? 0) * 3 + 1024;
}

async function selectExisting(tx: Tx | Database["drizzle"], ids: string[]): Promise<Set<string>> {
  const found = new Set<string>();
  for (let i = 0; i < ids.length; i += ROWS_PER_STATEMENT) {
    const rows = await tx.select({ id: events.event_id }).from(events)
      .where(inArray(events.event_id, ids.slice(i, i + ROWS_PER_STATEMENT)));
    for (const row of rows) found.add(row.id);
  }
  return found;
}

/** event_ids of `ids` already stored in table_events. */
export function existingEventIds(db: Database, ids: readonly string[]): Promise<Set<string>> {
  return selectExisting(db.drizzle, [...new Set(ids)]);
}

/** The stored next offset per partition of `topic` for `consumerGroup`. */
export async function storedOffsets(
  db: Database,
  consumerGroup: string,
  topic: string,
): Promise<Map<number, string>> {
  const rows = await db.drizzle.select({
    partition: pipelineOffsets.partition_id,
    next: pipelineOffsets.next_offset,
  }).from(pipelineOffsets).where(
    and(eq(pipelineOffsets.consumer_group, consumerGroup), eq(pipelineOffsets.topic, topic)),
  );
  return new Map(rows.map((row) => [row.partition, String(row.next)]));
}

/**
 * Forgets the offsets stored for `topic` by every consumer group, as Kafka forgets its
 * committed offsets when a topic is deleted; returns how many partitions were forgotten.
 */
export async function forgetStoredOffsets(db: Database, topic: string): Promise<number> {
  const [result] = await db.drizzle.delete(pipelineOffsets).where(
    eq(pipelineOffsets.topic, topic),
  );
  return result.affectedRows;
}

type Table = typeof customers | typeof orders | typeof predictions | typeof events;

async function upsert<T extends Table>(tx: Tx, table: T, rows: T["$inferInsert"][]) {
  for (const part of chunks(rows, () => 0)) {
    await insertMany(tx, table, part, { update: nonKeyColumns(table) });
  }
}

/** Property keys of a table's columns outside its primary key. */
function nonKeyColumns<T extends Table>(table: T): (keyof T["$inferInsert"] & string)[] {
  return Object.entries(getTableColumns(table)).filter(([, column]) => !column.primary)
    .map(([key]) => key as keyof T["$inferInsert"] & string);
}

/** One row per key, taken from the last row naming it, sorted by key. */
function latest<R>(rows: readonly Row[], pick: (row: Row) => R, key: keyof R): R[] {
  const byKey = new Map<string, R>();
  for (const row of rows) {
    const value = pick(row);
    byKey.set(value[key] as string, value);
  }
  return [...byKey.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, v]) => v);
}

/** Splits rows into statements of at most ROWS_PER_STATEMENT rows and the byte budget. */
function* chunks<R>(
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

function fieldError(event: ValidEvent, field: string, index: number, expected: string): Error {
  const id = typeof event.event_id === "string" ? `"${event.event_id}"` : `#${index}`;
  return new Error(
    `Cannot ingest event ${id}: field ${field} is ${show(event[field])}, expected ${expected}`,
  );
}

function show(value: EventValue | undefined): string {
  if (value === undefined) return "missing";
  if (value instanceof Date) return value.toISOString();
  return typeof value === "string" ? `"${value}"` : String(value);
}

function text(event: ValidEvent, field: string, index: number): string {
  const value = optionalText(event, field, index);
  if (value === undefined || value === "") throw fieldError(event, field, index, "an identifier");
  return value;
}

function optionalText(event: ValidEvent, field: string, index: number): string | undefined {
  const value = event[field];
  if (value === undefined) return undefined;
  if (typeof value === "string") return value;
  if (typeof value === "number" || typeof value === "boolean") return String(value);
  throw fieldError(event, field, index, "a string");
}

function integer(event: ValidEvent, field: string, index: number): number | undefined {
  const value = event[field];
  if (value === undefined) return undefined;
  const n = Number(value);
  if (
    value instanceof Date || typeof value === "string" && !value.trim() || !Number.isSafeInteger(n)
  ) {
    throw fieldError(event, field, index, "an integer");
  }
  return n;
}

/** DECIMAL(12,2) as text: the server rounds the decimal digits written, not a float. */
function money(event: ValidEvent, field: string, index: number): string | undefined {
  const value = event[field];
  if (value === undefined) return undefined;
  const n = typeof value === "string" ? Number(value) : value;
  if (typeof n !== "number" || !Number.isFinite(n) || Math.abs(n) >= 1e10) {
    throw fieldError(event, field, index, "an amount below 10,000,000,000");
  }
  if (typeof value === "string") return value.trim();
  const shortest = String(n);
  return shortest.includes("e") ? n.toFixed(Math.min(100, decimals(n))) : shortest;
}

/** Decimal places of a number's shortest representation (1.005 -> 3, 1e-7 -> 7). */
function decimals(n: number): number {
  const [mantissa, exponent] = String(n).split("e");
  const places = (mantissa.split(".")[1] ?? "").length - Number(exponent ?? 0);
  return Math.max(0, places);
}

function flag(event: ValidEvent, field: string, index: number): boolean | undefined {
  const value = event[field];
  if (value === undefined) return undefined;
  if (typeof value === "boolean") return value;
  if (value === 0 || value === 1) return value === 1;
  if (value === "true" || value === "false") return value === "true";
  throw fieldError(event, field, index, "true or false");
}

function time(event: ValidEvent, field: string, index: number): Date | undefined {
  const value = event[field];
  if (value === undefined) return undefined;
  const date = value instanceof Date
    ? value
    : typeof value === "boolean"
    ? new Date(Number.NaN)
    : new Date(value);
  if (Number.isNaN(date.getTime())) throw fieldError(event, field, index, "a time");
  return date;
}
