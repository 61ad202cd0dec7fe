/**
 * The columns of the guide's tables that events are written to: which fields have one, and
 * what types, lengths and ranges each holds. The database schema is built from these, and the config is
 * checked against them when it is loaded. No imports: drizzle-kit reads this file too.
 */

/** Longest identifier (event_id, order_id, customer_customer_id) a column holds. */
export const ID_LENGTH = 64;

/**
 * The text form of a UUID that MariaDB's UUID type reads (any case) and prints (lower case):
 * what every key must look like with database.key_type `uuid` (lib/db/_keys.ts).
 */
export const UUID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Longest value of the short descriptive columns (country, device, channel, category). */
export const LABEL_LENGTH = 64;

/** Range of an INT column. */
const INT_MIN = -2147483648;
const INT_MAX = 2147483647;

/** Largest amount a DECIMAL(12,2) money column holds. */
const MONEY_MAX = 9999999999.99;

/** What one event field's column stores, in the terms of events.fields in pipeline.yaml. */
export interface Column {
  /** The column's SQL type, for messages. */
  readonly sql: string;
  /** The field types (events.fields.<name>.type) whose values the column stores as they are. */
  readonly holds: readonly ("string" | "integer" | "number" | "boolean" | "datetime")[];
  /** Longest text, in characters. */
  readonly maxLength?: number;
  readonly min?: number;
  readonly max?: number;
  /** The column has no default: every event must bring the field. */
  readonly key?: boolean;
}

const id: Column = {
  sql: `VARCHAR(${ID_LENGTH})`,
  holds: ["string"],
  maxLength: ID_LENGTH,
  key: true,
};
const label: Column = {
  sql: `VARCHAR(${LABEL_LENGTH})`,
  holds: ["string"],
  maxLength: LABEL_LENGTH,
};
const money: Column = {
  sql: "DECIMAL(12,2)",
  holds: ["number", "integer"],
  min: -MONEY_MAX,
  max: MONEY_MAX,
};

/**
 * The event fields written to a column of their own (table_customers, table_orders,
 * table_events), and what that column holds. Every other key of a message is kept in
 * table_events.extra_fields.
 */
export const COLUMNS: Readonly<Record<string, Column>> = Object.freeze({
  event_id: id,
  event_time: { sql: "DATETIME(3)", holds: ["datetime"] },
  order_id: id,
  customer_customer_id: id,
  customer_country: label,
  order_device: label,
  order_channel: label,
  order_main_category: label,
  order_n_items: { sql: "INT", holds: ["integer"], min: INT_MIN, max: INT_MAX },
  order_basket_value: money,
  order_shipping_fee: money,
  order_discount: money,
  order_order_total: money,
  order_is_returned: { sql: "BOOLEAN", holds: ["boolean"] },
});

/** The event fields written to a column of their own, in table order. */
export const COLUMN_FIELDS: readonly string[] = Object.freeze(Object.keys(COLUMNS));
