/**
 * Table definitions (drizzle-orm, mysql-core) with the user guide's table and column names.
 * drizzle-kit reads this file to generate the SQL migrations in migrations/.
 */
import { sql } from "drizzle-orm";
import {
  bigint,
  boolean,
  customType,
  datetime,
  decimal,
  double,
  foreignKey,
  index,
  int,
  mysqlTable,
  primaryKey,
  uniqueIndex,
  varchar,
} from "drizzle-orm/mysql-core";
// drizzle-kit loads this file by itself, outside the import map: it may only import
// import-free modules, hence the private path instead of ../config/mod.ts.
import { ID_LENGTH, LABEL_LENGTH } from "../config/_columns.ts";

/**
 * Identifiers compare byte for byte, trailing spaces included (utf8mb4_nopad_bin): "A1", "a1"
 * and "a1 " are three events, exactly as the consumer's in-memory deduplication sees them
 * (utf8mb4_bin pads, so "a1" and "a1 " were one key). Set on the column so that a database
 * created by hand with another default collation behaves the same.
 */
const id = customType<{ data: string; driverData: string }>({
  dataType: () => `varchar(${ID_LENGTH}) CHARACTER SET utf8mb4 COLLATE utf8mb4_nopad_bin`,
});

/** A JSON document written and read back as its text. */
const jsonText = customType<{ data: string; driverData: string }>({
  dataType: () => "json",
});

const money = (name: string) =>
  decimal(name, { precision: 12, scale: 2, mode: "string" }).notNull().default("0.00");

/** DATETIME(3) read and written as UTC `Date`s. */
const utc = (name: string) => datetime(name, { fsp: 3, mode: "date" });

const now3 = sql`CURRENT_TIMESTAMP(3)`;

/** One row per customer; upserted from the latest event that names it. */
export const customers = mysqlTable("table_customers", {
  customer_customer_id: id("customer_customer_id").primaryKey(),
  customer_country: varchar("customer_country", { length: LABEL_LENGTH }).notNull().default(
    "unknown",
  ),
  updated_at: utc("updated_at").notNull().default(now3),
});

/** One row per order; upserted from the latest event that names it. */
export const orders = mysqlTable("table_orders", {
  order_id: id("order_id").primaryKey(),
  customer_customer_id: id("customer_customer_id").notNull(),
  order_device: varchar("order_device", { length: LABEL_LENGTH }).notNull().default("unknown"),
  order_channel: varchar("order_channel", { length: LABEL_LENGTH }).notNull().default("unknown"),
  order_main_category: varchar("order_main_category", { length: LABEL_LENGTH }).notNull().default(
    "unknown",
  ),
  order_n_items: int("order_n_items").notNull().default(0),
  order_basket_value: money("order_basket_value"),
  order_shipping_fee: money("order_shipping_fee"),
  order_discount: money("order_discount"),
  order_order_total: money("order_order_total"),
  order_is_returned: boolean("order_is_returned").notNull().default(false),
  updated_at: utc("updated_at").notNull().default(now3),
}, (t) => [
  foreignKey({
    name: "fk_orders_customer",
    columns: [t.customer_customer_id],
    foreignColumns: [customers.customer_customer_id],
  }),
  index("ix_orders_customer").on(t.customer_customer_id),
]);

/**
 * One row per event_id: its keys, the message's keys that have no column of their own
 * (extra_fields, NULL when there are none) and where it was read from. Only the indexes a
 * foreign key needs: every one is written at a random place per event, which is what an
 * insert costs once the tables outgrow the buffer pool.
 */
export const events = mysqlTable("table_events", {
  event_id: id("event_id").primaryKey(),
  event_time: utc("event_time").notNull(),
  order_id: id("order_id").notNull(),
  customer_customer_id: id("customer_customer_id").notNull(),
  extra_fields: jsonText("extra_fields"),
  source_topic: varchar("source_topic", { length: 249 }),
  source_partition: int("source_partition"),
  source_offset: bigint("source_offset", { mode: "bigint" }),
  ingested_at: utc("ingested_at").notNull().default(now3),
}, (t) => [
  foreignKey({ name: "fk_events_order", columns: [t.order_id], foreignColumns: [orders.order_id] }),
  foreignKey({
    name: "fk_events_customer",
    columns: [t.customer_customer_id],
    foreignColumns: [customers.customer_customer_id],
  }),
  index("ix_events_order").on(t.order_id),
  index("ix_events_customer").on(t.customer_customer_id),
  // What table_predictions' foreign key refers to: an event's three keys together.
  uniqueIndex("ux_events_keys").on(t.event_id, t.order_id, t.customer_customer_id),
]);

/**
 * One score per event. One foreign key on the three keys together says that a prediction's
 * order and customer are its event's (which has foreign keys to both), and follows the event
 * when its keys change (ON UPDATE CASCADE); the primary key starts with event_id, so
 * `ORDER BY event_id DESC LIMIT 10` reads it backwards, and since the foreign key fixes the
 * order and customer of an event_id, there is still one prediction per event_id.
 */
export const predictions = mysqlTable("table_predictions", {
  event_id: id("event_id").notNull(),
  order_id: id("order_id").notNull(),
  customer_customer_id: id("customer_customer_id").notNull(),
  return_proba: double("return_proba").notNull(),
  model_version: varchar("model_version", { length: 128 }).notNull(),
  predicted_at: utc("predicted_at").notNull().default(now3),
}, (t) => [
  primaryKey({
    name: "pk_predictions",
    columns: [t.event_id, t.order_id, t.customer_customer_id],
  }),
  foreignKey({
    name: "fk_predictions_event",
    columns: [t.event_id, t.order_id, t.customer_customer_id],
    foreignColumns: [events.event_id, events.order_id, events.customer_customer_id],
  }).onUpdate("cascade"),
]);

/**
 * The next Kafka offset to read per consumer group and partition, written in the same
 * transaction as the rows it covers: after a crash the stored value says exactly what is in.
 */
export const pipelineOffsets = mysqlTable("pipeline_offsets", {
  consumer_group: varchar("consumer_group", { length: 255 }).notNull(),
  topic: varchar("topic", { length: 249 }).notNull(),
  partition_id: int("partition_id").notNull(),
  next_offset: bigint("next_offset", { mode: "bigint" }).notNull(),
  updated_at: utc("updated_at").notNull().default(now3),
}, (t) => [
  primaryKey({ name: "pk_pipeline_offsets", columns: [t.consumer_group, t.topic, t.partition_id] }),
]);

/**
 * The shadow model's score of an event (model.shadow), beside the live one in
 * table_predictions and never mixed with it; the latest shadow score wins.
 */
export const shadowPredictions = mysqlTable("table_shadow_predictions", {
  event_id: id("event_id").primaryKey(),
  shadow_model_version: varchar("shadow_model_version", { length: 128 }).notNull(),
  return_proba: double("return_proba").notNull(),
  predicted_at: utc("predicted_at").notNull().default(now3),
}, (t) => [
  foreignKey({
    name: "fk_shadow_predictions_event",
    columns: [t.event_id],
    foreignColumns: [events.event_id],
  }),
]);

/**
 * Where a `deno task rescore` run stands, updated in the transaction of each batch it writes:
 * a run killed at any point resumes after the last event_id committed, with exact counts.
 */
export const rescoreRuns = mysqlTable("pipeline_rescore_runs", {
  /** A digest of the model version, its mapping and the time range. */
  run_id: varchar("run_id", { length: 64 }).primaryKey(),
  model_version: varchar("model_version", { length: 128 }).notNull(),
  since: utc("since"),
  until: utc("until"),
  /** The last event_id rescored (events are read in key order); NULL before the first batch. */
  last_event_id: id("last_event_id"),
  scored: bigint("scored", { mode: "number" }).notNull().default(0),
  changed: bigint("changed", { mode: "number" }).notNull().default(0),
  unscorable: bigint("unscorable", { mode: "number" }).notNull().default(0),
  started_at: utc("started_at").notNull().default(now3),
  updated_at: utc("updated_at").notNull().default(now3),
  finished_at: utc("finished_at"),
});
