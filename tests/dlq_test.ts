/**
 * The dead-letter workflow end to end: bad records dead-lettered, `dlq stats`, the config
 * fixed, `dlq replay` (dry run first), the rows present, and a second replay adding nothing.
 */
import assert from "assert";
import { parseDocument } from "yaml";
import { runEntry } from "./_helpers.ts";
import {
  consumeUntilIdle,
  count,
  done,
  events,
  type Pipeline,
  produce,
  withPipeline,
  wrongType,
} from "./_pipeline.ts";

async function dlq(p: Pipeline, ...args: string[]) {
  const result = await runEntry("tasks/dlq.ts", [...args, "--config", p.configPath]);
  assert.equal(result.code, 0, result.stderr);
  return result.stdout;
}

/** Raises events.fields.order_n_items.max in the test's pipeline.yaml. */
async function allowMoreItems(p: Pipeline, max: number) {
  const doc = parseDocument(await Deno.readTextFile(p.configPath));
  doc.setIn(["events", "fields", "order_n_items", "max"], max);
  await Deno.writeTextFile(p.configPath, doc.toString());
}

Deno.test("dlq stats counts by reason and field; replay after a fix ingests them once", async () => {
  await withPipeline({}, async (p) => {
    const tooMany = events(4).map((e, i) => ({ ...e, event_id: `big${i}`, order_n_items: 20000 }));
    await produce(p, [...events(5), ...tooMany, wrongType("w1"), wrongType("w2")]);
    const first = await consumeUntilIdle(p, "--quiet");
    assert.equal(done(first.stdout).dead_lettered, 6);
    assert.equal(await count(p, "table_events"), 5);

    const stats = await dlq(p, "stats");
    assert.match(stats, /^dead letters: 6$/m);
    assert.match(stats, /^4 +out_of_range +out of range/m);
    assert.match(stats, /^2 +wrong_type +wrong type/m);
    assert.match(stats, /^6 +order_n_items$/m);
    assert.match(stats, /^oldest: \d{4}-\d\d-\d\dT.*\(partition 0, offset 0; from \S+\/0\/5\)$/m);

    // A dry run says what it would do and sends nothing.
    const dry = await dlq(p, "replay", "--reason", "out_of_range", "--dry-run");
    assert.match(dry, /^would replay 4 of 4 matching letter\(s\): 4 to reliable_\S+$/m);
    assert.equal((await consumeUntilIdle(p, "--quiet")).stdout.includes("ingested=0"), true);

    await allowMoreItems(p, 100000);
    const replay = await dlq(p, "replay", "--reason", "out_of_range");
    assert.match(replay, /^replayed 4 of 4 matching letter\(s\)/m);
    const second = await consumeUntilIdle(p, "--quiet");
    assert.equal(done(second.stdout).ingested, 4);
    assert.equal(await count(p, "table_events"), 9);
    const [big] = await p.sql<{ n: number }>(
      "SELECT order_n_items AS n FROM table_orders WHERE order_id = 'o0' LIMIT 1",
    );
    assert.ok(big);

    // Replaying the same letters again adds nothing: they are duplicates now.
    await dlq(p, "replay", "--reason", "out_of_range");
    const third = await consumeUntilIdle(p, "--quiet");
    assert.equal(done(third.stdout).ingested, 0);
    assert.equal(done(third.stdout).duplicates, 4);
    assert.equal(await count(p, "table_events"), 9);
    // The wrong types were left alone: still only in the dead-letter topic.
    assert.equal(await p.deadLetters(), 6);
  });
});

Deno.test("dlq refuses an unknown command and stats-only misuse with exit 2", async () => {
  const bad = await runEntry("tasks/dlq.ts", ["purge"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /error: unknown command "purge"/);
  const misuse = await runEntry("tasks/dlq.ts", ["stats", "--dry-run"]);
  assert.equal(misuse.code, 2);
  assert.match(misuse.stderr, /--dry-run applies to replay, not stats/);
});
