import assert from "assert";
import { join } from "node:path";
import { readLines } from "../lib/producer/mod.ts";
import { runEntry, uniqueName, writeTestConfig } from "./_helpers.ts";
import { ensureServices } from "./_services.ts";
import { KafkaTools } from "../dev/testing/mod.ts";

/** The independent client: Kafka's own command-line tools. */
const tools = new KafkaTools("127.0.0.1:9092");
const BAD_LINES = join(import.meta.dirname!, "testdata", "producer", "bad_lines.jsonl");

/** A source handing out the given chunks one read at a time, as a file or pipe would. */
function chunked(chunks: Uint8Array[]) {
  let i = 0;
  return {
    read(p: Uint8Array): Promise<number | null> {
      if (i >= chunks.length) return Promise.resolve(null);
      const chunk = chunks[i++];
      p.set(chunk);
      return Promise.resolve(chunk.byteLength);
    },
  };
}

async function collect(chunks: string[], maxLineBytes?: number) {
  const encoder = new TextEncoder();
  const lines = [];
  for await (
    const line of readLines(chunked(chunks.map((c) => encoder.encode(c))), { maxLineBytes })
  ) {
    lines.push({
      number: line.number,
      text: line.bytes && new TextDecoder().decode(line.bytes),
      sourceBytes: line.sourceBytes,
    });
  }
  return lines;
}

Deno.test("readLines() joins lines split across reads and strips CR and a leading BOM", async () => {
  const lines = await collect(['\ufeff{"a"', ':1}\r\n\n{"b":', "2}\r", '\n{"c":3}']);
  assert.deepEqual(lines.map((l) => [l.number, l.text]), [
    [1, '{"a":1}'],
    [2, ""],
    [3, '{"b":2}'],
    [4, '{"c":3}'],
  ]);
  assert.deepEqual(lines.map((l) => l.sourceBytes), [12, 1, 9, 7]);
});

Deno.test("readLines() does not buffer a line longer than maxLineBytes", async () => {
  const lines = await collect(["short\n", "x".repeat(30), "x".repeat(30), "\nafter\n"], 40);
  assert.deepEqual(lines.map((l) => [l.number, l.text]), [[1, "short"], [2, undefined], [
    3,
    "after",
  ]]);
  assert.equal(lines[1].sourceBytes, 61);
});

/** A fresh topic named in a fresh config; removed with the config folder by cleanup(). */
async function withTopic(test: (topic: string, config: string) => Promise<void>) {
  await ensureServices();
  const topic = uniqueName("producer");
  const config = await writeTestConfig({ topic });
  const created = await runEntry("admin.ts", ["create", "--config", config]);
  assert.equal(created.code, 0, created.stderr);
  try {
    await test(topic, config);
  } finally {
    await runEntry("admin.ts", ["delete", "--config", config]);
    await Deno.remove(join(config, ".."), { recursive: true });
  }
}

/** Reads a whole topic with Kafka's console consumer: [key, payload] per message, in partition order. */
async function readTopic(topic: string): Promise<[string | null, string | null][]> {
  return (await tools.read(topic)).map((r) => [r.key, r.value]);
}

Deno.test("deno task produce sends every line byte for byte, keyed by event_id", async () => {
  await withTopic(async (topic, config) => {
    const dir = await Deno.makeTempDir();
    const file = join(dir, "events.jsonl");
    try {
      const generated = await runEntry("tasks/generate.ts", [
        "--events",
        "3000",
        "--seed",
        "5",
        "--out",
        file,
      ]);
      assert.equal(generated.code, 0, generated.stderr);
      const result = await runEntry("producer.ts", ["--config", config, "--file", file]);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stderr, new RegExp(`sent 3,000 messages .* to topic ${topic}`));
      const lines = (await Deno.readTextFile(file)).trimEnd().split("\n");
      const messages = await readTopic(topic);
      assert.equal(messages.length, 3000);
      const byKey = new Map(messages);
      for (const line of lines) {
        const id = JSON.parse(line).event_id;
        assert.equal(byKey.get(id), line, `payload of ${id}`);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
});

Deno.test("deno task produce reports bad lines by number and sends only good ones", async () => {
  await withTopic(async (topic, config) => {
    const result = await runEntry("producer.ts", ["--config", config, "--file", BAD_LINES]);
    assert.equal(result.code, 1, result.stderr);
    const reported = [...result.stderr.matchAll(/bad_lines\.jsonl:(\d+): skipped: (.*)/g)]
      .map((m) => [Number(m[1]), m[2]]);
    assert.deepEqual(reported.map((r) => r[0]), [4, 5, 7, 9, 11]);
    assert.match(reported[0][1] as string, /^invalid JSON/);
    assert.equal(reported[1][1], "not a JSON object");
    assert.equal(reported[2][1], "missing required key: customer_customer_id");
    assert.equal(reported[3][1], "missing required key: order_id");
    assert.equal(reported[4][1], "number beyond 2^53 in order_n_items");
    assert.match(result.stderr, /sent 5 messages/);
    assert.match(result.stderr, /read 12 lines .*, 2 blank/);
    assert.match(result.stderr, /skipped 5 bad lines: invalid JSON 1, not a JSON object 1/);

    const messages = await readTopic(topic);
    assert.deepEqual(messages.map((m) => m[0]).sort(), [1, 2, 3, 4, 5].map((i) => `good-${i}`));
    const source = (await Deno.readTextFile(BAD_LINES)).replace(/^\ufeff/, "").split("\n");
    const byKey = new Map(messages);
    // BOM and CR are gone; everything else, non-ASCII text included, is the file's bytes.
    assert.equal(byKey.get("good-1"), source[0].replace(/\r$/, ""));
    assert.equal(byKey.get("good-2"), source[1].replace(/\r$/, ""));
    assert.match(byKey.get("good-2")!, /"Fré"/);
    assert.ok(messages.every(([, payload]) => !payload!.includes("\r")));
  });
});

Deno.test("deno task produce --strict sends nothing from the first bad line on", async () => {
  await withTopic(async (topic, config) => {
    const result = await runEntry("producer.ts", [
      "--config",
      config,
      "--file",
      BAD_LINES,
      "--strict",
    ]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /bad_lines\.jsonl:4: skipped: invalid JSON/);
    assert.doesNotMatch(result.stderr, /bad_lines\.jsonl:5:/);
    assert.match(result.stderr, /stopped at the first bad line/);
    const messages = await readTopic(topic);
    assert.deepEqual(messages.map((m) => m[0]).sort(), ["good-1", "good-2"]);
  });
});

Deno.test("deno task produce honours --limit, --no-key and --rate", async () => {
  await withTopic(async (topic, config) => {
    const limited = await runEntry("producer.ts", [
      "--config",
      config,
      "--limit",
      "50",
      "--no-key",
    ]);
    assert.equal(limited.code, 0, limited.stderr);
    assert.match(limited.stderr, /sent 50 messages/);
    let messages = await readTopic(topic);
    assert.equal(messages.length, 50);
    assert.ok(messages.every(([key]) => key === null), "no keys with --no-key");

    const started = performance.now();
    const paced = await runEntry("producer.ts", [
      "--config",
      config,
      "--limit",
      "200",
      "--rate",
      "100",
    ]);
    const seconds = (performance.now() - started) / 1000;
    assert.equal(paced.code, 0, paced.stderr);
    assert.ok(seconds > 1.5 && seconds < 4, `200 messages at 100/s took ${seconds} s`);
    messages = await readTopic(topic);
    assert.equal(messages.length, 250);
  });
});

Deno.test("deno task produce stops with exit 1 and the acknowledged count when sends fail", async () => {
  await withTopic(async (_topic, config) => {
    const dir = await Deno.makeTempDir();
    const file = join(dir, "events.jsonl");
    try {
      await runEntry("tasks/generate.ts", ["--events", "20000", "--out", file]);
      // The topic vanishing mid-file makes every later send fail, as a lost cluster would.
      const producing = runEntry("producer.ts", [
        "--config",
        config,
        "--file",
        file,
        "--rate",
        "4000",
      ]);
      await new Promise((resolve) => setTimeout(resolve, 2000));
      const deleted = await runEntry("admin.ts", ["delete", "--config", config]);
      assert.equal(deleted.code, 0, deleted.stderr);
      const result = await producing;
      assert.equal(result.code, 1, result.stderr);
      const match = result.stderr.match(
        /error: Cannot send to topic .*; ([\d,]+) lines were sent and acknowledged, ([\d,]+) were not/,
      );
      assert.ok(match, result.stderr);
      const sent = Number(match[1].replaceAll(",", ""));
      assert.ok(sent > 0 && sent < 20000, `sent ${sent}`);
      assert.match(result.stderr, new RegExp(`sent ${match[1]} messages`));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  });
});

Deno.test("deno task produce exits 2 when the topic does not exist", async () => {
  await ensureServices();
  const topic = uniqueName("missing");
  const config = await writeTestConfig({ topic });
  try {
    const result = await runEntry("producer.ts", ["--config", config]);
    assert.equal(result.code, 2);
    assert.match(
      result.stderr,
      new RegExp(`error: topic ${topic} does not exist: create it with deno task admin create`),
    );
    // The producer's metadata requests must not have created it.
    assert.ok(!(await tools.topicNames()).includes(topic), `${topic} was created`);
  } finally {
    await Deno.remove(join(config, ".."), { recursive: true });
  }
});

Deno.test("deno task produce exits 2 with a clear message when Kafka is unreachable", async () => {
  const config = await writeTestConfig({ "kafka.brokers": ["127.0.0.1:1"] });
  try {
    const result = await runEntry("producer.ts", ["--config", config]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /error: Cannot reach Kafka at 127\.0\.0\.1:1/);
  } finally {
    await Deno.remove(join(config, ".."), { recursive: true });
  }
});

Deno.test("deno task produce rejects an unsupported codec and a missing file with exit 2", async () => {
  const codec = await runEntry("producer.ts", ["--compression", "brotli"]);
  assert.equal(codec.code, 2);
  assert.match(
    codec.stderr,
    /--compression expects one of none, gzip, snappy, lz4, zstd, got "brotli"/,
  );
  const missing = await runEntry("producer.ts", ["--file", "no/such/file.jsonl"]);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /Cannot read "no\/such\/file\.jsonl": file not found/);
});
