import assert from "assert";
import { loadConfig } from "../lib/config/mod.ts";
import { KafkaCluster } from "../lib/kafka/mod.ts";
import { KafkaTools } from "../dev/testing/mod.ts";
import { errorCode, openDatabase } from "../lib/db/mod.ts";
import { type IngestBatch, ingestBatch, storedOffsets } from "../lib/db/mod.ts";
import {
  dropDatabase,
  type EntryResult,
  runEntry,
  uniqueName,
  writeTestConfig,
} from "./_helpers.ts";
import { ensureServices } from "./_services.ts";

/** The independent client: Kafka's own command-line tools. */
const tools = new KafkaTools("127.0.0.1:9092");

/** `deno task admin ...` as a user runs it. */
function admin(args: string[], env?: Record<string, string>): Promise<EntryResult> {
  return runEntry("admin.ts", args, { env });
}

/**
 * Partition count and sum of the high watermarks of each topic as Kafka's own tools see them,
 * in one call; 0 and 0 for a topic the broker does not know.
 */
async function seen(...topics: string[]): Promise<{ partitions: number; messages: number }[]> {
  const ends = await tools.endOffsets(topics);
  return topics.map((topic) => {
    const offsets = [...ends.get(topic)!.values()];
    return { partitions: offsets.length, messages: Number(offsets.reduce((a, b) => a + b, 0n)) };
  });
}

/** Partition count of a topic as Kafka's own tools see it; 0 when the broker does not know it. */
async function partitionsSeen(topic: string): Promise<number> {
  return (await seen(topic))[0].partitions;
}

/** A config with its own topic (and <topic>.dlq); returns the path and the topic. */
async function setup(): Promise<{ config: string; topic: string }> {
  await ensureServices();
  const topic = uniqueName("admin");
  return { config: await writeTestConfig({ topic }), topic };
}

async function cleanup(config: string) {
  const result = await admin(["delete", "--config", config, "--if-exists", "--with-dlq"]);
  assert.equal(result.code, 0, result.stderr);
  // Deleting a topic forgets its stored offsets, in the config's own database.
  await dropDatabase((await loadConfig(config)).kafka.topic);
}

/** Output a user can read: no stack traces, no runtime warnings. */
function assertClean(result: EntryResult) {
  assert.doesNotMatch(result.stderr, /\n {4}at /);
  assert.doesNotMatch(result.stderr, /TimeoutNegativeWarning|Warning:/);
}

Deno.test("admin --help lists the commands, and every command has its own help", async () => {
  const main = await admin(["--help"]);
  assert.equal(main.code, 0);
  assert.match(main.stdout, /USAGE:/);
  for (const command of ["list", "describe", "create", "delete", "reset"]) {
    assert.match(main.stdout, new RegExp(`^  ${command} `, "m"));
    const result = await admin([command, "--help"]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`deno task admin ${command}`));
    assert.match(result.stdout, /USAGE:[\s\S]*OPTIONS:[\s\S]*--config PATH/);
    assert.match(result.stdout, /EXIT CODES:/);
  }
});

Deno.test("admin rejects a missing or unknown command and unknown flags with exit code 2", async () => {
  for (const args of [[], ["purge"], ["list", "--bogus"], ["create", "--partitions", "0"]]) {
    const result = await admin(args);
    assert.equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
    assert.match(result.stderr, /^error: /);
    assert.equal(result.stdout, "");
    assertClean(result);
  }
});

Deno.test("admin create, list, describe and delete a topic as Kafka's tools see it", async () => {
  const { config, topic } = await setup();
  try {
    const created = await admin(["create", "--config", config]);
    assert.equal(created.code, 0, created.stderr);
    assert.match(created.stderr, new RegExp(`created topic "${topic}" \\(3 partition`));
    assertClean(created);
    assert.equal(await partitionsSeen(topic), 3);

    const again = await admin(["create", "--config", config]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, new RegExp(`^error: Cannot create topic "${topic}": it already`));
    assert.match(again.stderr, /--if-not-exists/);
    assertClean(again);
    const tolerated = await admin(["create", "--config", config, "--if-not-exists"]);
    assert.equal(tolerated.code, 0, tolerated.stderr);

    const list = await admin(["list", "--config", config]);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^TOPIC +PARTITIONS +REPLICATION$/m);
    assert.match(list.stdout, new RegExp(`^${topic} +3 +1$`, "m"));
    assert.doesNotMatch(list.stdout, /__consumer_offsets/);
    assertClean(list);
    // A fresh broker has no internal topic until a group coordinator is first looked up.
    const client = await new KafkaCluster((await loadConfig(config)).kafka).connectAdmin();
    await client.groupOffsets(`${topic}_group`, topic).finally(() => client.close());
    const all = await admin(["list", "--config", config, "--all"]);
    assert.match(all.stdout, /^__consumer_offsets +\d+ +1$/m);

    await tools.produce(topic, ["a", "b", "c"], { partition: 1, partitions: 3 });
    const described = await admin(["describe", "--config", config]);
    assert.equal(described.code, 0, described.stderr);
    assert.match(described.stdout, new RegExp(`^topic: ${topic}$`, "m"));
    assert.match(described.stdout, /^partitions: 3$/m);
    assert.match(described.stdout, /^1 +1 +1 +1 +0 +3 +3 +- +-$/m);
    assert.match(described.stdout, /^total +3 +-$/m);
    assert.match(described.stdout, new RegExp(`dead-letter topic: ${topic}\\.dlq \\(does not`));
    assertClean(described);

    const deleted = await admin(["delete", "--config", config]);
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.match(deleted.stderr, new RegExp(`deleted topic "${topic}"`));
    assert.equal(await partitionsSeen(topic), 0);
    // Nothing was ever consumed: forgetting the stored offsets must not create the database.
    await assert.rejects(
      openDatabase(await loadConfig(config), { create: false, migrate: false }),
      (error: Error) => errorCode(error) === "ER_BAD_DB_ERROR",
    );
    const missing = await admin(["delete", "--config", config]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, new RegExp(`^error: Cannot delete topic "${topic}": it does not`));
    assertClean(missing);
    const tolerant = await admin(["delete", "--config", config, "--if-exists"]);
    assert.equal(tolerant.code, 0, tolerant.stderr);
    const gone = await admin(["describe", "--config", config]);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /it does not exist/);
    assert.equal(await partitionsSeen(topic), 0, "describe must not create the topic");
  } finally {
    await cleanup(config);
  }
});

Deno.test("admin create takes --name, --partitions and --replication over pipeline.yaml", async () => {
  const { config, topic } = await setup();
  const other = `${topic}_other`;
  try {
    const created = await admin([
      "create",
      "--config",
      config,
      "--name",
      other,
      "--partitions",
      "2",
    ]);
    assert.equal(created.code, 0, created.stderr);
    assert.deepEqual((await seen(other, topic)).map((t) => t.partitions), [2, 0]);

    // One broker cannot hold two replicas: the broker's refusal is one clean error line.
    const refused = await admin(["create", "--config", config, "--replication", "2"]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /^error: Cannot create topic .*INVALID_REPLICATION_FACTOR/);
    assertClean(refused);
    assert.equal(await partitionsSeen(topic), 0);
  } finally {
    await admin(["delete", "--config", config, "--name", other, "--if-exists"]);
    await cleanup(config);
  }
});

Deno.test("admin reset empties the topic with the configured layout and keeps the DLQ", async () => {
  const { config, topic } = await setup();
  const dlq = `${topic}.dlq`;
  try {
    const created = await admin(["create", "--config", config, "--partitions", "1", "--with-dlq"]);
    assert.equal(created.code, 0, created.stderr);
    await tools.produce(topic, ["1", "2", "3", "4", "5"]);
    await tools.produce(dlq, ["bad"]);
    assert.equal((await seen(topic))[0].messages, 5);

    // Offsets a consumer stored for the old topic would make the new one look consumed.
    const db = await openDatabase(await loadConfig(config));
    try {
      const offsetsOnly = (consumerGroup: string, offsets: IngestBatch["offsets"]) =>
        ingestBatch(db, {
          events: [],
          extraFields: [],
          probabilities: new Float64Array(0),
          modelVersion: "none",
          offsets,
          consumerGroup,
          duplicates: "skip",
        });
      await offsetsOnly("g1", [
        { topic, partition: 0, nextOffset: 5n },
        { topic: "other", partition: 0, nextOffset: 7n },
      ]);
      await offsetsOnly("g2", [{ topic, partition: 0, nextOffset: 3n }]);
      const reset = await admin(["reset", "--config", config]);
      assert.equal(reset.code, 0, reset.stderr);
      assert.match(reset.stderr, /waiting until the broker has removed it/);
      assert.match(
        reset.stderr,
        new RegExp(`forgot 2 consumed offset\\(s\\) stored for "${topic}"`),
      );
      assert.match(reset.stderr, /stored events and predictions were kept/);
      assert.equal((await storedOffsets(db, "g1", topic)).size, 0);
      assert.deepEqual([...(await storedOffsets(db, "g1", "other"))], [[0, 7n]]);
    } finally {
      await db.close();
    }
    const reset = await admin(["reset", "--config", config]);
    assert.match(reset.stderr, new RegExp(`dead-letter topic "${dlq}" kept`));
    assertClean(reset);
    assert.deepEqual(await seen(topic, dlq), [
      { partitions: 3, messages: 0 },
      { partitions: 1, messages: 1 },
    ]);

    const withDlq = await admin(["reset", "--config", config, "--with-dlq"]);
    assert.equal(withDlq.code, 0, withDlq.stderr);
    const [dlqAfter] = await seen(dlq);
    assert.equal(dlqAfter.messages, 0);
    assert.equal(dlqAfter.partitions, 1, "the dead-letter topic keeps its own layout");

    // A layout the cluster cannot hold is refused before anything is deleted.
    await tools.produce(topic, ["kept"]);
    const refused = await admin(["reset", "--config", config, "--replication", "2"]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /^error: Cannot reset topic .*the cluster has 1\n/);
    assert.equal((await seen(topic))[0].messages, 1);

    // A missing topic is simply created; a missing dead-letter topic is not said to be kept.
    await admin(["delete", "--config", config, "--with-dlq"]);
    const fromNothing = await admin(["reset", "--config", config]);
    assert.equal(fromNothing.code, 0, fromNothing.stderr);
    assert.match(fromNothing.stderr, /did not exist/);
    assert.match(fromNothing.stderr, new RegExp(`dead-letter topic "${dlq}" does not exist`));
    assert.doesNotMatch(fromNothing.stderr, /kept \(--with-dlq/);
    assert.equal(await partitionsSeen(dlq), 0, "reset without --with-dlq does not create it");
    assert.equal(await partitionsSeen(topic), 3);
  } finally {
    await cleanup(config);
  }
});

Deno.test("admin describe shows the group's committed offsets, lag and totals", async () => {
  const { config, topic } = await setup();
  const group = `${topic}_readers`;
  try {
    assert.equal((await admin(["create", "--config", config, "--partitions", "2"])).code, 0);
    await tools.produce(topic, ["a", "b", "c", "d"], { partition: 0, partitions: 2 });
    await tools.produce(topic, ["e", "f"], { partition: 1, partitions: 2 });
    await tools.setGroupOffset(group, topic, 0, 1n);
    const result = await admin(["describe", "--config", config, "--group", group]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`^group: ${group} `, "m"));
    assert.match(result.stdout, /^0 +1 +1 +1 +0 +4 +4 +1 +3$/m);
    assert.match(result.stdout, /^1 +1 +1 +1 +0 +2 +2 +- +-$/m);
    assert.match(result.stdout, /^total +6 +3$/m);
    assertClean(result);
  } finally {
    await cleanup(config);
  }
});

Deno.test("admin with an unreachable broker prints one line and exits 2 quickly", async () => {
  const config = await writeTestConfig({ "kafka.brokers": ["127.0.0.1:1"] });
  const started = performance.now();
  const result = await admin(["list", "--config", config]);
  const seconds = (performance.now() - started) / 1000;
  assert.equal(result.code, 2, result.stderr);
  const lines = result.stderr.trim().split("\n");
  assert.equal(lines.length, 1, result.stderr);
  assert.match(lines[0], /^error: Cannot reach Kafka at 127\.0\.0\.1:1: .*check kafka\.brokers/);
  assert.equal(result.stdout, "");
  assert.ok(seconds < 15, `took ${seconds.toFixed(1)} s`);
});
