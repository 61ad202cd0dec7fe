/**
 * Writes one consumed batch in one transaction, in foreign-key order: customers, orders,
 * events, predictions, then the consumed offsets. Multi-row upserts keep it fast; the whole
 * transaction is retried after deadlocks, lock wait timeouts and lost connections.
 *
 * The events of a batch are typed (validation built them) and have distinct event_ids (the
 * caller removed repeats within the batch); nothing is checked again here.
 *
 * Duplicates (an event_id already stored) are decided inside the transaction: the stored
 * ids are read first, and events believed new are written with a plain INSERT. If another
 * consumer commits the same event_id in between, that INSERT fails with a duplicate-key
 * error (after waiting for the other transaction's row lock), this transaction rolls back
 * and the retry sees the stored row. So each event_id is reported "inserted" by exactly one
 * committed transaction, under any isolation level, without the gap locks (and deadlocks)
 * that a locking read of absent keys would take.
 */
import { getTableColumns, inArray } from "drizzle-orm";
import { errorText, retry } from "../errors/mod.ts";
import type { OrderEvent } from "../events/mod.ts";
import { errorNumber, isTransientError } from "./_errors.ts";
import {
  type Database,
  type Drizzle,
  type Handle,
  handleOf,
  type RetryHook,
  type Tx,
} from "./_handle.ts";
import { readAhead } from "./_read_ahead.ts";
import { type BatchOffset, lockOffsets } from "./_offsets.ts";
import { chunks, insertMany, ROWS_PER_STATEMENT } from "./_statements.ts";
import { customers, events, orders, pipelineOffsets, predictions } from "./_schema.ts";

/** Where one event was read from. */
export interface EventSource {
  readonly topic: string;
  readonly partition: number;
  readonly offset: bigint;
}

/** One batch as the consumer hands it over. */
export interface IngestBatch {
  /** Events with distinct event_ids (dedupInBatch() of lib/events removes repeats). */
  readonly events: readonly OrderEvent[];
  /**
   * Each event's keys that have no column, as a JSON object text (null when none), same
   * order: stored in table_events.extra_fields (validateMessage() computes it).
   */
  readonly extraFields: readonly (string | null)[];
  /** Return probability of each event, same order. */
  readonly probabilities: Float64Array;
  readonly modelVersion: string;
  /** The next offset to consume per partition once this batch is stored. */
  readonly offsets: readonly BatchOffset[];
  readonly consumerGroup: string;
  /** skip: a stored event_id is left as is; update: it is overwritten. */
  readonly duplicates: "skip" | "update";
  /** Optional: where each event was read from (stored in table_events), same order. */
  readonly sources?: readonly (EventSource | undefined)[];
}

/** Per call: how a retried transaction waits and reports (defaults: the database's). */
export interface IngestOptions {
  /** Waits between attempts; a caller that must keep a group membership alive passes its own. */
  readonly wait?: (ms: number) => Promise<void>;
  readonly onRetry?: RetryHook;
}

/**
 * What became of each event, in batch order: `inserted` lists event_ids new to the
 * database, `duplicates` those already stored (skipped or, with "update", overwritten).
 */
export interface IngestResult {
  inserted: string[];
  duplicates: string[];
}

/**
 * Events written table after table before the next ones, inside the one transaction. The
 * foreign-key checks of a slice read the rows its own earlier statements just wrote; a whole
 * batch of thousands of events touches more pages than a small buffer pool holds, so by the
 * time of those checks (and of the insert after the duplicate check) the pages would be gone
 * and read again from disk.
 */
export const SLICE_EVENTS = 500;
/**
 * With read-ahead: the pages read for the next slice wait in the buffer pool's old sublist
 * (3/8 of it) while the writer writes this one, so both slices' pages must fit there.
 */
const READ_AHEAD_SLICE_EVENTS = 250;
/** A duplicate-key race is retried this many times before it is taken as a real conflict. */
const DUPLICATE_RACE_ATTEMPTS = 5;
const ER_DUP_ENTRY = 1062;

/**
 * Writes one batch in one transaction, retried as a whole after transient failures (and a
 * duplicate-key race, a few times) under the database's retry policy. The error thrown at
 * last keeps the driver's as its cause: classifyDatabaseError() tells whether it may pass.
 */
export async function ingestBatch(
  db: Database,
  batch: IngestBatch,
  options: IngestOptions = {},
): Promise<IngestResult> {
  const handle = handleOf(db);
  const rows = prepare(batch);
  if (!rows.length && !batch.offsets.length) return { inserted: [], duplicates: [] };
  try {
    return await retry(
      () =>
        handle.drizzle.transaction((tx) => write(tx, batch, rows, handle), {
          isolationLevel: "read committed",
        }),
      {
        ...handle.retry,
        retryable: (error, attempt) =>
          isTransientError(error) ||
          (errorNumber(error) === ER_DUP_ENTRY && attempt < DUPLICATE_RACE_ATTEMPTS),
        onRetry: options.onRetry ?? handle.onRetry,
        wait: options.wait,
      },
    );
  } catch (error) {
    throw new Error(
      `Cannot ingest batch of ${batch.events.length} event(s): ${errorText(error)}`,
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

/** The rows of every event, built before the transaction starts (pure, done once). */
function prepare(batch: IngestBatch): Row[] {
  const n = batch.events.length;
  if (batch.extraFields.length !== n || batch.probabilities.length !== n) {
    throw new Error(
      `Cannot ingest batch: ${n} events, ${batch.extraFields.length} extra fields and ` +
        `${batch.probabilities.length} probabilities`,
    );
  }
  const now = new Date();
  const seen = new Set<string>();
  return batch.events.map((e, i): Row => {
    const id = e.event_id;
    // Two rows with one key in a statement would fail with a duplicate key on every retry.
    if (seen.has(id)) {
      throw new Error(
        `Cannot ingest batch: event_id "${id}" appears twice (dedupInBatch() removes repeats)`,
      );
    }
    seen.add(id);
    const proba = batch.probabilities[i];
    if (!Number.isFinite(proba)) {
      throw new Error(`Cannot ingest event "${id}": return probability ${proba} is not a number`);
    }
    const { order_id, customer_customer_id } = e;
    const source = batch.sources?.[i];
    return {
      id,
      customer: { customer_customer_id, customer_country: e.customer_country, updated_at: now },
      order: {
        order_id,
        customer_customer_id,
        order_device: e.order_device,
        order_channel: e.order_channel,
        order_main_category: e.order_main_category,
        order_n_items: e.order_n_items,
        order_basket_value: decimalText(e.order_basket_value),
        order_shipping_fee: decimalText(e.order_shipping_fee),
        order_discount: decimalText(e.order_discount),
        order_order_total: decimalText(e.order_order_total),
        order_is_returned: e.order_is_returned,
        updated_at: now,
      },
      event: {
        event_id: id,
        event_time: e.event_time,
        order_id,
        customer_customer_id,
        extra_fields: batch.extraFields[i],
        source_topic: source?.topic ?? null,
        source_partition: source?.partition ?? null,
        source_offset: source?.offset ?? null,
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
}

async function write(
  tx: Tx,
  batch: IngestBatch,
  rows: readonly Row[],
  handle: Handle,
): Promise<IngestResult> {
  const { statementBytes, readers } = handle;
  const sliceEvents = readers ? READ_AHEAD_SLICE_EVENTS : SLICE_EVENTS;
  const keysFrom = (from: number) =>
    rows.slice(from, from + sliceEvents).map((r) => ({
      event: r.id,
      order: r.event.order_id,
      customer: r.event.customer_customer_id,
    }));
  // First: the fence. Nothing else is read or written if another consumer got here first.
  const absent = await lockOffsets(tx, batch.consumerGroup, batch.offsets);
  const stored = new Set<string>();
  // Slices in batch order: the latest event naming a customer or order is written last and
  // sets its columns. Within a slice rows are sorted by key, so that concurrent batches lock
  // shared rows in the same order (across slices they may not: a deadlock is retried).
  // The next slice's pages are read while this one is written, never further ahead.
  let ahead = readers ? readAhead(readers, keysFrom(0)) : undefined;
  for (let i = 0; i < rows.length; i += sliceEvents) {
    const slice = rows.slice(i, i + sliceEvents);
    await ahead;
    ahead = readers && i + sliceEvents < rows.length
      ? readAhead(readers, keysFrom(i + sliceEvents))
      : undefined;
    const found = await selectExisting(tx, slice.map((r) => r.id));
    for (const id of found) stored.add(id);
    const writing = batch.duplicates === "update" ? slice : slice.filter((r) => !found.has(r.id));
    await upsert(tx, customers, latest(writing, (r) => r.customer, "customer_customer_id"));
    await upsert(tx, orders, latest(writing, (r) => r.order, "order_id"));
    // Events believed new: a plain INSERT, so that a concurrent writer of the same event_id
    // makes this transaction fail (and retry) instead of silently overwriting.
    const fresh = writing.filter((r) => !found.has(r.id)).map((r) => r.event);
    for (const part of chunks(fresh, utf8Bound, statementBytes)) {
      await insertMany(tx, events, part);
    }
    const overwrite = writing.filter((r) => found.has(r.id)).map((r) => r.event);
    for (const part of chunks(overwrite, utf8Bound, statementBytes)) {
      await insertMany(tx, events, part, { update: nonKeyColumns(events) });
    }
    // Its keys are the event's (one foreign key on all three, cascading when they change).
    for (const part of chunks(writing.map((r) => r.prediction), () => 0)) {
      await insertMany(tx, predictions, part, {
        update: ["return_proba", "model_version", "predicted_at"],
      });
    }
  }
  // Overwritten, not maximised: a topic deleted and re-created starts again at 0. A row that
  // was absent is inserted plainly, so that two consumers inserting it at once cannot both win.
  const now = new Date();
  const offsetRow = (o: BatchOffset) => ({
    consumer_group: batch.consumerGroup,
    topic: o.topic,
    partition_id: o.partition,
    next_offset: o.nextOffset,
    updated_at: now,
  });
  await insertMany(tx, pipelineOffsets, batch.offsets.filter((o) => absent.has(o)).map(offsetRow));
  await insertMany(
    tx,
    pipelineOffsets,
    batch.offsets.filter((o) => !absent.has(o)).map(offsetRow),
    { update: ["next_offset", "updated_at"] },
  );

  const inserted: string[] = [];
  const duplicates: string[] = [];
  for (const { id } of rows) (stored.has(id) ? duplicates : inserted).push(id);
  return { inserted, duplicates };
}

/**
 * DECIMAL(12,2) as exact text ("0.1", "1.005"): the server rounds the decimal digits
 * written half up, where a float would carry its binary error (1.005 is 1.00499999...).
 */
function decimalText(n: number | undefined): string | undefined {
  if (n === undefined) return undefined;
  const shortest = String(n);
  return shortest.includes("e") ? n.toFixed(Math.min(100, decimals(n))) : shortest;
}

/** Decimal places of a number's shortest representation (1.005 -> 3, 1e-7 -> 7). */
function decimals(n: number): number {
  const [mantissa, exponent] = String(n).split("e");
  const places = (mantissa.split(".")[1] ?? "").length - Number(exponent ?? 0);
  return Math.max(0, places);
}

/** At most this many bytes for an event row: 3 per UTF-16 unit of extra_fields, plus the rest. */
function utf8Bound(event: { extra_fields?: string | null }): number {
  return (event.extra_fields?.length ?? 0) * 3 + 1024;
}

async function selectExisting(tx: Tx | Drizzle, ids: string[]): Promise<Set<string>> {
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
  return selectExisting(handleOf(db).drizzle, [...new Set(ids)]);
}

type Table = typeof customers | typeof orders | typeof events;

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
