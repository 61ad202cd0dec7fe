/**
 * What the model's life after day one reads and writes: stored events in key order for
 * rescoring, the progress of a rescore run, shadow predictions and the rows `model compare`
 * reads. (The live schema `deno task check` reads is in _live_schema.ts.)
 */
import { and, asc, eq, gt, gte, inArray, lt, type SQL, sql } from "drizzle-orm";
import { errorText, retry } from "../errors/mod.ts";
import { isTransientError } from "./_errors.ts";
import { type Database, handleOf } from "./_handle.ts";
import { insertMany, ROWS_PER_STATEMENT } from "./_statements.ts";
import * as schema from "./_schema.ts";

const { customers, events, orders, predictions, rescoreRuns, shadowPredictions } = schema;

/** The database's retry policy for one transaction (transient failures only). */
function retryPolicy(db: Database) {
  const handle = handleOf(db);
  return { ...handle.retry, retryable: isTransientError, onRetry: handle.onRetry };
}

/** A window of event_time: from `since` (included) to `until` (excluded); open when absent. */
export interface EventRange {
  readonly since?: Date;
  readonly until?: Date;
}

function inRange(range: EventRange): SQL[] {
  const conditions: SQL[] = [];
  if (range.since) conditions.push(gte(events.event_time, range.since));
  if (range.until) conditions.push(lt(events.event_time, range.until));
  return conditions;
}

/** One stored event as its columns hold it, with its current prediction. */
export interface StoredEvent {
  readonly eventId: string;
  readonly orderId: string;
  readonly customerId: string;
  /**
   * The values of the event fields that have a column (lib/config COLUMN_FIELDS): text as
   * stored, money as exact decimal text, event_time as a Date, order_is_returned a boolean.
   * Customers and orders hold the latest event that named them.
   */
  readonly columns: Readonly<Record<string, string | number | boolean | Date>>;
  /** The keys without a column of their own, as JSON text (null when none). */
  readonly extraFields: string | null;
  readonly probability: number | null;
  readonly modelVersion: string | null;
}

/** Counts the stored events of a time window. */
export async function countStoredEvents(db: Database, range: EventRange = {}): Promise<number> {
  const [row] = await handleOf(db).drizzle.select({ n: sql<string>`COUNT(*)` }).from(events)
    .where(and(...inRange(range)));
  return Number(row.n);
}

/**
 * Up to `limit` stored events after `after` in event_id order (the primary key's,
 * utf8mb4_nopad_bin: byte order), so that a reader can stop anywhere and carry on from the last
 * id it saw.
 */
export async function readStoredEvents(
  db: Database,
  options: EventRange & { readonly after?: string; readonly limit: number },
): Promise<StoredEvent[]> {
  const page = await eventsPage(db, options);
  if (!page.length) return [];
  const [orderRows, customerRows, predictionRows] = await Promise.all([
    handleOf(db).drizzle.select().from(orders)
      .where(inArray(orders.order_id, [...new Set(page.map((e) => e.order_id))])),
    handleOf(db).drizzle.select({
      id: customers.customer_customer_id,
      customer_country: customers.customer_country,
    }).from(customers)
      .where(inArray(customers.customer_customer_id, [
        ...new Set(page.map((e) => e.customer_customer_id)),
      ])),
    handleOf(db).drizzle.select({
      id: predictions.event_id,
      return_proba: predictions.return_proba,
      model_version: predictions.model_version,
    }).from(predictions).where(inArray(predictions.event_id, page.map((e) => e.event_id))),
  ]);
  const orderOf = new Map(orderRows.map((o) => [o.order_id, o]));
  const countryOf = new Map(customerRows.map((c) => [c.id, c.customer_country]));
  const predictionOf = new Map(predictionRows.map((p) => [p.id, p]));
  return page.map((e) => {
    // Foreign keys guarantee both parents; their columns are the latest event's.
    const { customer_customer_id: _, updated_at: _at, order_id: _id, ...order } = orderOf.get(
      e.order_id,
    )!;
    const prediction = predictionOf.get(e.event_id);
    return {
      eventId: e.event_id,
      orderId: e.order_id,
      customerId: e.customer_customer_id,
      columns: {
        event_id: e.event_id,
        event_time: e.event_time,
        order_id: e.order_id,
        customer_customer_id: e.customer_customer_id,
        customer_country: countryOf.get(e.customer_customer_id)!,
        ...order,
      },
      extraFields: e.extra_fields,
      probability: prediction?.return_proba ?? null,
      modelVersion: prediction?.model_version ?? null,
    };
  });
}

/**
 * One page of table_events in key order. The page is read alone, by its primary key, and the
 * other tables are then read by key: joined in one statement, MariaDB chose to scan
 * table_customers and sort, on every page, which made a pass over the table quadratic.
 */
function eventsPage(
  db: Database,
  options: EventRange & { readonly after?: string; readonly limit: number },
) {
  const conditions = inRange(options);
  if (options.after !== undefined) conditions.push(gt(events.event_id, options.after));
  return handleOf(db).drizzle.select({
    event_id: events.event_id,
    event_time: events.event_time,
    order_id: events.order_id,
    customer_customer_id: events.customer_customer_id,
    extra_fields: events.extra_fields,
  }).from(events).where(and(...conditions)).orderBy(asc(events.event_id)).limit(options.limit);
}

/** Where a rescore run stands. */
export interface RescoreRun {
  readonly runId: string;
  readonly modelVersion: string;
  readonly lastEventId: string | null;
  readonly scored: number;
  readonly changed: number;
  readonly unscorable: number;
  readonly startedAt: Date;
  readonly finishedAt: Date | null;
}

/** The stored state of a rescore run, if it was ever started. */
export async function findRescoreRun(db: Database, runId: string): Promise<RescoreRun | undefined> {
  const [row] = await handleOf(db).drizzle.select().from(rescoreRuns).where(
    eq(rescoreRuns.run_id, runId),
  );
  if (!row) return undefined;
  return {
    runId: row.run_id,
    modelVersion: row.model_version,
    lastEventId: row.last_event_id,
    scored: row.scored,
    changed: row.changed,
    unscorable: row.unscorable,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
  };
}

/** Starts a run from the first event (a finished run of the same id starts over). */
export async function startRescoreRun(
  db: Database,
  run: { runId: string; modelVersion: string } & EventRange,
): Promise<void> {
  const now = new Date();
  await insertMany(handleOf(db).drizzle, rescoreRuns, [{
    run_id: run.runId,
    model_version: run.modelVersion,
    since: run.since ?? null,
    until: run.until ?? null,
    last_event_id: null,
    scored: 0,
    changed: 0,
    unscorable: 0,
    started_at: now,
    updated_at: now,
    finished_at: null,
  }], {
    update: [
      "model_version",
      "since",
      "until",
      "last_event_id",
      "scored",
      "changed",
      "unscorable",
      "started_at",
      "updated_at",
      "finished_at",
    ],
  });
}

/** One batch of a rescore run: new scores and what they add to the run's counts. */
export interface RescoredBatch {
  readonly runId: string;
  readonly modelVersion: string;
  readonly predictions: readonly {
    readonly eventId: string;
    readonly orderId: string;
    readonly customerId: string;
    readonly probability: number;
  }[];
  /** The last event_id this batch read: the run resumes after it. */
  readonly lastEventId: string;
  readonly changed: number;
  readonly unscorable: number;
}

/**
 * Upserts a batch's predictions and moves its run past them in one transaction: after a
 * crash the run's counts and position say exactly what was written.
 */
export async function writeRescoredBatch(db: Database, batch: RescoredBatch): Promise<void> {
  const now = new Date();
  const rows = batch.predictions.map((p) => ({
    event_id: p.eventId,
    order_id: p.orderId,
    customer_customer_id: p.customerId,
    return_proba: p.probability,
    model_version: batch.modelVersion,
    predicted_at: now,
  }));
  try {
    await retry(() =>
      handleOf(db).drizzle.transaction(async (tx) => {
        for (let i = 0; i < rows.length; i += ROWS_PER_STATEMENT) {
          await insertMany(tx, predictions, rows.slice(i, i + ROWS_PER_STATEMENT), {
            update: ["return_proba", "model_version", "predicted_at"],
          });
        }
        await tx.update(rescoreRuns).set({
          last_event_id: batch.lastEventId,
          scored: sql`${rescoreRuns.scored} + ${rows.length}`,
          changed: sql`${rescoreRuns.changed} + ${batch.changed}`,
          unscorable: sql`${rescoreRuns.unscorable} + ${batch.unscorable}`,
          updated_at: now,
        }).where(eq(rescoreRuns.run_id, batch.runId));
      }), retryPolicy(db));
  } catch (error) {
    throw new Error(
      `Cannot write ${rows.length} rescored prediction(s): ${errorText(error)}`,
      { cause: error },
    );
  }
}

/** Marks a run finished: the same command then starts a new run instead of resuming. */
export async function finishRescoreRun(db: Database, runId: string): Promise<void> {
  const now = new Date();
  await handleOf(db).drizzle.update(rescoreRuns).set({ finished_at: now, updated_at: now })
    .where(eq(rescoreRuns.run_id, runId));
}

/** One shadow score of a stored event. */
export interface ShadowPrediction {
  readonly eventId: string;
  readonly modelVersion: string;
  readonly probability: number;
}

/** Upserts shadow scores (the events are stored already); retried on transient failures. */
export async function storeShadowPredictions(
  db: Database,
  rows: readonly ShadowPrediction[],
): Promise<void> {
  if (!rows.length) return;
  const now = new Date();
  const values = rows.map((r) => ({
    event_id: r.eventId,
    shadow_model_version: r.modelVersion,
    return_proba: r.probability,
    predicted_at: now,
  }));
  await retry(async () => {
    for (let i = 0; i < values.length; i += ROWS_PER_STATEMENT) {
      await insertMany(
        handleOf(db).drizzle,
        shadowPredictions,
        values.slice(i, i + ROWS_PER_STATEMENT),
        {
          update: ["shadow_model_version", "return_proba", "predicted_at"],
        },
      );
    }
  }, retryPolicy(db));
}

/** An event scored by both models, with its outcome. */
export interface ComparedPrediction {
  readonly eventId: string;
  readonly live: number;
  readonly liveVersion: string;
  readonly shadow: number;
  readonly shadowVersion: string;
  /** order_is_returned of the event's order, as last written. */
  readonly returned: boolean;
}

/**
 * The events with a live and a shadow score among the next `limit` stored events after
 * `after`; `next` is where the following page starts (undefined after the last one).
 */
export async function readComparedPredictions(
  db: Database,
  options: EventRange & { readonly after?: string; readonly limit: number },
): Promise<{ rows: ComparedPrediction[]; next?: string }> {
  const page = await eventsPage(db, options);
  if (!page.length) return { rows: [] };
  const ids = page.map((e) => e.event_id);
  const [live, shadow, outcomes] = await Promise.all([
    handleOf(db).drizzle.select({
      id: predictions.event_id,
      p: predictions.return_proba,
      v: predictions.model_version,
    }).from(predictions).where(inArray(predictions.event_id, ids)),
    handleOf(db).drizzle.select({
      id: shadowPredictions.event_id,
      p: shadowPredictions.return_proba,
      v: shadowPredictions.shadow_model_version,
    }).from(shadowPredictions).where(inArray(shadowPredictions.event_id, ids)),
    handleOf(db).drizzle.select({ id: orders.order_id, returned: orders.order_is_returned }).from(
      orders,
    )
      .where(inArray(orders.order_id, [...new Set(page.map((e) => e.order_id))])),
  ]);
  const liveOf = new Map(live.map((r) => [r.id, r]));
  const returnedOf = new Map(outcomes.map((o) => [o.id, o.returned]));
  const shadowOf = new Map(shadow.map((r) => [r.id, r]));
  const rows: ComparedPrediction[] = [];
  for (const e of page) {
    const l = liveOf.get(e.event_id);
    const s = shadowOf.get(e.event_id);
    if (!l || !s) continue;
    rows.push({
      eventId: e.event_id,
      live: l.p,
      liveVersion: l.v,
      shadow: s.p,
      shadowVersion: s.v,
      returned: returnedOf.get(e.order_id) ?? false,
    });
  }
  return { rows, next: page.length < options.limit ? undefined : page[page.length - 1].event_id };
}
