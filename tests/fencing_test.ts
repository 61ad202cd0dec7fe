/**
 * Fencing: a consumer that lost its partition in a rebalance but still finishes a batch (a
 * zombie) writes nothing once the new owner has stored its own. Two appliers over one
 * partition of a real database, in-process, interleaved on purpose.
 */
import assert from "assert";
import { fileURLToPath } from "node:url";
import { parseConfig } from "../lib/config/mod.ts";
import { applyBatch, checkRecords, partitionStore, type Ports } from "../lib/consumer/mod.ts";
import { storedOffsets } from "../lib/db/mod.ts";
import type { KafkaRecord } from "../lib/kafka/mod.ts";
import { withTestDatabase } from "./_database.ts";
import { queryRows } from "./_sql.ts";
import { guideEvent } from "./_fixtures.ts";

const configPath = fileURLToPath(new URL("../pipeline.yaml", import.meta.url));
const config = parseConfig(await Deno.readTextFile(configPath), {
  file: configPath,
  env: () => undefined,
});
const encoder = new TextEncoder();

/** Records 0..n-1 of one partition; each event's order_n_items says which producer wrote it. */
function records(n: number, version: number): KafkaRecord[] {
  return Array.from({ length: n }, (_, i) => ({
    offset: BigInt(i),
    key: null,
    value: encoder.encode(JSON.stringify({
      ...guideEvent,
      event_id: `e${i}`,
      order_id: `o${i}`,
      customer_customer_id: `c${i}`,
      order_n_items: version,
    })),
    headers: {},
    timestamp: Date.now(),
  }));
}

function ports(store: Ports["store"], keepAlive: () => Promise<void>): Ports {
  return {
    deadLetters: { send: () => Promise.resolve() },
    scorer: {
      version: "test",
      predict: (events) => Promise.resolve(new Float64Array(events.length).fill(0.5)),
    },
    store,
    keepAlive,
    onRetry: () => {},
  };
}

for (const duplicates of ["skip", "update"] as const) {
  Deno.test(`a revoked consumer still finishing a batch writes nothing (duplicates: ${duplicates})`, async () => {
    await withTestDatabase("fencing", async (db, _config, name) => {
      const where = { topic: "orders", partition: 0, group: "pipeline", duplicates };
      const now = new Date();
      // The zombie planned offsets 0..99 before it lost the partition, then stalled.
      let resume!: () => void;
      const stalled = new Promise<void>((r) => resume = r);
      let beats = 0;
      const zombie = applyBatch(
        checkRecords(records(100, 1), config, now),
        ports(partitionStore(db, where), async () => {
          if (beats++ === 0) await stalled;
        }),
        { duplicates, classify: () => "transient" },
      );
      // Wait until the zombie has read the stored offset and is stalled.
      while (beats === 0) await new Promise((r) => setTimeout(r, 10));

      // The new owner applies 0..199, with newer versions of the same events.
      const owner = await applyBatch(
        checkRecords(records(200, 2), config, now),
        ports(partitionStore(db, where), () => Promise.resolve()),
        { duplicates },
      );
      assert.equal(owner.inserted.length, 200);
      assert.equal((await storedOffsets(db, "pipeline", "orders")).get(0), 200n);

      resume();
      const late = await zombie;
      // Refused by the fence, it planned again: all of it had been applied by the owner.
      assert.equal(late.plan.alreadyApplied.length, 100);
      assert.equal(late.inserted.length, 0);
      assert.equal((await storedOffsets(db, "pipeline", "orders")).get(0), 200n, "went back");

      const rows = await queryRows<{ n: number; items: number }>(
        db,
        "SELECT COUNT(*) AS n, MIN(o.order_n_items) AS items FROM table_events e " +
          "JOIN table_orders o ON o.order_id = e.order_id",
      );
      assert.deepEqual([Number(rows[0].n), Number(rows[0].items)], [200, 2]);
      const predictions = await queryRows<{ n: number }>(
        db,
        "SELECT COUNT(*) AS n FROM table_predictions",
      );
      assert.equal(Number(predictions[0].n), 200);
      assert.ok(name);
    });
  });
}
