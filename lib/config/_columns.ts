/**
 * The columns of the guide's tables that events are written to: which fields have one, and
 * how long their text may be. The database schema is built from these, and the config is
 * checked against them when it is loaded. No imports: drizzle-kit reads this file too.
 */

/** Longest identifier (event_id, order_id, customer_customer_id) a column holds. */
export const ID_LENGTH = 64;

/** Longest value of the short descriptive columns (country, device, channel, category). */
export const LABEL_LENGTH = 64;

/**
 * The event fields written to a column of their own (table_customers, table_orders,
 * table_events). Every other key of a message is kept in table_events.extra_fields.
 */
export const COLUMN_FIELDS: readonly string[] = Object.freeze([
  "event_id",
  "event_time",
  "order_id",
  "customer_customer_id",
  "customer_country",
  "order_device",
  "order_channel",
  "order_main_category",
  "order_n_items",
  "order_basket_value",
  "order_shipping_fee",
  "order_discount",
  "order_order_total",
  "order_is_returned",
]);
