/**
 * Measures ingestBatch() throughput for several batch sizes against the database of
 * pipeline.yaml's server, in a throw-away database of its own.
 *
 *   deno run -A scripts/bench_ingest.ts [--events N] [--config PATH]
 *
 * Each event writes 4 rows (customer, order, event, prediction); each batch one offset row.
 */
import { loadConfig } from "../lib/config.ts";
import { numberFlag, parseFlags, runMain } from "../lib/cli.ts";
import { log, out } from "../lib/log.ts";
import { openDatabase } from "../lib/db.ts";
import { ingestBatch } from "../lib/ingest.ts";
import type { ValidEvent } from "../lib/validate.ts";

function makeEvent(n: number, run: string): ValidEvent {
  return {
    event_id: `${run}-e${n}`,
    event_time: new Date(Date.UTC(2026, 1, 2, 10, 0, 0, n % 1000)),
    order_id: `${run}-o${n}`,
    // About four events per customer, so customer upserts hit existing rows too.
    customer_customer_id: `${run}-c${Math.floor(n / 4)}`,
    customer_country: ["FR", "DE", "ES", "IT"][n % 4],
    order_device: ["mobile", "desktop", "tablet"][n % 3],
    order_channel: ["web", "app", "marketplace"][n % 3],
    order_main_category: "fashion",
    order_n_items: 1 + n % 5,
    order_basket_value: 10 + (n % 10000) / 100,
    order_shipping_fee: 4.99,
    order_discount: n % 7,
    order_order_total: 14.99 + (n % 10000) / 100 - n % 7,
    order_is_returned: n % 5 === 0,
  };
}

runMain(async () => {
  const { values: flags } = parseFlags(Deno.args, { events: { type: "string" } });
  const total = numberFlag("events", flags.events, { integer: true, min: 5000 }) ?? 20_000;
  const base = await loadConfig(flags.config);
  const url = new URL(base.database.url);
  const name = `bench_ingest_${Date.now().toString(36)}`;
  url.pathname = `/${name}`;
  const config = { ...base, database: { ...base.database, url: url.toString() } };
  const db = await openDatabase(config);
  try {
    log(`database ${db.target.display}, ${total} events per batch size`);
    out("batch_events\tbatches\tseconds\tevents_per_s\trows_per_s");
    for (const size of [100, 500, 1000, 5000]) {
      const run = `b${size}`;
      const batches = Math.ceil(total / size);
      let n = 0;
      const started = performance.now();
      for (let b = 0; b < batches; b++) {
        const events = Array.from({ length: size }, () => makeEvent(n++, run));
        await ingestBatch(db, {
          events,
          payloads: events.map((e) => JSON.stringify(e)),
          probabilities: new Float64Array(size).fill(0.3),
          modelVersion: "bench",
          offsets: [{ topic: run, partition: 0, nextOffset: String(n) }],
          consumerGroup: "bench",
          duplicates: "skip",
        });
      }
      const seconds = (performance.now() - started) / 1000;
      const events = batches * size;
      const rows = events * 4 + batches;
      out(
        `${size}\t${batches}\t${seconds.toFixed(2)}\t${Math.round(events / seconds)}\t` +
          `${Math.round(rows / seconds)}`,
      );
    }
  } finally {
    await db.pool.query(`DROP DATABASE \`${name}\``);
    await db.close();
  }
});
