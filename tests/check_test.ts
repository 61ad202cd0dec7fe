import assert from "assert";
import { join } from "node:path";
import { loadConfig } from "../lib/config/mod.ts";
import { ingestBatch, openDatabase } from "../lib/db/mod.ts";
import { KafkaCluster } from "../lib/kafka/mod.ts";
import { orderOf, validEvent } from "./_fixtures.ts";
import { runEntry, uniqueName } from "./_helpers.ts";
import { mappingSection, rowCount, withPipeline } from "./_model_pipeline.ts";

const MALFORMED = join(import.meta.dirname!, "testdata", "consumer", "malformed.json");

function problems(stdout: string): string[] {
  return stdout.split("\n").filter((line) => line.startsWith("problem "));
}

Deno.test("check catches a column shortened by hand, a missing topic, a broker limit below the consumer's and a mapping error, one clear line each", async () => {
  await withPipeline(async (p) => {
    const good = await p.config();
    const migrate = await runEntry("tasks/migrate.ts", ["--config", good]);
    assert.equal(migrate.code, 0, migrate.stderr);
    const fine = await runEntry("tasks/check.ts", ["--config", good]);
    assert.equal(fine.code, 0, fine.stdout + fine.stderr);
    assert.deepEqual(problems(fine.stdout), []);
    assert.match(fine.stdout, /^ok {7}database: .*4 migration\(s\) applied; 7 tables/m);
    assert.match(
      fine.stdout,
      new RegExp(`^ok {7}topic: "${p.topic}" exists, 3 partition\\(s\\)`, "m"),
    );
    assert.match(fine.stdout, /^note {5}dead-letter topic: .* does not exist yet/m);
    assert.match(fine.stdout, /^check: no problem found$/m);

    // Shortened by hand: a 20-character country would now be refused by the database.
    await p.sql()(
      "ALTER TABLE table_customers MODIFY customer_country varchar(10) NOT NULL DEFAULT 'unknown'",
    );
    const mapping = await mappingSection();
    const [input] = mapping.inputs;
    const bad = await p.config({
      "consumer.max_message_bytes": 2_000_000,
      "model.inputs": [{ ...input, features: input.features.slice(1) }],
    });
    const result = await runEntry("tasks/check.ts", ["--config", bad]);
    assert.equal(result.code, 2, result.stdout + result.stderr);
    const found = problems(result.stdout);
    assert.equal(found.length, 3, result.stdout);
    assert.match(
      found.join("\n"),
      /^problem {2}model: model input "features" takes 27 column\(s\) but pipeline\.yaml maps 26 \(model\.inputs\[0\]\.features\)$/m,
    );
    assert.match(
      found.join("\n"),
      /^problem {2}database: table_customers\.customer_country is varchar\(10\), the pipeline writes varchar\(64\) \(events\.fields\.customer_country\.max_length allows 32\): longer values would be refused/m,
    );
    assert.match(
      found.join("\n"),
      /^problem {2}message size: the broker takes records of "\S+" up to \d+ bytes \(max\.message\.bytes\) but consumer\.max_message_bytes is 2000000/m,
    );
    assert.match(result.stdout, /^check: 3 problem\(s\)$/m);

    const absent = uniqueName("absent");
    const missing = await runEntry("tasks/check.ts", [
      "--config",
      await p.config({ "kafka.topic": absent }),
    ]);
    assert.equal(missing.code, 2);
    const lines = problems(missing.stdout);
    assert.equal(lines.length, 2, missing.stdout);
    assert.match(
      lines.join("\n"),
      new RegExp(
        `^problem {2}topic: "${absent}" does not exist: create it with deno task admin create`,
        "m",
      ),
    );
    assert.match(
      lines.join("\n"),
      /^problem {2}database: table_customers\.customer_country is varchar\(10\)/m,
    );
  });
});

Deno.test("check --dry-run gives the consumer's reasons for the malformed fixtures and writes nothing", async () => {
  await withPipeline(async (p) => {
    const configPath = await p.config();
    const config = await loadConfig(configPath);
    // Two events stored before, by the project's own write path.
    const db = await openDatabase(config);
    try {
      const stored = [validEvent("stored-1"), validEvent("stored-2")];
      await ingestBatch(db, {
        events: stored.map(orderOf),
        extraFields: [null, null],
        probabilities: Float64Array.of(0.1, 0.2),
        modelVersion: "test",
        offsets: [],
        consumerGroup: "test",
        duplicates: "skip",
      });
    } finally {
      await db.close();
    }

    const { cases } = JSON.parse(await Deno.readTextFile(MALFORMED)) as {
      cases: {
        name: string;
        reason: string;
        field?: string;
        text?: string;
        base64?: string;
        pad?: number;
      }[];
    };
    const encoder = new TextEncoder();
    const good = (id: string, extra: Record<string, unknown> = {}) =>
      encoder.encode(JSON.stringify({
        event_id: id,
        order_id: `o-${id}`,
        customer_customer_id: "c-1",
        order_device: "mobile",
        order_basket_value: 10.5,
        ...extra,
      }));
    const lines: Uint8Array[] = [good("good-1"), good("good-2"), good("good-1"), good("stored-2")];
    const expected = new Map<number, (typeof cases)[number]>();
    for (const c of cases) {
      const bytes = c.base64 !== undefined
        ? Uint8Array.from(atob(c.base64), (ch) => ch.charCodeAt(0))
        : encoder.encode(c.pad ? c.text!.replace("PAD", "x".repeat(c.pad)) : c.text!);
      lines.push(bytes);
      if (bytes.length) expected.set(lines.length, c);
    }
    lines.push(good("stored-1", { order_device: null }), good("good-3"));
    const file = join(p.dir, "malformed.jsonl");
    const newline = encoder.encode("\n");
    await Deno.writeFile(file, new Uint8Array(lines.flatMap((l) => [...l, ...newline])));

    const tables = [
      "table_customers",
      "table_orders",
      "table_events",
      "table_predictions",
      "table_shadow_predictions",
      "pipeline_offsets",
      "pipeline_rescore_runs",
    ];
    const count = () => Promise.all(tables.map((t) => rowCount(p.sql(), t)));
    const before = await count();
    const result = await runEntry("tasks/check.ts", ["--config", configPath, "--dry-run", file]);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(await count(), before, "the dry run wrote to the database");
    const admin = await new KafkaCluster(config.kafka).connectAdmin();
    try {
      for (const topic of [p.topic, config.kafka.deadLetterTopic]) {
        assert.equal(await admin.topicExists(topic), false, `${topic} was created`);
      }
    } finally {
      await admin.close();
    }

    const out = result.stdout;
    const row = (label: string) =>
      Number(new RegExp(`^ {2}${label} +([\\d,]+)`, "m").exec(out)?.[1]);
    assert.equal(row("lines"), lines.length, out);
    assert.match(out, /^ {2}lines .* 1 blank \(not sent\)$/m);
    assert.equal(row("new events"), 3);
    assert.equal(row("duplicates within the file"), 1);
    assert.equal(row("already stored"), 2);
    assert.equal(row("dead-lettered"), expected.size);
    // Each fixture's reason, as the consumer gives it, under its own line number or counted
    // with the first line of the same reason.
    const reported = [...out.matchAll(/^ {2}(.+?) +(\d+) {2}line (\d+): (.+)$/gm)].map((m) => ({
      key: m[1],
      count: Number(m[2]),
      line: Number(m[3]),
      reason: m[4],
    }));
    for (const [line, c] of expected) {
      const key = (r: { key: string }) =>
        r.key.startsWith(c.reason) &&
        (c.field ? r.key.endsWith(`(${c.field})`) : !r.key.endsWith(")"));
      const entry = reported.find(key);
      assert.ok(entry, `no reason reported for "${c.name}" (line ${line}):\n${out}`);
      assert.ok(entry.reason.startsWith(c.reason), `${c.name}: ${entry.reason}`);
      const sameKey = [...expected].filter(([, d]) =>
        key({ key: `${d.reason}${d.field ? ` (${d.field})` : ""}` })
      );
      assert.equal(entry.count, sameKey.length, `${c.name}: ${entry.count}`);
      assert.equal(entry.line, sameKey[0][0], c.name);
    }
    assert.equal(reported.reduce((n, r) => n + r.count, 0), expected.size);
    assert.match(out, /^ {2}order_device = "unknown" +1$/m);
    assert.match(
      out,
      /^return probability of the 3 event\(s\) that would be written \(model sha256:\w+\+card:1\), mean 0\.\d{3}:$/m,
    );
    const bins = [...out.matchAll(/^ {2}\d\.\d-\d\.\d +(\d+)/gm)].map((m) => Number(m[1]));
    assert.equal(bins.length, 10);
    assert.equal(bins.reduce((a, b) => a + b, 0), 3);
  }, { createTopic: false });
});
