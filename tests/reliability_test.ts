/**
 * No record stops a partition: records the database refuses, dead letters larger than the
 * broker's limit, bursts of bad records, a dead-letter topic deleted under the consumer, and
 * clean stops. Real broker, real database; topics go through the project's admin command.
 */
import assert from "assert";
import { repoRoot, runEntry, writeTestConfig } from "./_helpers.ts";
import { guideEvent } from "./_fixtures.ts";
import {
  consumeUntilIdle,
  count,
  done,
  events,
  produce,
  storedOffset,
  waitFor,
  withPipeline,
  wrongType,
} from "./_pipeline.ts";

Deno.test("a record the database refuses is dead-lettered alone; every other event is stored", async () => {
  await withPipeline({}, async (p) => {
    const migrated = await runEntry("tasks/migrate.ts", ["--config", p.configPath]);
    assert.equal(migrated.code, 0, migrated.stderr);
    // A rule of the database's own, which the pipeline's validation knows nothing about.
    await p.sql(
      "ALTER TABLE table_orders ADD CONSTRAINT chk_items CHECK (order_n_items < 9000)",
    );
    await produce(p, events(3000, (i) => i === 1500 ? { order_n_items: 9500 } : {}));
    const result = await consumeUntilIdle(p, "--quiet");
    assert.equal(await count(p, "table_events"), 2999);
    assert.equal(await count(p, "table_predictions"), 2999);
    const [poison] = await p.sql("SELECT event_id FROM table_events WHERE event_id = 'e1500'");
    assert.equal(poison, undefined);
    assert.equal(await p.deadLetters(), 1);
    assert.equal(await storedOffset(p), 3000, "the stored offset moves past the poison record");
    assert.equal(done(result.stdout).ingested, 2999);
    assert.equal(done(result.stdout).dead_lettered, 1);
    assert.doesNotMatch(result.stderr, /retrying/, "a data error must not be retried forever");
  });
});

Deno.test("a 5 MB event (gzip'ed by the producer) and a burst of large bad ones move on", async () => {
  await withPipeline({}, async (p) => {
    // The producer side accepts what the consumer's limits reject (65536 bytes by default).
    const bigConfig = await writeTestConfig({
      topic: p.topic,
      "consumer.max_message_bytes": 8_000_000,
    });
    const huge = { ...guideEvent, event_id: "huge", note: "x".repeat(5_000_000) };
    // 40 events of 50 KB, each under consumer.max_message_bytes, each with a wrong type.
    const bad = Array.from({ length: 40 }, (_, i) => ({
      ...guideEvent,
      event_id: `bad${i}`,
      order_n_items: "many",
      note: "y".repeat(50_000),
    }));
    await produce(p, [
      huge,
      ...events(10),
      ...bad,
      ...events(5).map((e, i) => ({ ...e, event_id: `z${i}` })),
    ], bigConfig);
    const result = await consumeUntilIdle(p);
    assert.equal(await count(p, "table_events"), 15);
    assert.equal(await p.deadLetters(), 41);
    assert.match(result.stdout, /\[DLQ\] offset=0 partition=0 reason=message too large/);
    assert.equal(
      (result.stdout.match(/\[DLQ\] .*field=order_n_items reason=wrong type/g) ?? []).length,
      40,
    );
    assert.equal(await storedOffset(p), 56);
  });
});

Deno.test("a dead-letter topic deleted while the consumer runs is re-created; nothing is lost", async () => {
  await withPipeline({}, async (p) => {
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "consumer.ts", "--config", p.configPath, "--until-idle", "4000"],
      cwd: repoRoot,
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const output = child.output();
    try {
      await produce(p, [wrongType("w1"), ...events(3)]);
      await waitFor(async () => await p.deadLetters() === 1);
      await p.admin("delete", "--name", p.config.kafka.deadLetterTopic);
      await produce(p, [
        wrongType("w2"),
        wrongType("w3"),
        ...events(3).map((e, i) => ({ ...e, event_id: `n${i}` })),
      ]);
    } catch (error) {
      child.kill("SIGKILL");
      throw error;
    }
    const { code, stdout, stderr } = await output;
    const err = new TextDecoder().decode(stderr);
    assert.equal(code, 0, err);
    assert.match(err, /Dead-letter topic "\S+\.dlq" was missing: re-created it/);
    assert.equal(await p.deadLetters(), 2, "the re-created topic holds the later letters");
    assert.equal(await count(p, "table_events"), 6);
    assert.equal(done(new TextDecoder().decode(stdout)).dead_lettered, 3);
  });
});

Deno.test("a clean stop commits its last batch: the next start has nothing to redo", async () => {
  await withPipeline({ "consumer.max_fetch_bytes": 16384 }, async (p) => {
    await produce(p, events(4000));
    const first = await runEntry("consumer.ts", [
      "--config",
      p.configPath,
      "--max-events",
      "1500",
      "--quiet",
    ]);
    assert.equal(first.code, 0, first.stderr);
    const stopped = await count(p, "table_events");
    assert.ok(stopped >= 1500, `${stopped} events stored`);
    const second = await consumeUntilIdle(p, "--quiet");
    assert.equal(done(second.stdout).already_applied, 0, "the restart redid stored work");
    assert.equal(await count(p, "table_events"), 4000);
  });
});

Deno.test("one Ctrl-C under deno task consume stops cleanly: exit 0, [DONE], nothing to redo", async () => {
  await withPipeline({ "consumer.max_fetch_bytes": 16384 }, async (p) => {
    await produce(p, events(20000));
    // A process group of its own, as a terminal makes one: SIGINT reaches the task runner
    // and the consumer alike, and the runner forwards its own.
    const child = new Deno.Command(Deno.execPath(), {
      args: ["task", "consume", "--config", p.configPath, "--quiet"],
      cwd: repoRoot,
      stdout: "piped",
      stderr: "piped",
      detached: true,
    }).spawn();
    const output = child.output();
    try {
      await waitFor(async () => await count(p, "table_events").catch(() => 0) >= 2000, 60_000);
    } finally {
      Deno.kill(-child.pid, "SIGINT");
    }
    const { code, stdout, stderr } = await output;
    const text = new TextDecoder().decode(stdout);
    assert.equal(code, 0, new TextDecoder().decode(stderr));
    assert.ok(text.includes("[DONE]"), text.slice(-500));
    const stopped = await count(p, "table_events");
    const rest = await consumeUntilIdle(p, "--quiet");
    assert.equal(done(rest.stdout).already_applied, 0, "the stop left stored work to redo");
    assert.equal(done(rest.stdout).ingested, 20000 - stopped);
    assert.equal(await count(p, "table_events"), 20000);
  });
});

Deno.test("event_ids, orders and customers that differ only by a trailing space are distinct rows; nothing stalls", async () => {
  await withPipeline({}, async (p) => {
    const keyed = (id: string, order: string, customer: string) => ({
      ...guideEvent,
      event_id: id,
      order_id: order,
      customer_customer_id: customer,
    });
    // Same batch: the consumer's dedup and the database must agree that these are two keys.
    await produce(p, [keyed("a1", "o1", "c1"), keyed("a1 ", "o1 ", "c1 ")]);
    const first = await consumeUntilIdle(p, "--quiet");
    assert.equal(done(first.stdout).ingested, 2);
    // A later batch: "b1 " after "b1" is stored, and a repeat of "a1 " is a duplicate of it.
    await produce(p, [keyed("b1", "o2", "c1")]);
    await consumeUntilIdle(p, "--quiet");
    await produce(p, [keyed("b1 ", "o2 ", "c1"), keyed("a1 ", "o1 ", "c1 ")]);
    const last = await consumeUntilIdle(p, "--quiet");
    assert.equal(done(last.stdout).ingested, 1);
    assert.equal(done(last.stdout).duplicates, 1);
    for (const result of [first, last]) {
      assert.doesNotMatch(result.stderr, /retrying|Duplicate entry/);
    }
    const ids = await p.sql<{ id: string }>(
      "SELECT CONCAT('[', event_id, ']') AS id FROM table_events ORDER BY event_id",
    );
    assert.deepEqual(ids.map((r) => r.id), ["[a1]", "[a1 ]", "[b1]", "[b1 ]"]);
    assert.equal(await count(p, "table_predictions"), 4);
    const orders = await p.sql<{ id: string; customer: string }>(
      "SELECT CONCAT('[', order_id, ']') AS id, CONCAT('[', customer_customer_id, ']') AS " +
        "customer FROM table_orders ORDER BY order_id",
    );
    assert.deepEqual(orders, [
      { id: "[o1]", customer: "[c1]" },
      { id: "[o1 ]", customer: "[c1 ]" },
      { id: "[o2]", customer: "[c1]" },
      { id: "[o2 ]", customer: "[c1]" },
    ]);
    assert.equal(await count(p, "table_customers"), 2);
    assert.equal(await p.deadLetters(), 0);
    assert.equal(await storedOffset(p), 5);
  });
});
