import assert from "assert";
import { loadConfig } from "../lib/config/mod.ts";
import {
  type Database,
  errorNumber,
  isTransientError,
  openDatabase,
  type OpenOptions,
} from "../lib/db/mod.ts";
import { existingEventIds, type IngestBatch, ingestBatch, storedOffsets } from "../lib/db/mod.ts";
import { dedupInBatch, extraFields, type ValidEvent } from "../lib/events/mod.ts";
import { dropDatabase, uniqueName, writeTestConfig } from "./_helpers.ts";
import { ensureServices } from "./_services.ts";
import { withTestDatabase } from "./_database.ts";
import { connect, queryRows } from "./_sql.ts";
import { guideEvent, orderOf, validEvent } from "./_fixtures.ts";

/** Opens a database of its own for `run` and drops it after. */
function withDatabase(run: (db: Database) => Promise<void>, options: OpenOptions = {}) {
  return withTestDatabase("ingesttest", run, options);
}

async function count(db: Database, table: string): Promise<number> {
  const [row] = await queryRows<{ n: number }>(db, `SELECT COUNT(*) AS n FROM ${table}`);
  return Number(row.n);
}

function event(id: string, overrides: Record<string, ValidEvent[string]> = {}): ValidEvent {
  return validEvent(id, overrides);
}

/** What validateMessage() keeps of a message with these keys under the default fields. */
function extrasOf(event: ValidEvent): string | null {
  return extraFields(event, {
    fields: Object.fromEntries(Object.keys(guideEvent).map((k) => [k, {}])),
  });
}

function batchOf(
  events: ValidEvent[],
  options: Partial<IngestBatch> & { probability?: number } = {},
): IngestBatch {
  return {
    events: events.map(orderOf),
    extraFields: events.map(extrasOf),
    probabilities: new Float64Array(events.length).fill(options.probability ?? 0.25),
    modelVersion: "sha256:test",
    offsets: [],
    consumerGroup: "group-a",
    duplicates: "skip",
    ...options,
  };
}

/**
 * Removes repeats within the batch as the consumer does (dedupInBatch() of lib/events), then
 * ingests the unique events; the repeats count as duplicates, after the stored ones.
 */
async function ingestWithRepeats(
  db: Database,
  events: ValidEvent[],
  options: Partial<IngestBatch> = {},
) {
  const items = events.map((event) => ({ id: String(event.event_id), event }));
  const { unique, repeated } = dedupInBatch(items, options.duplicates ?? "skip");
  const result = await ingestBatch(db, batchOf(unique.map((u) => u.event), options));
  return {
    inserted: result.inserted,
    duplicates: [...result.duplicates, ...repeated.map((r) => r.id)],
  };
}

/**
 * Waits until a statement on table_customers has been running for two polls in a row (it
 * waits for a row lock: alone it takes a millisecond); returns its connection id.
 */
async function blockedUpsert(db: Database): Promise<number> {
  let previous: number | undefined;
  for (let i = 0; i < 400; i++) {
    const [row] = await queryRows<{ id: number }>(
      db,
      "SELECT id FROM information_schema.processlist WHERE db = DATABASE() " +
        "AND id <> CONNECTION_ID() AND info LIKE 'insert into `table_customers`%'",
    );
    if (row && Number(row.id) === previous) return previous;
    previous = row ? Number(row.id) : undefined;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error("ingestBatch never waited for the locked customer");
}

/** A promise that never rejects, so that a failing test leaves nothing dangling. */
function settle<T>(promise: Promise<T>): Promise<{ value: T } | { error: unknown }> {
  return promise.then((value) => ({ value }), (error) => ({ error }));
}

async function outcome<T>(settled: Promise<{ value: T } | { error: unknown }>): Promise<T> {
  const result = await settled;
  if ("error" in result) throw result.error;
  return result.value;
}

Deno.test("ingestBatch() writes customers, orders, events, predictions and offsets", async () => {
  await withDatabase(async (db) => {
    const events = [
      event("e1"),
      event("e2", {
        customer_customer_id: "c-e1",
        coupon_code: "WELCOME",
        note: "what? ?? \\ 'single' \"double\" ünïcode 🚀 ; DROP TABLE x; --",
      }),
    ];
    const result = await ingestBatch(db, {
      ...batchOf(events, { probability: 0.75 }),
      offsets: [{ topic: "orders", partition: 2, nextOffset: 9007199254740993n }],
      sources: [{ topic: "orders", partition: 2, offset: 41n }, undefined],
    });
    assert.deepEqual(result, { inserted: ["e1", "e2"], duplicates: [] });
    assert.equal(await count(db, "table_customers"), 1);
    assert.equal(await count(db, "table_orders"), 2);
    const stored = await queryRows(
      db,
      "SELECT event_id, order_id, customer_customer_id, source_topic, source_partition, " +
        "source_offset, extra_fields FROM table_events ORDER BY event_id",
    );
    assert.deepEqual(
      stored.map((r) => [r.event_id, r.source_topic, r.source_partition, r.source_offset]),
      [["e1", "orders", 2, "41"], ["e2", null, null, null]],
    );
    // Only the keys without a column are kept, NULL when there are none.
    assert.equal(stored[0].extra_fields, null);
    assert.deepEqual(JSON.parse(String(stored[1].extra_fields)), {
      coupon_code: "WELCOME",
      note: "what? ?? \\ 'single' \"double\" ünïcode 🚀 ; DROP TABLE x; --",
    });
    const [prediction] = await queryRows(
      db,
      "SELECT * FROM table_predictions WHERE event_id = 'e2'",
    );
    assert.equal(prediction.return_proba, 0.75);
    assert.equal(prediction.model_version, "sha256:test");
    assert.equal(prediction.customer_customer_id, "c-e1");
    // BIGINT offsets beyond 2^53 survive exactly.
    assert.deepEqual(
      await storedOffsets(db, "group-a", "orders"),
      new Map([[2, 9007199254740993n]]),
    );
    assert.deepEqual(await storedOffsets(db, "group-b", "orders"), new Map());
    assert.deepEqual(await existingEventIds(db, ["e2", "nope", "e1", "e2"]), new Set(["e1", "e2"]));
  });
});

Deno.test("ingestBatch() with database.read_ahead stores the same, after lookups on its own connections", async () => {
  await ensureServices();
  const name = uniqueName("readahead");
  const config = await loadConfig(
    await writeTestConfig({ database: name, "database.read_ahead": 3 }),
  );
  assert.equal(config.database.readAhead, 3);
  const db = await openDatabase(config);
  const selects = async () => {
    const [row] = await queryRows<{ n: string }>(
      db,
      "SELECT VARIABLE_VALUE AS n FROM information_schema.GLOBAL_STATUS " +
        "WHERE VARIABLE_NAME = 'COM_SELECT'",
    );
    return Number(row.n);
  };
  try {
    // 1,100 events in slices of 250, 100 of them stored before: some lookups find rows.
    const events = Array.from(
      { length: 1100 },
      (_, i) => event(`ra-${i}`, { customer_customer_id: `c-${i % 300}` }),
    );
    await ingestBatch(db, batchOf(events.slice(0, 100)));
    const before = await selects();
    const result = await ingestBatch(db, {
      ...batchOf(events),
      offsets: [{ topic: "orders", partition: 0, nextOffset: 1100n }],
    });
    const lookups = await selects() - before;
    assert.equal(result.inserted.length, 1000);
    assert.equal(result.duplicates.length, 100);
    for (const table of ["table_events", "table_predictions", "table_orders"]) {
      assert.equal(await count(db, table), 1100, table);
    }
    assert.equal(await count(db, "table_customers"), 300);
    // Five slices: the writer's own duplicate checks and offset read are 6 SELECTs; each slice
    // adds one lookup per index (eight) at least, most of them on the readers' connections.
    assert.ok(lookups >= 6 + 5 * 8, `${lookups} SELECTs`);
  } finally {
    await db.close();
    await dropDatabase(name);
  }
});

Deno.test("ingestBatch() with duplicates skip leaves a stored event, its order, customer and prediction as they were", async () => {
  await withDatabase(async (db) => {
    await ingestBatch(db, batchOf([event("e1")], { probability: 0.1 }));
    const changed = event("e1", {
      customer_country: "DE",
      order_n_items: 9,
      order_device: "tablet",
      coupon_code: "LATE",
    });
    const result = await ingestBatch(db, batchOf([changed, event("e2")], { probability: 0.9 }));
    assert.deepEqual(result, { inserted: ["e2"], duplicates: ["e1"] });
    const [customer] = await queryRows(
      db,
      "SELECT * FROM table_customers WHERE customer_customer_id = 'c-e1'",
    );
    assert.equal(customer.customer_country, "FR");
    const [order] = await queryRows(db, "SELECT * FROM table_orders WHERE order_id = 'o-e1'");
    assert.equal(order.order_n_items, 3);
    assert.equal(order.order_device, "mobile");
    const [prediction] = await queryRows(
      db,
      "SELECT * FROM table_predictions WHERE event_id = 'e1'",
    );
    assert.equal(prediction.return_proba, 0.1);
    const [stored] = await queryRows(
      db,
      "SELECT extra_fields FROM table_events WHERE event_id = 'e1'",
    );
    assert.equal(stored.extra_fields, null);
    assert.equal(await count(db, "table_predictions"), 2);
  });
});

Deno.test("ingestBatch() with duplicates update overwrites the stored event, order, customer and prediction", async () => {
  await withDatabase(async (db) => {
    await ingestBatch(db, batchOf([event("e1", { coupon_code: "FIRST" })], { probability: 0.1 }));
    const changed = event("e1", {
      customer_country: "DE",
      order_n_items: 9,
      order_is_returned: true,
      gift_wrap: true,
      event_time: new Date("2026-02-03T00:00:00Z"),
    });
    const result = await ingestBatch(
      db,
      batchOf([changed, event("e2")], { probability: 0.9, duplicates: "update" }),
    );
    assert.deepEqual(result, { inserted: ["e2"], duplicates: ["e1"] });
    const [customer] = await queryRows(
      db,
      "SELECT * FROM table_customers WHERE customer_customer_id = 'c-e1'",
    );
    assert.equal(customer.customer_country, "DE");
    const [order] = await queryRows(db, "SELECT * FROM table_orders WHERE order_id = 'o-e1'");
    assert.equal(order.order_n_items, 9);
    assert.equal(order.order_is_returned, 1);
    const [stored] = await queryRows(
      db,
      "SELECT CAST(event_time AS CHAR) AS t, extra_fields FROM table_events WHERE event_id = 'e1'",
    );
    assert.equal(stored.t, "2026-02-03 00:00:00.000");
    // The new version's extra fields replace the old ones (coupon_code is gone).
    assert.deepEqual(JSON.parse(String(stored.extra_fields)), { gift_wrap: true });
    const [prediction] = await queryRows(
      db,
      "SELECT * FROM table_predictions WHERE event_id = 'e1'",
    );
    assert.equal(prediction.return_proba, 0.9);
  });
});

Deno.test("ingestBatch() keeps the first of an event_id repeated in a batch with skip, the last with update", async () => {
  await withDatabase(async (db) => {
    const first = event("e1", { order_n_items: 1 });
    const second = event("e1", { order_n_items: 2 });
    const skip = await ingestWithRepeats(db, [first, event("e2"), second]);
    assert.deepEqual(skip, { inserted: ["e1", "e2"], duplicates: ["e1"] });
    const [kept] = await queryRows(
      db,
      "SELECT order_n_items AS n FROM table_orders WHERE order_id = 'o-e1'",
    );
    assert.equal(kept.n, 1);

    const update = await ingestWithRepeats(
      db,
      [event("e3", { order_n_items: 1 }), event("e3", { order_n_items: 2 })],
      { duplicates: "update" },
    );
    assert.deepEqual(update, { inserted: ["e3"], duplicates: ["e3"] });
    const [last] = await queryRows(
      db,
      "SELECT order_n_items AS n FROM table_orders WHERE order_id = 'o-e3'",
    );
    assert.equal(last.n, 2);
    assert.equal(await count(db, "table_events"), 3);
  });
});

Deno.test("ingestBatch() writes rows and offsets together or not at all", async () => {
  await withDatabase(async (db) => {
    await ingestBatch(db, {
      ...batchOf([event("e0")]),
      offsets: [{ topic: "orders", partition: 0, nextOffset: 1n }],
    });
    // The offsets are the last statement: its failure must take the rows with it.
    const failing = {
      ...batchOf([event("e1"), event("e2")]),
      offsets: [{ topic: "orders", partition: 0, nextOffset: 99999999999999999999n }],
    };
    await assert.rejects(ingestBatch(db, failing), /Cannot ingest batch of 2 event\(s\)/);
    assert.deepEqual(await existingEventIds(db, ["e1", "e2"]), new Set());
    assert.equal(await count(db, "table_customers"), 1);
    assert.equal(await count(db, "table_orders"), 1);
    assert.equal(await count(db, "table_predictions"), 1);
    assert.deepEqual(await storedOffsets(db, "group-a", "orders"), new Map([[0, 1n]]));
  });
});

Deno.test("ingestBatch() stores the offsets of a batch without events", async () => {
  await withDatabase(async (db) => {
    const result = await ingestBatch(db, {
      ...batchOf([]),
      offsets: [
        { topic: "orders", partition: 0, nextOffset: 17n },
        { topic: "orders", partition: 1, nextOffset: 4n },
      ],
    });
    assert.deepEqual(result, { inserted: [], duplicates: [] });
    await ingestBatch(db, {
      ...batchOf([]),
      offsets: [{ topic: "orders", partition: 0, nextOffset: 0n }],
    });
    // Overwritten, not maximised: the topic may have been deleted and created again.
    assert.deepEqual(
      await storedOffsets(db, "group-a", "orders"),
      new Map([[0, 0n], [1, 4n]]),
    );
  });
});

Deno.test("ingestBatch() splits a batch bigger than the server's packet limit", async () => {
  await withDatabase(async (db) => {
    const [limit] = await queryRows<{ max: number }>(db, "SELECT @@max_allowed_packet AS max");
    const note = "x".repeat(60_000);
    const size = Math.ceil(Number(limit.max) / note.length) + 10;
    const events = Array.from({ length: size }, (_, i) => event(`big${i}`, { note }));
    const result = await ingestBatch(db, batchOf(events));
    assert.equal(result.inserted.length, size);
    const [total] = await queryRows<{ bytes: number }>(
      db,
      "SELECT SUM(LENGTH(extra_fields)) AS bytes FROM table_events",
    );
    assert.ok(Number(total.bytes) > Number(limit.max));
  });
});

Deno.test("ingestBatch() refuses an event_id given twice, before writing anything", async () => {
  await withDatabase(async (db) => {
    await assert.rejects(
      ingestBatch(db, batchOf([event("e1"), event("e2"), event("e1")])),
      /event_id "e1" appears twice/,
    );
    assert.equal(await count(db, "table_customers"), 0);
  });
});

Deno.test("ingestBatch() refuses a batch whose lengths disagree, before writing anything", async () => {
  await withDatabase(async (db) => {
    const batch = { ...batchOf([event("e1"), event("e2")]), probabilities: new Float64Array(1) };
    await assert.rejects(ingestBatch(db, batch), /2 events, 2 extra fields and 1 probabilities/);
    assert.equal(await count(db, "table_customers"), 0);
  });
});

Deno.test("concurrent ingestBatch() calls insert each event_id exactly once", async () => {
  await withDatabase(async (db) => {
    const ids = (from: number, to: number) =>
      Array.from({ length: to - from }, (_, i) => `e${String(from + i).padStart(4, "0")}`);
    // Three batches overlap pairwise; customers are shared across all of them.
    const batches = [ids(0, 400), ids(200, 600), ids(100, 500)].map((list) =>
      batchOf(list.map((id, i) => event(id, { customer_customer_id: `c${i % 7}` })))
    );
    const results = await Promise.all(batches.map((b) => ingestBatch(db, b)));
    const inserted = results.flatMap((r) => r.inserted);
    assert.equal(inserted.length, 600, "every event inserted once");
    assert.deepEqual(new Set(inserted), new Set(ids(0, 600)));
    for (const [i, r] of results.entries()) {
      assert.equal(r.inserted.length + r.duplicates.length, batches[i].events.length);
    }
    assert.equal(await count(db, "table_events"), 600);
    assert.equal(await count(db, "table_predictions"), 600);
  });
});

Deno.test("ingestBatch() retries the whole transaction after a deadlock", async () => {
  const retried: unknown[] = [];
  await withDatabase(async (db) => {
    await ingestBatch(db, batchOf([event("e1"), event("e2")]));
    const other = await connect(db);
    try {
      await other.query("BEGIN");
      // Many written rows make the other transaction the heavier one: InnoDB then picks
      // ingestBatch's transaction as the deadlock victim.
      const values = Array.from({ length: 2000 }, (_, i) => `('heavy', 't', ${i}, 0)`).join(",");
      await other.query(
        `INSERT INTO pipeline_offsets (consumer_group, topic, partition_id, next_offset) VALUES ${values}`,
      );
      await other.query(
        "SELECT * FROM table_customers WHERE customer_customer_id = 'c-e2' FOR UPDATE",
      );
      // ingestBatch upserts c-e1 then c-e2 (sorted): it holds c-e1 and waits for c-e2.
      const ingesting = settle(ingestBatch(
        db,
        batchOf([
          event("e3", { customer_customer_id: "c-e2" }),
          event("e4", { customer_customer_id: "c-e1" }),
        ]),
      ));
      await blockedUpsert(db);
      await other.query(
        "SELECT * FROM table_customers WHERE customer_customer_id = 'c-e1' FOR UPDATE",
      );
      await other.query("COMMIT");
      assert.deepEqual(await outcome(ingesting), { inserted: ["e3", "e4"], duplicates: [] });
    } finally {
      await other.end();
    }
    assert.ok(retried.some((e) => errorNumber(e) === 1213), `retries: ${retried.map(String)}`);
    assert.equal(await count(db, "table_events"), 4);
  }, { onRetry: (error) => retried.push(error) });
});

Deno.test("ingestBatch() retries the whole transaction after its connection is killed", async () => {
  const retried: unknown[] = [];
  await withDatabase(async (db) => {
    await ingestBatch(db, batchOf([event("e1")]));
    const other = await connect(db);
    try {
      await other.query("BEGIN");
      await other.query(
        "SELECT * FROM table_customers WHERE customer_customer_id = 'c-e1' FOR UPDATE",
      );
      const ingesting = settle(ingestBatch(
        db,
        batchOf([event("e2"), event("e3", { customer_customer_id: "c-e1" })]),
      ));
      const victim = await blockedUpsert(db);
      await other.query(`KILL CONNECTION ${victim}`);
      for (let i = 0; i < 200 && !retried.length; i++) {
        await new Promise((resolve) => setTimeout(resolve, 25));
      }
      await other.query("ROLLBACK");
      assert.deepEqual(await outcome(ingesting), { inserted: ["e2", "e3"], duplicates: [] });
    } finally {
      await other.end();
    }
    assert.ok(retried.length >= 1);
    assert.equal(await count(db, "table_events"), 3);
    assert.equal(await count(db, "table_predictions"), 3);
  }, { onRetry: (error) => retried.push(error) });
});

const mariadbd = "/usr/sbin/mariadbd";
const installDb = "/usr/bin/mariadb-install-db";
const canRunOwnServer = [mariadbd, installDb].every((path) => {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
});

/** A private MariaDB server (own data folder and port) that a test may stop and start. */
async function privateServer() {
  const dir = await Deno.makeTempDir({ prefix: "mariadb_test_" });
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  const install = await new Deno.Command(installDb, {
    args: [
      "--no-defaults",
      `--datadir=${dir}/data`,
      "--user=root",
      "--auth-root-authentication-method=normal",
      "--skip-test-db",
    ],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!install.success) throw new Error(new TextDecoder().decode(install.stderr));
  let child: Deno.ChildProcess | undefined;
  const start = async () => {
    child = new Deno.Command(mariadbd, {
      args: [
        "--no-defaults",
        `--datadir=${dir}/data`,
        `--port=${port}`,
        "--bind-address=127.0.0.1",
        `--socket=${dir}/socket`,
        `--pid-file=${dir}/pid`,
        "--user=root",
        "--innodb-buffer-pool-size=32M",
      ],
      stdout: "null",
      stderr: "null",
    }).spawn();
    for (let i = 0; i < 300; i++) {
      try {
        (await Deno.connect({ hostname: "127.0.0.1", port })).close();
        return;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
    throw new Error(`Cannot start a private MariaDB on port ${port}`);
  };
  const stop = async () => {
    if (!child) return;
    child.kill("SIGTERM");
    await child.status;
    child = undefined;
  };
  await start();
  return {
    url: `mysql://root@127.0.0.1:${port}/restart_test`,
    start,
    stop,
    async remove() {
      await stop();
      await Deno.remove(dir, { recursive: true });
    },
  };
}

Deno.test({
  name: "ingestBatch() waits out a database that stops and comes back",
  ignore: !canRunOwnServer,
  fn: async () => {
    const server = await privateServer();
    try {
      const base = await loadConfig(await writeTestConfig({ database: "restart_test" }));
      const config = { ...base, database: { ...base.database, url: server.url } };
      const retried: unknown[] = [];
      const db = await openDatabase(config, {
        retry: { retryForMs: 60_000 },
        onRetry: (error) => retried.push(error),
      });
      try {
        await ingestBatch(db, batchOf([event("e1")]));
        await server.stop();
        let done = false;
        const ingesting = settle(
          ingestBatch(db, batchOf([event("e2"), event("e3")])).finally(() => done = true),
        );
        for (let i = 0; i < 200 && retried.length < 3; i++) {
          await new Promise((resolve) => setTimeout(resolve, 25));
        }
        assert.ok(retried.length >= 3, "retried while the database was down");
        assert.ok(!done, "still waiting while the database is down");
        await server.start();
        assert.deepEqual(await outcome(ingesting), { inserted: ["e2", "e3"], duplicates: [] });
        assert.equal(await count(db, "table_events"), 3);
        assert.ok(retried.every((e) => isTransientError(e)));
      } finally {
        await db.close();
      }
    } finally {
      await server.remove();
    }
  },
});
