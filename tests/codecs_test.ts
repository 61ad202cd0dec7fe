/**
 * Record batches in every codec Kafka has, against the real broker and checked with Kafka's own
 * Java tools (ConsoleProducer, ConsoleConsumer, LogDirsCommand, DumpLogSegments) from the jars
 * that `deno task services up` fetches; $KAFKA_LIBS points at another copy of those jars.
 */
import assert from "assert";
import { Buffer } from "node:buffer";
import { join } from "node:path";
import { loadConfig, type PipelineConfig, pipelineSpec } from "../lib/config/mod.ts";
import { consume } from "../lib/consumer/mod.ts";
import { generateEvents } from "../dev/generator/mod.ts";
import { batchCodec, KafkaCluster, PRODUCER_COMPRESSIONS } from "../lib/kafka/mod.ts";
import { produceFile } from "../lib/producer/mod.ts";
import { Progress } from "../lib/log/mod.ts";
import { KafkaTools } from "../dev/testing/mod.ts";
import { withTestDatabase } from "./_database.ts";
import { queryRows } from "./_sql.ts";
import { uniqueName, writeTestConfig } from "./_helpers.ts";
import { ensureServices } from "./_services.ts";

const CODECS = ["gzip", "snappy", "lz4", "zstd"] as const;
type Codec = (typeof CODECS)[number];
const EVENTS_PER_CODEC = 200;

/** Distinct events per codec (their own seed), as the JSON Lines a producer sends. */
function eventLines(codec: Codec): { id: string; total: number; line: string }[] {
  const seed = 7001 + CODECS.indexOf(codec);
  return [...generateEvents({ events: EVENTS_PER_CODEC, seed, duplicates: 0, malformed: 0 })].map(
    (event) => ({
      id: String(event.event_id),
      total: Number(event.order_order_total),
      line: JSON.stringify(event),
    }),
  );
}

/** Creates the topics, runs `test`, deletes them (and what else `test` added to the list). */
async function withTopics(
  config: PipelineConfig,
  topics: { name: string; partitions: number }[],
  test: (cleanup: string[]) => Promise<void>,
) {
  const admin = await new KafkaCluster(config.kafka).connectAdmin();
  const cleanup = topics.map((t) => t.name);
  try {
    for (const { name, partitions } of topics) {
      await admin.createTopic({
        topic: name,
        partitions,
        replicationFactor: 1,
        timeoutMs: 10_000,
      });
    }
    await test(cleanup);
  } finally {
    for (const name of cleanup) await admin.deleteTopic(name, 10_000);
    await admin.close();
  }
}

Deno.test("producer.compression accepts exactly the codecs the producer has", () => {
  const producer = pipelineSpec.kind === "object" ? pipelineSpec.fields.producer : undefined;
  const compression = producer?.kind === "object" ? producer.fields.compression : undefined;
  assert.ok(compression?.kind === "string");
  assert.deepEqual(compression.enum, [...PRODUCER_COMPRESSIONS]);
});

Deno.test("each codec restores every byte of empty, small, multi-block and random batches", async () => {
  const json = new TextEncoder().encode(
    eventLines("gzip").map((e) => e.line).join("\n").repeat(3),
  );
  const random = new Uint8Array(200_000);
  for (let at = 0; at < random.length; at += 65_536) {
    crypto.getRandomValues(random.subarray(at, at + 65_536));
  }
  for (const codec of CODECS) {
    for (
      const data of [new Uint8Array(0), json.subarray(0, 1), json.subarray(0, 500), json, random]
    ) {
      const compressed = await batchCodec(codec).compress(data);
      if (data === json) assert.ok(compressed.length < data.length / 2, `${codec} compresses`);
      const restored = await batchCodec(codec).decompress(compressed);
      assert.deepEqual(new Uint8Array(restored), data, `${codec}, ${data.length} bytes`);
    }
  }
});

Deno.test("snappy writes Java's xerial framing and reads raw blocks; bad batches name the codec", async () => {
  const snappy = batchCodec("snappy");
  const xerial = await snappy.compress(new TextEncoder().encode("x".repeat(100_000)));
  // "\x82SNAPPY\0", version 1, compatible version 1, then one length-prefixed block per 32 KiB.
  assert.equal(
    Buffer.from(xerial.subarray(0, 16)).toString("hex"),
    "82534e41505059000000000100000001",
  );
  const view = new DataView(xerial.buffer, xerial.byteOffset, xerial.byteLength);
  let blocks = 0;
  for (let at = 16; at < xerial.length; at += 4 + view.getInt32(at)) blocks++;
  assert.equal(blocks, Math.ceil(100_000 / 32_768));
  // A raw block, as librdkafka writes it: length 5, one literal of 5 bytes.
  const raw = Uint8Array.from([5, (5 - 1) << 2, ...new TextEncoder().encode("hello")]);
  assert.equal(new TextDecoder().decode(await snappy.decompress(raw)), "hello");
  await assert.rejects(
    snappy.decompress(xerial.subarray(0, xerial.length - 10)),
    /Cannot decompress a record batch with snappy \(\d+ bytes\): xerial block at byte \d+ is cut/,
  );
  await assert.rejects(
    batchCodec("lz4").decompress(Uint8Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9])),
    /Cannot decompress a record batch with LZ4 \(9 bytes\): /,
  );
});

Deno.test("batches Kafka's console producer compressed in every codec are all ingested", async () => {
  await ensureServices();
  await withTestDatabase("codecs_in", async (db, config) => {
    const topic = config.kafka.topic;
    const tools = new KafkaTools(config.kafka.brokers[0]);
    const sent = new Map(CODECS.map((codec) => [codec, eventLines(codec)]));
    await withTopics(
      config,
      [{ name: topic, partitions: config.kafka.partitions }],
      async (cleanup) => {
        cleanup.push(config.kafka.deadLetterTopic);
        // Side by side: the topic holds batches of all four codecs, interleaved.
        await Promise.all(
          CODECS.map((codec) =>
            tools.run("org.apache.kafka.tools.ConsoleProducer", [
              "--bootstrap-server",
              config.kafka.brokers.join(","),
              "--topic",
              topic,
              "--compression-codec",
              codec,
              "--property",
              "parse.key=true",
            ], sent.get(codec)!.map((e) => `${e.id}\t${e.line}\n`).join(""))
          ),
        );
        const total = CODECS.length * EVENTS_PER_CODEC;
        const stats = await consume(config, {
          quiet: true,
          maxEvents: total,
          signal: AbortSignal.timeout(45_000),
        });
        assert.equal(stats.messages, total, "every message reached the consumer");
        assert.equal(stats.deadLettered, 0);
        assert.equal(stats.ingested, total);
      },
    );
    const stored = new Map(
      (await queryRows<{ id: string; total: string }>(
        db,
        "SELECT e.event_id AS id, o.order_order_total AS total FROM table_events e " +
          "JOIN table_orders o ON o.order_id = e.order_id JOIN table_predictions p " +
          "ON p.event_id = e.event_id",
      )).map((row) => [row.id, Number(row.total)]),
    );
    for (const [codec, events] of sent) {
      const missing = events.filter((e) => !stored.has(e.id));
      assert.equal(missing.length, 0, `${codec}: ${missing.length} events not stored`);
      const wrong = events.filter((e) => Math.abs(stored.get(e.id)! - e.total) > 0.005);
      assert.equal(wrong.length, 0, `${codec}: ${wrong.length} order totals differ`);
    }
  });
});

Deno.test("batches the producer compressed in every codec read back with Kafka's console consumer", async () => {
  await ensureServices();
  const base = uniqueName("codecs_out");
  const configs = new Map<Codec, PipelineConfig>();
  for (const codec of CODECS) {
    const path = await writeTestConfig({
      topic: `${base}_${codec}`,
      "producer.compression": codec,
    });
    configs.set(codec, await loadConfig(path));
  }
  const first = configs.get("gzip")!;
  const tools = new KafkaTools(first.kafka.brokers[0]);
  const dir = await Deno.makeTempDir({ prefix: "codecs_test_" });
  const topics = CODECS.map((codec) => ({ name: configs.get(codec)!.kafka.topic, partitions: 1 }));
  try {
    await withTopics(first, topics, async () => {
      const expected: string[] = [];
      for (const [codec, config] of configs) {
        const events = eventLines(codec);
        const file = join(dir, `${codec}.jsonl`);
        await Deno.writeTextFile(file, events.map((e) => `${e.line}\n`).join(""));
        expected.push(...events.map((e) => `${e.id}\t${e.line}`));
        const result = await produceFile(config, {
          file,
          topic: config.kafka.topic,
          compression: config.producer.compression,
          progress: new Progress({ terminal: false, write: () => {} }),
        });
        assert.equal(result.failure, undefined);
        assert.equal(result.sent, EVENTS_PER_CODEC, `${codec}: every event acknowledged`);
      }
      const brokers = first.kafka.brokers.join(",");
      const [read, logDirs] = await Promise.all([
        tools.run("org.apache.kafka.tools.consumer.ConsoleConsumer", [
          "--bootstrap-server",
          brokers,
          "--include",
          `^${base}_(${CODECS.join("|")})$`,
          "--from-beginning",
          "--max-messages",
          String(expected.length),
          "--timeout-ms",
          "20000",
          "--property",
          "print.key=true",
          "--group",
          `${base}_java`,
          "--consumer-property",
          "enable.auto.commit=false",
        ]),
        tools.run("org.apache.kafka.tools.LogDirsCommand", [
          "--bootstrap-server",
          brokers,
          "--describe",
          "--topic-list",
          topics.map((t) => t.name).join(","),
        ]),
      ]);
      assert.deepEqual(read.split("\n").filter(Boolean).sort(), expected.sort());

      // What the broker stored: every batch in the codec that was asked for.
      const report = JSON.parse(logDirs.split("\n").find((line) => line.startsWith("{"))!) as {
        brokers: { logDirs: { logDir: string; partitions: { partition: string }[] }[] }[];
      };
      const dirOf = new Map(
        report.brokers.flatMap((b) => b.logDirs).flatMap((d) =>
          d.partitions.map((p) => [p.partition, d.logDir])
        ),
      );
      const segments = topics.map((t) => {
        const partition = `${t.name}-0`;
        assert.ok(dirOf.has(partition), `the broker reports no log directory for ${partition}`);
        return join(dirOf.get(partition)!, partition, "00000000000000000000.log");
      });
      const dump = await tools.run("kafka.tools.DumpLogSegments", [
        "--files",
        segments.join(","),
      ]);
      const sections = dump.split(/^Dumping /m).slice(1);
      assert.equal(sections.length, CODECS.length);
      for (const [i, codec] of CODECS.entries()) {
        const section = sections.find((s) => s.startsWith(segments[i]))!;
        const batches = [
          ...section.matchAll(/ count: (\d+) .* compresscodec: (\w+) .* isvalid: (\w+)/g),
        ];
        assert.ok(batches.length > 0, `${codec}: no batches in ${segments[i]}`);
        assert.deepEqual(new Set(batches.map((b) => b[2])), new Set([codec]));
        assert.ok(batches.every((b) => b[3] === "true"), `${codec}: a batch fails its CRC`);
        const count = batches.reduce((n, b) => n + Number(b[1]), 0);
        assert.equal(count, EVENTS_PER_CODEC, `${codec}: records in the segment`);
      }
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
