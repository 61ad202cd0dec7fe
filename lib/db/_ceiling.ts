/**
 * The benchmark's database-only ceiling: the rows a batch makes, written with plain
 * multi-row INSERTs on one connection, one transaction per slice. No duplicate handling, no
 * retries and no column mapping: what the server alone costs for the same data.
 */
import mysql from "mysql2/promise";
import type { OrderEvent } from "../events/mod.ts";
import { type Database, handleOf } from "./_handle.ts";

/** The rows to write: events with their extra fields and probabilities, same order. */
export interface CeilingData {
  readonly events: readonly OrderEvent[];
  readonly extraFields: readonly (string | null)[];
  readonly probabilities: Float64Array;
}

/** A value as SQL text; undefined is the column's DEFAULT. */
function sqlValue(value: string | number | boolean | Date | null | undefined): string {
  if (value === undefined) return "DEFAULT";
  if (value === null) return "NULL";
  if (value instanceof Date) return `'${value.toISOString().slice(0, 23).replace("T", " ")}'`;
  if (typeof value === "number") return String(value);
  if (typeof value === "boolean") return value ? "1" : "0";
  return mysql.escape(value);
}

/**
 * Writes customers, orders, events (source topic "ceiling", offset = index), predictions and
 * the stored offset of group "ceiling", `rowsPerTransaction` events per transaction. The
 * events must be new to the database (distinct event_ids and order_ids).
 */
export async function writeCeilingRows(
  db: Database,
  data: CeilingData,
  modelVersion: string,
  rowsPerTransaction: number,
): Promise<void> {
  const connection = await handleOf(db).pool.getConnection();
  const v = sqlValue;
  const now = v(new Date());
  try {
    for (let i = 0; i < data.events.length; i += rowsPerTransaction) {
      const part = data.events.slice(i, i + rowsPerTransaction);
      const customers = new Map<string, string>();
      const orders: string[] = [];
      const events: string[] = [];
      const predictions: string[] = [];
      part.forEach((e, j) => {
        customers.set(
          e.customer_customer_id,
          `(${v(e.customer_customer_id)},${v(e.customer_country)},${now})`,
        );
        orders.push(
          `(${v(e.order_id)},${v(e.customer_customer_id)},${v(e.order_device)},` +
            `${v(e.order_channel)},${v(e.order_main_category)},${v(e.order_n_items)},` +
            `${v(e.order_basket_value)},${v(e.order_shipping_fee)},${v(e.order_discount)},` +
            `${v(e.order_order_total)},${v(e.order_is_returned)},${now})`,
        );
        events.push(
          `(${v(e.event_id)},${v(e.event_time)},${v(e.order_id)},` +
            `${v(e.customer_customer_id)},${v(data.extraFields[i + j])},'ceiling',0,` +
            `${i + j},${now})`,
        );
        predictions.push(
          `(${v(e.event_id)},${v(e.order_id)},${v(e.customer_customer_id)},` +
            `${data.probabilities[i + j]},${v(modelVersion)},${now})`,
        );
      });
      await connection.query("START TRANSACTION");
      await connection.query(
        "INSERT INTO table_customers (customer_customer_id, customer_country, updated_at) " +
          `VALUES ${[...customers.values()].join(",")} ON DUPLICATE KEY UPDATE ` +
          "customer_country = VALUES(customer_country), updated_at = VALUES(updated_at)",
      );
      await connection.query(
        "INSERT INTO table_orders (order_id, customer_customer_id, order_device, order_channel, " +
          "order_main_category, order_n_items, order_basket_value, order_shipping_fee, " +
          "order_discount, order_order_total, order_is_returned, updated_at) VALUES " +
          orders.join(","),
      );
      await connection.query(
        "INSERT INTO table_events (event_id, event_time, order_id, customer_customer_id, " +
          "extra_fields, source_topic, source_partition, source_offset, ingested_at) " +
          `VALUES ${events.join(",")}`,
      );
      await connection.query(
        "INSERT INTO table_predictions (event_id, order_id, customer_customer_id, " +
          `return_proba, model_version, predicted_at) VALUES ${predictions.join(",")}`,
      );
      await connection.query(
        "INSERT INTO pipeline_offsets (consumer_group, topic, partition_id, next_offset, " +
          `updated_at) VALUES ('ceiling', 'ceiling', 0, ${i + part.length}, ${now}) ` +
          "ON DUPLICATE KEY UPDATE next_offset = VALUES(next_offset), updated_at = VALUES(updated_at)",
      );
      await connection.query("COMMIT");
    }
  } finally {
    connection.release();
  }
}
