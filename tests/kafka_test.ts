/**
 * lib/kafka against the real broker, each effect checked with Kafka's own command-line tools
 * (dev/testing's KafkaTools), a client that shares no code with the one under test.
 */
import assert from "assert";
import { loadConfig } from "../lib/config/mod.ts";
import { KafkaCluster } from "../lib/kafka/mod.ts";
import { KafkaTools, partitionOfKey } from "../dev/testing/mod.ts";
import { repoConfigPath, uniqueName } from "./_helpers.ts";
import { ensureServices } from "./_services.ts";

const tools = new KafkaTools("127.0.0.1:9092");

async function cluster(): Promise<KafkaCluster> {
  await ensureServices();
  return new KafkaCluster((await loadConfig(repoConfigPath)).kafka);
}

Deno.test("EventProducer sends keys, values, headers, partitions and timestamps as Kafka's tools read them", async () => {
  const kafka = await cluster();
  const topic = uniqueName("kafka_producer");
  await tools.createTopic(topic, 3);
  try {
    const producer = await kafka.connectProducer({ acks: "all", compression: "gzip" });
    const encoder = new TextEncoder();
    // Recent: a record older than the topic's retention (7 days) may be deleted at once.
    const timestamp = Date.now() - 60_000;
    try {
      await producer.send(topic, [
        {
          key: encoder.encode("k1"),
          value: encoder.encode('{"a":"Fré"}'),
          headers: { text: "one", bytes: encoder.encode("two") },
          partition: 2,
          timestamp,
        },
        { key: null, value: null, partition: 0 },
        { key: "routed", value: "by key" },
      ]);
      await assert.rejects(
        producer.send(uniqueName("kafka_missing"), [{ key: null, value: "x" }]),
        /UNKNOWN_TOPIC_OR_PARTITION|does not host this topic/,
      );
    } finally {
      await producer.close();
    }
    const records = await tools.read(topic);
    assert.deepEqual(
      records.map(({ partition, key, value, headers }) => ({
        partition,
        key,
        value,
        headers,
      })).sort((a, b) => (a.key ?? "").localeCompare(b.key ?? "")),
      [
        { partition: 0, key: null, value: null, headers: {} },
        { partition: 2, key: "k1", value: '{"a":"Fré"}', headers: { text: "one", bytes: "two" } },
        // Kafka's murmur2 partitioner: where a Java client puts the same key.
        { partition: partitionOfKey("routed", 3), key: "routed", value: "by key", headers: {} },
      ],
    );
    assert.equal(records.find((r) => r.key === "k1")!.timestamp, timestamp);
  } finally {
    await tools.deleteTopics([topic]);
  }
});

Deno.test("TopicAdmin reads what Kafka's tools made: partitions, watermarks, config, group offsets", async () => {
  const admin = await (await cluster()).connectAdmin();
  const topic = uniqueName("kafka_admin");
  const plain = `${topic}_plain`;
  const group = `${topic}_group`;
  try {
    await tools.createTopic(topic, 2, { "max.message.bytes": "200000" });
    await tools.createTopic(plain, 1);
    await tools.produce(topic, ["a", "b", "c"], { partition: 1, partitions: 2 });
    await tools.setGroupOffset(group, topic, 1, 2n);

    assert.ok(await admin.topicExists(topic));
    assert.ok((await admin.topicNames()).includes(plain));
    const partitions = (await admin.partitions([topic])).get(topic)!;
    assert.deepEqual(partitions.map((p) => [p.partition, p.leader, p.replicas, p.isr]), [
      [0, 1, [1], [1]],
      [1, 1, [1], [1]],
    ]);
    assert.deepEqual(await admin.watermarks(topic), [
      { partition: 0, low: 0n, high: 0n },
      { partition: 1, low: 0n, high: 3n },
    ]);
    assert.deepEqual(await admin.topicConfig(topic), { maxMessageBytes: 200_000 });
    // Without an override the topic takes the broker's default (Kafka's: 1 MiB + 12 bytes).
    assert.deepEqual(await admin.topicConfig(plain), { maxMessageBytes: 1_048_588 });
    await assert.rejects(
      admin.topicConfig(`${topic}_absent`),
      /^Error: Cannot read max\.message\.bytes of topic "kafka_admin_\w+_absent": /,
    );
    assert.equal(await admin.brokerCount(), (await tools.endpoints()).length);

    assert.deepEqual([...await admin.groupOffsets(group, topic)], [[1, 2n]]);
    assert.deepEqual(await admin.groupState(group), { state: "Empty", members: 0 });
    assert.equal(await admin.deleteGroup(group), true);
    assert.equal((await admin.groupOffsets(group, topic)).size, 0);
    assert.equal(await admin.deleteGroup(group), false, "a missing group is not an error");

    assert.equal(
      await admin.createTopic({ topic, partitions: 2, replicationFactor: 1, timeoutMs: 10_000 }),
      false,
      "an existing topic is reported, not an error",
    );
    assert.equal(await admin.deleteTopic(topic, 10_000), true);
    await admin.waitTopicGone(topic, 30_000);
    assert.ok(!(await tools.topicNames()).includes(topic));
    assert.equal(await admin.deleteTopic(topic, 10_000), false);
  } finally {
    await tools.deleteTopics([topic, plain]);
    await admin.close();
  }
});

Deno.test("KafkaCluster reports an unreachable broker as one line and passes the client's log lines on", async () => {
  const settings = (await loadConfig(repoConfigPath)).kafka;
  const lines: string[] = [];
  const unreachable = new KafkaCluster(
    { ...settings, brokers: ["127.0.0.1:1"] },
    { retries: 0, onLog: (line) => lines.push(line) },
  );
  await assert.rejects(unreachable.connectAdmin(5000), (error: Error) => {
    assert.match(error.message, /^Cannot reach Kafka at 127\.0\.0\.1:1: .*ECONNREFUSED/);
    assert.ok(!error.message.includes("\n"), error.message);
    return true;
  });
  assert.ok(lines.length > 0, "no log line from the client");
  assert.ok(lines.every((l) => /^kafka (error|warn|info): \[\w+\] /.test(l)), lines.join("\n"));
});
