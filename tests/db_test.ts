import assert from "assert";
import { loadConfig, type PipelineConfig } from "../lib/config/mod.ts";
import { retry, UserError } from "../lib/errors/mod.ts";
import {
  applyMigrations,
  classifyDatabaseError,
  type Database,
  isTransientError,
  memoryFit,
  MIGRATIONS_FOLDER,
  migrationStatus,
  openDatabase,
  parseDatabaseUrl,
  sessionTimeZone,
} from "../lib/db/mod.ts";
import { ingestBatch } from "../lib/db/mod.ts";
import type { ValidEvent } from "../lib/events/mod.ts";
import { dropDatabase, runEntry, uniqueName, writeTestConfig } from "./_helpers.ts";
import { ensureServices } from "./_services.ts";
import { withTestDatabase } from "./_database.ts";
import { queryRows } from "./_sql.ts";
import { guideEvent, orderOf, validEvent } from "./_fixtures.ts";

/** A config of its own database; `run` gets it open and the database is dropped after. */
function withDatabase(
  run: (db: Database, config: PipelineConfig, name: string) => Promise<void>,
  options: { migrate?: boolean } = {},
): Promise<void> {
  return withTestDatabase("dbtest", run, options);
}

function event(id: string, overrides: Record<string, ValidEvent[string]> = {}): ValidEvent {
  return validEvent(id, { event_time: new Date("2026-02-02T10:00:00.123Z"), ...overrides });
}

function batchOf(events: ValidEvent[], probability = 0.25) {
  return {
    events: events.map(orderOf),
    // Guide events only: every key has a column.
    extraFields: events.map(() => null),
    probabilities: new Float64Array(events.length).fill(probability),
    modelVersion: "sha256:test",
    offsets: [],
    consumerGroup: "g",
    duplicates: "skip" as const,
  };
}

Deno.test("parseDatabaseUrl() reads mysql:// and mariadb:// URLs and masks the password", () => {
  const target = parseDatabaseUrl("mariadb://app:s%40cret@db.example:3307/shop");
  assert.deepEqual(
    { ...target },
    {
      host: "db.example",
      port: 3307,
      user: "app",
      password: "s@cret",
      database: "shop",
      display: "mariadb://app:****@db.example:3307/shop",
    },
  );
  assert.equal(parseDatabaseUrl("mysql://127.0.0.1/x").port, 3306);
  assert.equal(parseDatabaseUrl("mysql://127.0.0.1/x").user, "root");
});

Deno.test("parseDatabaseUrl() rejects a bad database name, query parameters and other schemes", () => {
  for (
    const url of [
      "mysql://u:pw@h/bad`name",
      "mysql://u:pw@h/db?ssl=true",
      "postgres://u:pw@h/db",
      "mysql://u:pw@h/",
    ]
  ) {
    assert.throws(() => parseDatabaseUrl(url), (error: Error) => {
      assert.ok(error instanceof UserError, url);
      assert.equal(error.exitCode, 2);
      assert.ok(!error.message.includes("pw@"), `password shown: ${error.message}`);
      return true;
    });
  }
});

Deno.test("isTransientError() retries deadlocks, lock waits and lost connections only", () => {
  const transient = [
    { errno: 1213, code: "ER_LOCK_DEADLOCK" },
    { errno: 1205, code: "ER_LOCK_WAIT_TIMEOUT" },
    { errno: 1053, code: "ER_SERVER_SHUTDOWN" },
    { errno: 2013 },
    { errno: 2006 },
    { code: "ECONNREFUSED" },
    { code: "PROTOCOL_CONNECTION_LOST", fatal: true },
    { fatal: true, message: "Can't add new command when connection is in closed state" },
    new Error("Cannot ingest batch", { cause: { errno: 1213 } }),
  ];
  for (const error of transient) assert.ok(isTransientError(error), JSON.stringify(error));
  const permanent = [
    { errno: 1452, code: "ER_NO_REFERENCED_ROW_2" },
    { errno: 1062, code: "ER_DUP_ENTRY" },
    { errno: 1406, code: "ER_DATA_TOO_LONG" },
    { errno: 1045, code: "ER_ACCESS_DENIED_ERROR", fatal: true },
    new Error("plain"),
    undefined,
  ];
  for (const error of permanent) assert.ok(!isTransientError(error), JSON.stringify(error));
});

Deno.test("classifyDatabaseError() tells failures that may pass from data errors", () => {
  const transient = [
    { code: "ECONNREFUSED" },
    { code: "ECONNRESET" },
    { code: "PROTOCOL_CONNECTION_LOST", fatal: true },
    { errno: 2006, code: "CR_SERVER_GONE_ERROR" },
    { errno: 2013, code: "CR_SERVER_LOST" },
    { errno: 1213, code: "ER_LOCK_DEADLOCK" },
    { errno: 1205, code: "ER_LOCK_WAIT_TIMEOUT" },
    { errno: 1053, code: "ER_SERVER_SHUTDOWN" },
    { errno: 1040, code: "ER_CON_COUNT_ERROR" },
    new Error("Cannot ingest batch", {
      cause: new Error("Failed query", { cause: { errno: 1213 } }),
    }),
  ];
  for (const error of transient) {
    assert.equal(classifyDatabaseError(error), "transient", JSON.stringify(error));
  }
  const permanent = [
    { errno: 1062, code: "ER_DUP_ENTRY" },
    { errno: 1406, code: "ER_DATA_TOO_LONG" },
    { errno: 1366, code: "ER_TRUNCATED_WRONG_VALUE_FOR_FIELD" },
    { errno: 1292, code: "ER_TRUNCATED_WRONG_VALUE" },
    { errno: 1452, code: "ER_NO_REFERENCED_ROW_2" },
    { errno: 1451, code: "ER_ROW_IS_REFERENCED_2" },
    { errno: 1264, code: "ER_WARN_DATA_OUT_OF_RANGE" },
    { errno: 1146, code: "ER_NO_SUCH_TABLE" },
    new Error("plain"),
  ];
  for (const error of permanent) {
    assert.equal(classifyDatabaseError(error), "permanent", JSON.stringify(error));
  }
});

Deno.test("retry() with isTransientError retries a transient failure with backoff and gives up after its time", async () => {
  const policy = {
    retryForMs: 200,
    initialDelayMs: 5,
    maxDelayMs: 20,
    retryable: isTransientError,
  };
  let calls = 0;
  const value = await retry(() => {
    calls++;
    if (calls < 3) return Promise.reject({ errno: 1213 });
    return Promise.resolve("done");
  }, policy);
  assert.equal(value, "done");
  assert.equal(calls, 3);

  calls = 0;
  await assert.rejects(
    retry(() => {
      calls++;
      return Promise.reject({ code: "ECONNREFUSED" });
    }, policy),
    (error: { code: string }) => error.code === "ECONNREFUSED",
  );
  assert.ok(calls > 3, `only ${calls} attempts`);

  calls = 0;
  await assert.rejects(retry(() => {
    calls++;
    return Promise.reject({ errno: 1452 });
  }, policy));
  assert.equal(calls, 1, "a foreign-key error is not retried");
});

Deno.test("openDatabase() creates the database, and migrations run twice are idempotent", async () => {
  await withDatabase(async (db, _config, name) => {
    const [schema] = await queryRows<{ cs: string }>(
      db,
      "SELECT default_character_set_name AS cs FROM information_schema.schemata WHERE schema_name = ?",
      [name],
    );
    assert.equal(schema.cs, "utf8mb4");
    const tables = (await queryRows<{ t: string }>(
      db,
      "SELECT table_name AS t FROM information_schema.tables WHERE table_schema = ? ORDER BY 1",
      [name],
    )).map((r) => r.t).sort();
    assert.deepEqual(tables, [
      "__drizzle_migrations",
      "pipeline_offsets",
      "pipeline_rescore_runs",
      "table_customers",
      "table_events",
      "table_orders",
      "table_predictions",
      "table_shadow_predictions",
    ]);
    assert.deepEqual(await applyMigrations(db), [], "second run applies nothing");
    const status = await migrationStatus(db);
    assert.ok(status.length >= 1 && status.every((m) => m.applied));
    assert.equal((await queryRows(db, "SELECT * FROM __drizzle_migrations")).length, status.length);
  });
});

Deno.test("openDatabase() resumes a migration interrupted half-way", async () => {
  await withDatabase(async (db) => {
    // Replay what an interrupted first run leaves: some tables, some foreign keys, no record.
    const statements = Deno.readTextFileSync(`${MIGRATIONS_FOLDER}/0000_init.sql`)
      .split("--> statement-breakpoint").map((s) => s.trim()).filter(Boolean);
    const half = statements.findIndex((s) => s.startsWith("CREATE INDEX")) - 2;
    assert.ok(half > 5, "the migration creates tables, then foreign keys, then indexes");
    for (const statement of statements.slice(0, half)) await queryRows(db, statement);

    assert.deepEqual(await applyMigrations(db), [
      "0000_init",
      "0001_extra_fields",
      "0002_shadow_and_rescore",
      "0003_lean_keys",
    ]);
    const fks = await queryRows<{ name: string }>(
      db,
      "SELECT constraint_name AS name FROM information_schema.referential_constraints " +
        "WHERE constraint_schema = DATABASE() ORDER BY 1",
    );
    assert.deepEqual(fks.map((r) => r.name), [
      "fk_events_customer",
      "fk_events_order",
      "fk_orders_customer",
      "fk_predictions_event",
      "fk_shadow_predictions_event",
    ]);
    const indexes = await queryRows<{ name: string }>(
      db,
      "SELECT DISTINCT index_name AS name FROM information_schema.statistics " +
        "WHERE table_schema = DATABASE() AND index_name LIKE 'ix\\_%' ORDER BY 1",
    );
    assert.equal(indexes.length, 3);
    assert.deepEqual(await applyMigrations(db), []);
  }, { migrate: false });
});

/** The statements of one migration file, as drizzle splits them. */
function migrationStatements(file: string): string[] {
  return Deno.readTextFileSync(`${MIGRATIONS_FOLDER}/${file}`)
    .split("--> statement-breakpoint").map((s) => s.trim()).filter(Boolean);
}

/** Brings a database to 0000_init as drizzle records it, as a database created before 0001. */
async function migrateToInit(db: Database): Promise<void> {
  const folder = await Deno.makeTempDir({ prefix: "migrations_0000_" });
  try {
    await Deno.mkdir(`${folder}/meta`);
    await Deno.copyFile(`${MIGRATIONS_FOLDER}/0000_init.sql`, `${folder}/0000_init.sql`);
    const journal = JSON.parse(Deno.readTextFileSync(`${MIGRATIONS_FOLDER}/meta/_journal.json`));
    journal.entries = journal.entries.slice(0, 1);
    await Deno.writeTextFile(`${folder}/meta/_journal.json`, JSON.stringify(journal));
    assert.deepEqual(await applyMigrations(db, { folder }), ["0000_init"]);
  } finally {
    await Deno.remove(folder, { recursive: true });
  }
}

Deno.test("0001_extra_fields keeps the keys without a column of stored events, resumed after any statement", async () => {
  const statements = migrationStatements("0001_extra_fields.sql");
  assert.ok(statements.at(-1)!.includes("DROP COLUMN `payload`"), "payload is dropped last");
  // k = 0: a database at 0000 migrates; k > 0: the first k statements ran, unrecorded.
  for (let k = 0; k <= statements.length; k++) {
    await withDatabase(async (db) => {
      await migrateToInit(db);
      const plain = { ...guideEvent, event_id: "e1" };
      const extra = { ...guideEvent, event_id: "e2", coupon: "WELCOME", gift: { wrap: true } };
      await queryRows(db, "INSERT INTO table_customers (customer_customer_id) VALUES ('c1')");
      await queryRows(
        db,
        "INSERT INTO table_orders (order_id, customer_customer_id) VALUES ('o1', 'c1')",
      );
      await queryRows(
        db,
        "INSERT INTO table_events (event_id, event_time, order_id, customer_customer_id, payload) " +
          "VALUES ('e1', NOW(3), 'o1', 'c1', ?), ('e2', NOW(3), 'o1', 'c1', ?)",
        [JSON.stringify(plain), JSON.stringify(extra)],
      );
      for (const statement of statements.slice(0, k)) await queryRows(db, statement);

      assert.deepEqual(
        await applyMigrations(db),
        ["0001_extra_fields", "0002_shadow_and_rescore", "0003_lean_keys"],
        `after ${k} statement(s)`,
      );
      const stored = await queryRows<{ id: string; extra: string | null }>(
        db,
        "SELECT event_id AS id, extra_fields AS extra FROM table_events ORDER BY event_id",
      );
      assert.deepEqual(
        stored.map((r) => [r.id, r.extra === null ? null : JSON.parse(r.extra)]),
        [["e1", null], ["e2", { coupon: "WELCOME", gift: { wrap: true } }]],
        `after ${k} statement(s)`,
      );
      const [payload] = await queryRows<{ n: number }>(
        db,
        "SELECT COUNT(*) AS n FROM information_schema.columns WHERE table_schema = DATABASE() " +
          "AND table_name = 'table_events' AND column_name = 'payload'",
      );
      assert.equal(Number(payload.n), 0, "payload is gone");
      assert.deepEqual(await applyMigrations(db), []);
      assert.ok((await migrationStatus(db)).every((m) => m.applied));
    }, { migrate: false });
  }
});

Deno.test("a prediction for an unknown event is refused by a foreign key", async () => {
  await withDatabase(async (db) => {
    await ingestBatch(db, batchOf([event("e1")]));
    await assert.rejects(
      queryRows(
        db,
        "INSERT INTO table_predictions (event_id, order_id, customer_customer_id, return_proba, " +
          "model_version) VALUES ('nope', 'o-e1', 'c-e1', 0.5, 'v')",
      ),
      (error: { code: string }) => error.code === "ER_NO_REFERENCED_ROW_2",
    );
    await assert.rejects(
      queryRows(
        db,
        "INSERT INTO table_orders (order_id, customer_customer_id) VALUES ('o-x', 'unknown-customer')",
      ),
      (error: { code: string }) => error.code === "ER_NO_REFERENCED_ROW_2",
    );
  });
});

Deno.test("the guide's SQL checks run verbatim and return what they promise", async () => {
  await withDatabase(async (db) => {
    const ids = Array.from({ length: 25 }, (_, i) => `evt-${String(i).padStart(3, "0")}`);
    // Two events share one customer: 25 events, 25 orders, 24 customers.
    const events = ids.map((id, i) =>
      event(id, i === 1 ? { customer_customer_id: "c-evt-000" } : {})
    );
    await ingestBatch(db, batchOf(events, 0.4));

    const counts: Record<string, number> = {};
    for (const table of ["table_customers", "table_orders", "table_events", "table_predictions"]) {
      const [row] = await queryRows(db, `SELECT COUNT(*) FROM ${table};`);
      counts[table] = Number(Object.values(row)[0]);
    }
    assert.deepEqual(counts, {
      table_customers: 24,
      table_orders: 25,
      table_events: 25,
      table_predictions: 25,
    });

    const latest = `SELECT event_id, order_id, customer_customer_id, return_proba
FROM table_predictions
ORDER BY event_id DESC
LIMIT 10;`;
    const found = await queryRows(db, latest);
    assert.deepEqual(
      found.map((r) => r.event_id),
      ids.slice(-10).reverse(),
    );
    assert.deepEqual(Object.keys(found[0]), [
      "event_id",
      "order_id",
      "customer_customer_id",
      "return_proba",
    ]);
    assert.equal(found[0].order_id, "o-evt-024");
    assert.equal(found[0].return_proba, 0.4);
    // Served by the primary key read backwards, not by sorting the table.
    const [plan] = await queryRows<{ key: string; Extra: string }>(db, `EXPLAIN ${latest}`);
    assert.equal(plan.key, "PRIMARY");
    assert.ok(!/filesort/i.test(plan.Extra ?? ""), plan.Extra);
  });
});

Deno.test("money is stored as exact DECIMAL(12,2)", async () => {
  await withDatabase(async (db) => {
    const events = Array.from({ length: 1000 }, (_, i) =>
      event(`m${i}`, {
        order_basket_value: 0.1,
        order_shipping_fee: 0.2,
        order_discount: 19.99,
        order_order_total: i === 0 ? 9999999999.99 : 1.005,
      }));
    await ingestBatch(db, batchOf(events));
    const [sum] = await queryRows(
      db,
      "SELECT SUM(order_basket_value) AS basket, SUM(order_shipping_fee) AS shipping, " +
        "SUM(order_discount) AS discount FROM table_orders",
    );
    // As floats, 1000 × 0.1 is 99.9999999999986; DECIMAL keeps cents exact.
    assert.deepEqual({ ...sum }, { basket: "100.00", shipping: "200.00", discount: "19990.00" });
    const [one] = await queryRows(
      db,
      "SELECT order_order_total, order_discount FROM table_orders WHERE order_id = 'o-m1'",
    );
    assert.equal(one.order_order_total, "1.01", "the decimal text 1.005 rounds half up");
    assert.equal(one.order_discount, "19.99");
    const [big] = await queryRows(
      db,
      "SELECT order_order_total AS t FROM table_orders WHERE order_id = 'o-m0'",
    );
    assert.equal(big.t, "9999999999.99");
  });
});

Deno.test("times are stored in UTC and read back as the same instant", async () => {
  await withDatabase(async (db) => {
    const at = new Date("2026-03-29T01:30:00.123Z"); // inside a European DST change
    await ingestBatch(db, batchOf([event("t1", { event_time: at })]));
    const [text] = await queryRows(
      db,
      "SELECT CAST(event_time AS CHAR) AS t, " +
        "TIMESTAMPDIFF(SECOND, ingested_at, UTC_TIMESTAMP()) AS age FROM table_events",
    );
    assert.equal(text.t, "2026-03-29 01:30:00.123");
    assert.equal(await sessionTimeZone(db), "+00:00");
    assert.ok(Math.abs(Number(text.age)) < 60, `ingested_at is ${text.age} s off UTC`);
    const [read] = await queryRows<{ event_time: Date }>(db, "SELECT event_time FROM table_events");
    assert.equal(read.event_time.toISOString(), at.toISOString());
  });
});

Deno.test("deno task migrate applies, reports up to date, and --status lists migrations", async () => {
  await ensureServices();
  const name = uniqueName("dbtest");
  // One pooled connection is enough to migrate (the migration lock has its own).
  const config = await writeTestConfig({ database: name, "database.pool_size": 1 });
  try {
    const first = await runEntry("tasks/migrate.ts", ["--config", config]);
    assert.equal(first.code, 0, first.stderr);
    assert.match(
      first.stdout,
      /^applied\t0000_init\napplied\t0001_extra_fields\napplied\t0002_shadow_and_rescore\napplied\t0003_lean_keys$/m,
    );
    assert.match(first.stderr, new RegExp(`database mysql://root@127\\.0\\.0\\.1:3306/${name}`));
    const second = await runEntry("tasks/migrate.ts", ["--config", config]);
    assert.equal(second.code, 0, second.stderr);
    assert.equal(second.stdout, "");
    assert.match(second.stderr, /up to date/);
    const status = await runEntry("tasks/migrate.ts", ["--config", config, "--status"]);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /^applied\t0000_init\t[0-9a-f]{12}$/m);
    assert.match(status.stdout, /^applied\t0001_extra_fields\t[0-9a-f]{12}$/m);
    const bad = await runEntry("tasks/migrate.ts", ["--config", config, "--bogus"]);
    assert.equal(bad.code, 2);
  } finally {
    await dropDatabase(name);
  }
});

Deno.test("deno task migrate names the masked URL when the database does not answer", async () => {
  const config = await writeTestConfig({
    database: "unreachable",
    "database.url": "mysql://app:topsecret@127.0.0.1:1/unreachable",
  });
  const result = await runEntry("tasks/migrate.ts", ["--config", config]);
  assert.equal(result.code, 2);
  assert.match(
    result.stderr,
    /^error: Cannot connect to database "mysql:\/\/app:\*\*\*\*@127\.0\.0\.1:1\/unreachable": nothing listens on 127\.0\.0\.1:1/m,
  );
  assert.match(result.stderr, /^hint: start MySQL\/MariaDB/m);
  assert.ok(!result.stderr.includes("topsecret"));
  assert.ok(!/\n\s+at /.test(result.stderr), "no stack trace");
});

Deno.test("openDatabase() says clearly when the password is wrong", async () => {
  await ensureServices();
  const base = await loadConfig(await writeTestConfig({ database: "never_created" }));
  const url = new URL(base.database.url);
  url.password = "wrong-password";
  const config = { ...base, database: { ...base.database, url: url.toString() } };
  await assert.rejects(openDatabase(config), (error: Error) => {
    assert.ok(error instanceof UserError);
    assert.equal(error.exitCode, 2);
    assert.match(error.message, /access denied for user "root"/);
    assert.match(error.message, /:\*\*\*\*@/);
    assert.ok(!error.message.includes("wrong-password"));
    assert.match(error.hint ?? "", /user and password/);
    return true;
  });
});

Deno.test("memoryFit() compares the server's buffer pool with the pipeline's tables", async () => {
  await withTestDatabase("memfit", async (db) => {
    const empty = await memoryFit(db);
    assert.ok(empty.bufferPoolBytes >= 5 * 1024 * 1024, String(empty.bufferPoolBytes));
    assert.ok(empty.tableBytes > 0, "the four tables take their first pages");
    assert.equal(empty.fits, empty.tableBytes <= empty.bufferPoolBytes);
  });
});
