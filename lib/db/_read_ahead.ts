/**
 * Read-ahead of the index pages a slice of events is about to write. Once the tables outgrow
 * the buffer pool nearly every index entry an event adds lands on a page that is on disk, and
 * the batch's one connection reads those pages one at a time: a queue depth of one. The same
 * keys looked up at once on connections of their own bring those pages in with many reads in
 * flight, so that the writer then finds most of them cached.
 *
 * The lookups are plain consistent reads: they take no locks and change nothing, so they can
 * neither block the writer nor change a result. At worst a page they read is evicted again
 * before the writer gets to it, and the writer reads it once more, as without them.
 */
import mysql from "mysql2/promise";

/** The keys of one event. */
export interface EventKeys {
  readonly event: string;
  readonly order: string;
  readonly customer: string;
}

/**
 * Keys per lookup. Past the server's eq_range_index_dive_limit (200 by default) the optimizer
 * estimates an IN list from index statistics, which can be far off while a table grows, and
 * then scans the whole index instead (measured: 2 s for 250 keys); smaller lookups also mean
 * more reads in flight.
 */
const KEYS_PER_LOOKUP = 100;

/** The lookups for one slice: per index, the new entries themselves. */
function lookups(keys: readonly EventKeys[]): string[] {
  const queries: string[] = [];
  const each = (select: string, pick: (k: EventKeys) => string[]) => {
    const tuples = [
      ...new Set(keys.map((k) => {
        const values = pick(k).map((v) => mysql.escape(v));
        return values.length === 1 ? values[0] : `(${values.join(",")})`;
      })),
    ];
    for (let i = 0; i < tuples.length; i += KEYS_PER_LOOKUP) {
      queries.push(`${select} (${tuples.slice(i, i + KEYS_PER_LOOKUP).join(",")})`);
    }
  };
  const events = "SELECT event_id FROM table_events";
  const orders = "SELECT order_id FROM table_orders";
  each(`${events} WHERE event_id IN`, (k) => [k.event]);
  each(`${events} FORCE INDEX (ux_events_keys) WHERE event_id IN`, (k) => [k.event]);
  // A secondary index holds (its column, the primary key): the new pair is found nowhere, so
  // no row is read from the table, but the lookup walks down to the very page it will go to.
  each(
    `${events} FORCE INDEX (ix_events_order) WHERE (order_id, event_id) IN`,
    (k) => [k.order, k.event],
  );
  each(
    `${events} FORCE INDEX (ix_events_customer) WHERE (customer_customer_id, event_id) IN`,
    (k) => [k.customer, k.event],
  );
  each(`${orders} WHERE order_id IN`, (k) => [k.order]);
  each(
    `${orders} FORCE INDEX (ix_orders_customer) WHERE (customer_customer_id, order_id) IN`,
    (k) => [k.customer, k.order],
  );
  each(
    "SELECT customer_customer_id FROM table_customers WHERE customer_customer_id IN",
    (k) => [k.customer],
  );
  each("SELECT event_id FROM table_predictions WHERE event_id IN", (k) => [k.event]);
  return queries;
}

/** Runs a slice's lookups at once on the readers' pool; a failed one only costs its warming. */
export async function readAhead(readers: mysql.Pool, keys: readonly EventKeys[]): Promise<void> {
  if (!keys.length) return;
  await Promise.all(lookups(keys).map((q) => readers.query(q).catch(() => {})));
}
