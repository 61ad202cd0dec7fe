import { loadConfig } from "../lib/config.ts";
import { openDatabase } from "../lib/db.ts";
import { ingestBatch } from "../lib/ingest.ts";
const base = await loadConfig();
const db = await openDatabase({ ...base, database: { ...base.database, url: "mysql://root@127.0.0.1:33999/down_test" } });
const ev = (id: string) => ({ event_id: id, order_id: "o" + id, customer_customer_id: "c" + id, event_time: new Date() });
for (let i = 0; i < 40; i++) {
  const events = [ev("a" + i), ev("b" + i)];
  const t = Date.now();
  const r = await ingestBatch(db, { events, payloads: events.map((e) => JSON.stringify(e)), probabilities: new Float64Array(2), modelVersion: "v", offsets: [], consumerGroup: "g", duplicates: "skip" });
  console.log(new Date().toISOString(), i, r.inserted.length, Date.now() - t, "ms");
  await new Promise((r) => setTimeout(r, 1000));
}
await db.close();
