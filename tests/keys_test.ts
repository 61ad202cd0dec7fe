/**
 * The key columns: migration 0003_lean_keys (NO PAD keys, only the indexes a foreign key
 * needs, one foreign key from a prediction to its event's three keys) and database.key_type
 * (text or MariaDB's UUID type), against the real MariaDB.
 */
import assert from "assert";
import { loadConfig, type PipelineConfig } from "../lib/config/mod.ts";
import { UserError } from "../lib/errors/mod.ts";
import {
  applyKeyType,
  applyMigrations,
  type Database,
  ingestBatch,
  liveSchema,
  MIGRATIONS_FOLDER,
  pipelineSchema,
  storedKeyType,
  storeShadowPredictions,
} from "../lib/db/mod.ts";
import { validateMessage, type ValidEvent } from "../lib/events/mod.ts";
import { compareSchemas } from "../lib/check/mod.ts";
import { withTestDatabase } from "./_database.ts";
import { queryRows } from "./_sql.ts";
import { writeTestConfig } from "./_helpers.ts";
import { orderOf, validEvent } from "./_fixtures.ts";

function withDatabase(
  run: (db: Database, config: PipelineConfig) => Promise<void>,
  options: { migrate?: boolean } = {},
): Promise<void> {
  return withTestDatabase("keystest", run, options);
}

function batchOf(events: ValidEvent[], duplicates: "skip" | "update" = "skip") {
  return {
    events: events.map(orderOf),
    extraFields: events.map(() => null),
    probabilities: new Float64Array(events.length).fill(0.25),
    modelVersion: "sha256:test",
    offsets: [],
    consumerGroup: "g",
    duplicates,
  };
}

async function count(db: Database, table: string): Promise<number> {
  const [row] = await queryRows<{ n: number }>(db, `SELECT COUNT(*) AS n FROM ${table}`);
  return Number(row.n);
}

async function foreignKeys(db: Database): Promise<string[]> {
  const rows = await queryRows<{ name: string; rule: string }>(
    db,
    "SELECT CONSTRAINT_NAME AS name, UPDATE_RULE AS rule FROM " +
      "information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE() ORDER BY 1",
  );
  return rows.map((r) => `${r.name} ${r.rule}`);
}

async function indexes(db: Database): Promise<string[]> {
  const rows = await queryRows<{ name: string }>(
    db,
    "SELECT CONCAT(TABLE_NAME, '.', INDEX_NAME, '(', " +
      "GROUP_CONCAT(COLUMN_NAME ORDER BY SEQ_IN_INDEX), ')') AS name " +
      "FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = DATABASE() " +
      "AND TABLE_NAME LIKE 'table\\_%' GROUP BY TABLE_NAME, INDEX_NAME",
  );
  return rows.map((r) => r.name).sort();
}

/** Brings a database to the migrations before 0003, as drizzle records them. */
async function migrateTo0002(db: Database): Promise<void> {
  const folder = await Deno.makeTempDir({ prefix: "migrations_0002_" });
  try {
    await Deno.mkdir(`${folder}/meta`);
    for (const file of ["0000_init.sql", "0001_extra_fields.sql", "0002_shadow_and_rescore.sql"]) {
      await Deno.copyFile(`${MIGRATIONS_FOLDER}/${file}`, `${folder}/${file}`);
    }
    const journal = JSON.parse(Deno.readTextFileSync(`${MIGRATIONS_FOLDER}/meta/_journal.json`));
    journal.entries = journal.entries.slice(0, 3);
    await Deno.writeTextFile(`${folder}/meta/_journal.json`, JSON.stringify(journal));
    assert.equal((await applyMigrations(db, { folder })).length, 3);
  } finally {
    await Deno.remove(folder, { recursive: true });
  }
}

const EXPECTED_FKS = [
  "fk_events_customer NO ACTION",
  "fk_events_order NO ACTION",
  "fk_orders_customer NO ACTION",
  "fk_predictions_event CASCADE",
  "fk_shadow_predictions_event NO ACTION",
];

const EXPECTED_INDEXES = [
  "table_customers.PRIMARY(customer_customer_id)",
  "table_events.PRIMARY(event_id)",
  "table_events.ix_events_customer(customer_customer_id)",
  "table_events.ix_events_order(order_id)",
  "table_events.ux_events_keys(event_id,order_id,customer_customer_id)",
  "table_orders.PRIMARY(order_id)",
  "table_orders.ix_orders_customer(customer_customer_id)",
  "table_predictions.PRIMARY(event_id,order_id,customer_customer_id)",
  "table_shadow_predictions.PRIMARY(event_id)",
].sort();

Deno.test("0003_lean_keys upgrades a database holding events in place, resumed after any statement", async () => {
  const statements = Deno.readTextFileSync(`${MIGRATIONS_FOLDER}/0003_lean_keys.sql`)
    .split("--> statement-breakpoint").map((s) => s.trim()).filter(Boolean);
  // k = 0: a database at 0002 migrates; k > 0: the first k statements ran, unrecorded.
  for (let k = 0; k <= statements.length; k++) {
    await withDatabase(async (db) => {
      await migrateTo0002(db);
      await ingestBatch(db, batchOf([validEvent("e1"), validEvent("e2")]));
      await storeShadowPredictions(db, [{ eventId: "e1", probability: 0.5, modelVersion: "s" }]);
      for (const statement of statements.slice(0, k)) await queryRows(db, statement);

      assert.deepEqual(await applyMigrations(db), ["0003_lean_keys"], `after ${k} statement(s)`);
      assert.deepEqual(await foreignKeys(db), EXPECTED_FKS, `after ${k} statement(s)`);
      assert.deepEqual(await indexes(db), EXPECTED_INDEXES, `after ${k} statement(s)`);
      const collations = await queryRows<{ c: string }>(
        db,
        "SELECT DISTINCT COLLATION_NAME AS c FROM information_schema.COLUMNS " +
          "WHERE TABLE_SCHEMA = DATABASE() AND COLUMN_NAME IN " +
          "('event_id', 'order_id', 'customer_customer_id')",
      );
      assert.deepEqual(collations.map((r) => r.c), ["utf8mb4_nopad_bin"]);
      assert.equal(await count(db, "table_shadow_predictions"), 1);
      assert.deepEqual(
        compareSchemas(pipelineSchema(), await liveSchema(db), {}),
        [],
        `after ${k} statement(s)`,
      );
      const rows = await queryRows<{ id: string; order: string }>(
        db,
        "SELECT event_id AS id, order_id AS `order` FROM table_predictions ORDER BY event_id",
      );
      assert.deepEqual(rows, [{ id: "e1", order: "o-e1" }, { id: "e2", order: "o-e2" }]);
      assert.equal(await count(db, "table_events"), 2);
      assert.deepEqual(await applyMigrations(db), []);
    }, { migrate: false });
  }
});

Deno.test("keys compare byte for byte, trailing spaces included", async () => {
  await withDatabase(async (db) => {
    const result = await ingestBatch(
      db,
      batchOf([
        validEvent("a1", { order_id: "o1", customer_customer_id: "c1" }),
        validEvent("a1 ", { order_id: "o1 ", customer_customer_id: "c1 " }),
        validEvent("A1"),
      ]),
    );
    assert.deepEqual(result, { inserted: ["a1", "a1 ", "A1"], duplicates: [] });
    assert.equal(await count(db, "table_events"), 3);
    assert.equal(await count(db, "table_orders"), 3);
    assert.equal(await count(db, "table_customers"), 3);
    const again = await ingestBatch(db, batchOf([validEvent("a1 ")]));
    assert.deepEqual(again, { inserted: [], duplicates: ["a1 "] });
  });
});

Deno.test("a prediction's order and customer are its event's, and follow it", async () => {
  await withDatabase(async (db) => {
    await ingestBatch(db, batchOf([validEvent("e1"), validEvent("e2")]));
    // An order that exists, but not the event's: refused.
    await assert.rejects(
      queryRows(
        db,
        "INSERT INTO table_predictions (event_id, order_id, customer_customer_id, return_proba, " +
          "model_version) VALUES ('e1', 'o-e2', 'c-e1', 0.5, 'v')",
      ),
      (error: { code: string }) => error.code === "ER_NO_REFERENCED_ROW_2",
    );
    // A second prediction for an event is impossible: its keys are the event's.
    await assert.rejects(
      queryRows(
        db,
        "INSERT INTO table_predictions (event_id, order_id, customer_customer_id, return_proba, " +
          "model_version) VALUES ('e1', 'o-e1', 'c-e1', 0.5, 'v')",
      ),
      (error: { code: string }) => error.code === "ER_DUP_ENTRY",
    );
    // duplicates: update moves the event to another order: its prediction follows.
    const moved = validEvent("e1", { order_id: "o-e2", customer_customer_id: "c-e2" });
    const probabilities = new Float64Array([0.75]);
    await ingestBatch(db, { ...batchOf([moved], "update"), probabilities });
    const [row] = await queryRows<Record<string, unknown>>(
      db,
      "SELECT order_id, customer_customer_id, return_proba FROM table_predictions " +
        "WHERE event_id = 'e1'",
    );
    assert.deepEqual(row, { order_id: "o-e2", customer_customer_id: "c-e2", return_proba: 0.75 });
    assert.equal(await count(db, "table_predictions"), 2);
    // The order an event refers to cannot go away.
    await assert.rejects(
      queryRows(db, "DELETE FROM table_orders WHERE order_id = 'o-e2'"),
      (error: { code: string }) => error.code === "ER_ROW_IS_REFERENCED_2",
    );
  });
});

const uuid = (n: number) =>
  `${n.toString(16).padStart(8, "0")}-0000-4000-8000-00000000000${n % 10}`;

Deno.test("database.key_type uuid converts the tables in place, and text converts them back", async () => {
  await withDatabase(async (db) => {
    const ids = [1, 2, 3].map(uuid);
    const keyed = (id: string) =>
      validEvent(id, { order_id: id.replace(/^0/, "a"), customer_customer_id: uuid(9) });
    await ingestBatch(db, batchOf(ids.slice(0, 2).map(keyed)));
    await storeShadowPredictions(db, [{ eventId: ids[0], probability: 0.5, modelVersion: "s" }]);
    assert.equal(await storedKeyType(db), "text");

    assert.equal(await applyKeyType(db, "uuid"), true);
    assert.equal(await storedKeyType(db), "uuid");
    assert.equal(await applyKeyType(db, "uuid"), false, "nothing left to convert");
    assert.deepEqual(await foreignKeys(db), EXPECTED_FKS);
    assert.deepEqual(await indexes(db), EXPECTED_INDEXES);
    // What deno task check compares: UUID key columns, the rest as the migrations made it.
    assert.deepEqual(compareSchemas(pipelineSchema("uuid"), await liveSchema(db), {}), []);
    assert.ok(compareSchemas(pipelineSchema("text"), await liveSchema(db), {}).length > 0);
    // The same write path; ids come back in their text form; duplicates are still found.
    const result = await ingestBatch(db, batchOf(ids.map(keyed)));
    assert.deepEqual(result, { inserted: [ids[2]], duplicates: ids.slice(0, 2) });
    const latest = `SELECT event_id, order_id, customer_customer_id, return_proba
FROM table_predictions
ORDER BY event_id DESC
LIMIT 10;`;
    const found = await queryRows<Record<string, unknown>>(db, latest);
    assert.deepEqual(found.map((r) => r.event_id).sort(), ids);
    assert.equal(found.find((r) => r.event_id === ids[0])?.customer_customer_id, uuid(9));
    const [plan] = await queryRows<{ key: string; Extra: string }>(db, `EXPLAIN ${latest}`);
    assert.equal(plan.key, "PRIMARY");
    assert.ok(!/filesort/i.test(plan.Extra ?? ""), plan.Extra);
    await assert.rejects(
      queryRows(db, "INSERT INTO table_customers (customer_customer_id) VALUES ('c1')"),
      /Incorrect uuid value/,
    );

    assert.equal(await applyKeyType(db, "text"), true);
    assert.equal(await storedKeyType(db), "text");
    assert.deepEqual(await foreignKeys(db), EXPECTED_FKS);
    assert.equal(await count(db, "table_predictions"), 3);
    assert.equal(await count(db, "table_shadow_predictions"), 1);
    assert.deepEqual(compareSchemas(pipelineSchema(), await liveSchema(db), {}), []);
    const [first] = await queryRows<{ id: string }>(
      db,
      "SELECT event_id AS id FROM table_events ORDER BY event_id LIMIT 1",
    );
    assert.equal(first.id, ids[0]);
  });
});

Deno.test("database.key_type uuid refuses a database holding ids that are not UUIDs", async () => {
  await withDatabase(async (db) => {
    await ingestBatch(db, batchOf([validEvent(uuid(1)), validEvent("e2")]));
    await assert.rejects(
      applyKeyType(db, "uuid"),
      (error: Error) =>
        error instanceof UserError &&
        /table_customers\.customer_customer_id holds 2 value\(s\) that are not UUIDs, such as "c-/
          .test(error.message),
    );
    assert.equal(await storedKeyType(db), "text");
    assert.deepEqual(await foreignKeys(db), EXPECTED_FKS, "nothing was changed");
  });
});

Deno.test("database.key_type uuid: ids must be UUIDs, and are lower-cased", async () => {
  const config = await loadConfig(await writeTestConfig());
  {
    const uuidConfig = { ...config, database: { ...config.database, keyType: "uuid" as const } };
    const message = (ids: Record<string, string>) =>
      new TextEncoder().encode(JSON.stringify({
        event_id: uuid(1),
        order_id: uuid(2),
        customer_customer_id: uuid(3),
        ...ids,
      }));
    const now = new Date();
    assert.deepEqual(validateMessage(message({ order_id: "o1" }), uuidConfig, now), {
      ok: false,
      reason: 'not a UUID: "o1" (database.key_type is uuid; set it to text to store other ids)',
      field: "order_id",
    });
    const upper = validateMessage(message({ event_id: uuid(1).toUpperCase() }), uuidConfig, now);
    assert.ok(upper.ok);
    assert.equal(upper.event.event_id, uuid(1));
    const text = validateMessage(message({ order_id: "o1" }), config, now);
    assert.ok(text.ok, "text keys take any id");
  }
});
