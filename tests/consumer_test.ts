import assert from "assert";
import { join } from "node:path";
// Independent check: what the consumer stored is read with a client of its own, not lib/db.
import mysql from "mysql2/promise";
import { loadConfig, type PipelineConfig } from "../lib/config/mod.ts";
import { writeEventsFile } from "../dev/generator/mod.ts";
import { KafkaCluster } from "../lib/kafka/mod.ts";
import { KafkaTools } from "../dev/testing/mod.ts";
import { dropDatabase, repoRoot, runEntry, uniqueName, writeTestConfig } from "./_helpers.ts";
import { ensureServices } from "./_services.ts";

/** The independent client: Kafka's own command-line tools. */
const tools = new KafkaTools("127.0.0.1:9092");
const MALFORMED = join(import.meta.dirname!, "testdata", "consumer", "malformed.json");

interface Setup {
  configPath: string;
  config: PipelineConfig;
  dir: string;
  sql<T = Record<string, unknown>>(query: string, params?: unknown[]): Promise<T[]>;
}

/** A topic, a dead-letter topic and a database of the test's own; all removed afterwards. */
async function withPipeline(
  overrides: Record<`${string}.${string}`, unknown>,
  test: (setup: Setup) => Promise<void>,
) {
  await ensureServices();
  const topic = uniqueName("consumer");
  const configPath = await writeTestConfig({ topic, ...overrides });
  const config = await loadConfig(configPath);
  const admin = await new KafkaCluster(config.kafka).connectAdmin();
  let connection: mysql.Connection | undefined;
  try {
    await admin.createTopic({
      topic,
      partitions: config.kafka.partitions,
      replicationFactor: 1,
      timeoutMs: 10_000,
    });
    const sql = async <T>(query: string, params: unknown[] = []) => {
      if (!connection) {
        const url = new URL((await loadConfig(join(repoRoot, "pipeline.yaml"))).database.url);
        url.pathname = `/${topic}`;
        connection = await mysql.createConnection({ uri: url.toString(), timezone: "Z" });
      }
      const [rows] = await connection.query(query, params);
      return rows as T[];
    };
    await test({ configPath, config, dir: join(configPath, ".."), sql });
  } finally {
    await connection?.end();
    for (const name of [topic, config.kafka.deadLetterTopic]) {
      await admin.deleteTopic(name, 10_000);
    }
    await admin.close();
    await dropDatabase(topic);
    await Deno.remove(join(configPath, ".."), { recursive: true });
  }
}

function consume(setup: Setup, ...args: string[]) {
  return runEntry("consumer.ts", ["--config", setup.configPath, ...args]);
}

/** Writes generated events to a file of the test's own and produces them. */
async function produceGenerated(setup: Setup, options: { events: number; seed: number }) {
  const file = join(setup.dir, "events.jsonl");
  const stats = await writeEventsFile(file, options);
  await produceFile(setup, file);
  return { file, stats };
}

async function produceFile(setup: Setup, file: string) {
  const result = await runEntry("producer.ts", ["--config", setup.configPath, "--file", file]);
  assert.equal(result.code, 0, result.stderr);
}

/** Sends raw messages (bytes as given, key as given) with the project's own Kafka client. */
async function sendRaw(
  config: PipelineConfig,
  messages: { key: string; value: Uint8Array | null }[],
) {
  const producer = await new KafkaCluster(config.kafka).connectProducer({
    acks: "all",
    compression: "none",
  });
  try {
    await producer.send(config.kafka.topic, messages);
  } finally {
    await producer.close();
  }
}

/** Every message of a topic as Kafka's console consumer prints it, headers as an object. */
async function readWithTools(topic: string) {
  return (await tools.read(topic)).map((r) => ({
    key: r.key,
    payload: r.value,
    headers: r.headers,
  }));
}

async function messageCount(config: PipelineConfig, topic: string): Promise<number> {
  const admin = await new KafkaCluster(config.kafka).connectAdmin();
  try {
    const marks = await admin.watermarks(topic);
    return marks.reduce((sum, m) => sum + Number(m.high - m.low), 0);
  } finally {
    await admin.close();
  }
}

async function counts(setup: Setup) {
  const result: Record<string, number> = {};
  for (const table of ["table_customers", "table_orders", "table_events", "table_predictions"]) {
    const [row] = await setup.sql<{ n: number }>(`SELECT COUNT(*) AS n FROM ${table}`);
    result[table] = Number(row.n);
  }
  return result;
}

async function readJsonl(file: string): Promise<Record<string, unknown>[]> {
  return (await Deno.readTextFile(file)).split("\n").filter(Boolean).map((l) => JSON.parse(l));
}

function lines(text: string, prefix: string): string[] {
  return text.split("\n").filter((l) => l.startsWith(prefix));
}

/** The counters of the consumer's final [DONE] line. */
function done(stdout: string): Record<string, number> {
  const line = lines(stdout, "[DONE]")[0];
  assert.ok(line, `no [DONE] line in:\n${stdout.slice(-2000)}`);
  return Object.fromEntries(
    [...line.matchAll(/(\w+)=([\d.]+)/g)].map(([, k, v]) => [k, Number(v)]),
  );
}

Deno.test("consumer.ts --help prints usage and exits 0", async () => {
  const result = await runEntry("consumer.ts", ["--help"]);
  assert.equal(result.code, 0);
  assert.match(result.stdout, /USAGE:\n {2}deno task consume/);
  assert.match(result.stdout, /--until-idle \[MS\]/);
});

Deno.test("consumer.ts rejects a bad flag value with exit code 2", async () => {
  const result = await runEntry("consumer.ts", ["--max-events", "zero"]);
  assert.equal(result.code, 2);
  assert.match(result.stderr, /error: --max-events expects an integer/);
});

Deno.test("consumer.ts stops at start with one clear line: topic missing, database unreachable", async () => {
  await withPipeline({}, async (setup) => {
    const missing = await consume(setup, "--topic", uniqueName("absent"));
    assert.equal(missing.code, 2, missing.stderr);
    assert.match(missing.stderr, /error: Cannot consume topic "absent_\w+": it does not exist/);
    assert.match(missing.stderr, /deno task admin create/);

    const badDb = join(setup.dir, "bad_db.yaml");
    const text = await Deno.readTextFile(setup.configPath);
    await Deno.writeTextFile(
      badDb,
      text.replace(/url: .*/, "url: mysql://root:s3cret@127.0.0.1:1/nowhere"),
    );
    const unreachable = await runEntry("consumer.ts", ["--config", badDb]);
    assert.equal(unreachable.code, 2, unreachable.stderr);
    assert.match(unreachable.stderr, /error: Cannot connect to database/);
    assert.ok(!unreachable.stderr.includes("s3cret"), "the password was printed");
    assert.ok(!unreachable.stdout.includes("[OK] Consumer started"));
  });
});

Deno.test("consumer.ts ingests a generated file end to end: counts, defaults, FK integrity, §8.2 SQL", async () => {
  await withPipeline({}, async (setup) => {
    const file = join(setup.dir, "events.jsonl");
    const stats = await writeEventsFile(file, {
      events: 600,
      seed: 11,
      duplicates: 0.05,
      missingOptional: 0.3,
    });
    const events = await readJsonl(file);
    await produceFile(setup, file);
    const before = new Date();
    const result = await consume(setup, "--until-idle", "1500");
    assert.equal(result.code, 0, result.stderr);
    assert.equal(lines(result.stdout, "[OK] Consumer started. Waiting for messages...").length, 1);
    const ok = lines(result.stdout, "[OK] event_id=");
    assert.equal(ok.length, stats.events);
    assert.match(ok[0], /^\[OK\] event_id=\S+ ingested \| return_proba=0\.\d{3}$/);
    assert.equal(lines(result.stdout, "[SKIP] event_id=").length, stats.duplicates);
    assert.deepEqual(
      [done(result.stdout).ingested, done(result.stdout).duplicates, done(result.stdout).lag],
      [stats.events, stats.duplicates, 0],
    );

    const distinct = (key: string) => new Set(events.map((e) => e[key])).size;
    assert.deepEqual(await counts(setup), {
      table_customers: distinct("customer_customer_id"),
      table_orders: distinct("order_id"),
      table_events: stats.events,
      table_predictions: stats.events,
    });

    // Defaults: an event without order_device (or event_time) got "unknown" (or the time of consumption).
    const noDevice = events.find((e) => !("order_device" in e))!;
    const [order] = await setup.sql<{ order_device: string }>(
      "SELECT order_device FROM table_orders WHERE order_id = ?",
      [noDevice.order_id],
    );
    assert.equal(order.order_device, "unknown");
    const noTime = events.find((e) => !("event_time" in e));
    if (noTime) {
      const [row] = await setup.sql<{ event_time: Date }>(
        "SELECT event_time FROM table_events WHERE event_id = ?",
        [noTime.event_id],
      );
      assert.ok(row.event_time.getTime() >= before.getTime() - 1000, String(row.event_time));
    }

    // Foreign keys: no prediction, event or order points at a missing parent.
    const orphans = await setup.sql<{ n: number }>(`
      SELECT (SELECT COUNT(*) FROM table_predictions p LEFT JOIN table_events e USING (event_id)
              WHERE e.event_id IS NULL)
           + (SELECT COUNT(*) FROM table_events e LEFT JOIN table_orders o USING (order_id)
              WHERE o.order_id IS NULL)
           + (SELECT COUNT(*) FROM table_orders o LEFT JOIN table_customers c
              USING (customer_customer_id) WHERE c.customer_customer_id IS NULL) AS n`);
    assert.equal(Number(orphans[0].n), 0);

    // The guide's §8.2 checks, verbatim.
    for (const table of ["table_customers", "table_orders", "table_events", "table_predictions"]) {
      const [row] = await setup.sql<Record<string, number>>(`SELECT COUNT(*) FROM ${table};`);
      assert.ok(Number(row["COUNT(*)"]) > 0);
    }
    const latest = await setup.sql<{ return_proba: number }>(
      `SELECT event_id, order_id, customer_customer_id, return_proba
FROM table_predictions
ORDER BY event_id DESC
LIMIT 10;`,
    );
    assert.equal(latest.length, 10);
    for (const row of latest) assert.ok(row.return_proba >= 0 && row.return_proba <= 1);
  });
});

Deno.test("consumer.ts: producing the same file twice adds no rows and reports duplicates", async () => {
  await withPipeline({}, async (setup) => {
    const { file, stats } = await produceGenerated(setup, { events: 300, seed: 5 });
    const first = await consume(setup, "--until-idle", "1000", "--quiet");
    assert.equal(first.code, 0, first.stderr);
    assert.equal(lines(first.stdout, "[OK] event_id=").length, 0, "--quiet printed events");
    const after = await counts(setup);

    await produceFile(setup, file);
    const second = await consume(setup, "--until-idle", "1000");
    assert.equal(second.code, 0, second.stderr);
    assert.deepEqual(await counts(setup), after);
    assert.equal(after.table_events, stats.events);
    assert.equal(done(second.stdout).ingested, 0);
    assert.equal(done(second.stdout).duplicates, stats.lines);
    assert.equal(lines(second.stdout, "[SKIP] event_id=").length, stats.lines);
    assert.match(second.stdout, /^\[SKIP\] event_id=\S+ duplicate$/m);
  });
});

Deno.test("consumer.ts dead-letters a malformed corpus with reasons and ingests the good events around it", async () => {
  await withPipeline({ "kafka.partitions": 1 }, async (setup) => {
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
    const messages: { key: string; value: Uint8Array | null }[] = [];
    const expected = new Map<number, (typeof cases)[number]>();
    const good = (i: number) => ({
      event_id: `good-${i}`,
      order_id: `order-${i}`,
      customer_customer_id: `customer-${i % 3}`,
      order_n_items: 2,
      order_basket_value: 10.5,
    });
    for (const [i, c] of cases.entries()) {
      messages.push({ key: `good-${i}`, value: encoder.encode(JSON.stringify(good(i))) });
      const value = c.base64 !== undefined
        ? Uint8Array.from(atob(c.base64), (ch) => ch.charCodeAt(0))
        : c.text === ""
        ? null
        : encoder.encode(c.pad ? c.text!.replace("PAD", "x".repeat(c.pad)) : c.text!);
      expected.set(messages.length, c);
      messages.push({ key: `bad-${i}`, value });
    }
    // Keys without a column (undeclared here) are stored in table_events.extra_fields.
    const last = { ...good(999), coupon: "LAST", basket: [{ sku: "A1", qty: 2 }] };
    messages.push({ key: "good-last", value: encoder.encode(JSON.stringify(last)) });
    await sendRaw(setup.config, messages);

    const result = await consume(setup, "--until-idle", "1000");
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /Created dead-letter topic "consumer_\w+\.dlq" \(1 partition/);
    assert.equal(lines(result.stdout, "[DLQ] offset=").length, cases.length);
    assert.equal((await counts(setup)).table_events, cases.length + 1);
    assert.equal((await counts(setup)).table_predictions, cases.length + 1);
    const extras = await setup.sql<{ id: string; extra: unknown }>(
      "SELECT event_id AS id, extra_fields AS extra FROM table_events " +
        "WHERE event_id IN ('good-0', 'good-999') ORDER BY event_id",
    );
    // This connection parses JSON columns.
    assert.deepEqual(extras.map((r) => [r.id, r.extra]), [
      ["good-0", null],
      ["good-999", { coupon: "LAST", basket: [{ sku: "A1", qty: 2 }] }],
    ]);

    const letters = await readWithTools(setup.config.kafka.deadLetterTopic);
    assert.equal(letters.length, cases.length);
    for (const letter of letters) {
      const offset = Number(letter.headers["dlq-source-offset"]);
      const c = expected.get(offset);
      assert.ok(c, `unexpected dead letter from offset ${offset}`);
      assert.ok(
        letter.headers["dlq-reason"].startsWith(c.reason),
        `${c.name}: "${letter.headers["dlq-reason"]}" should start with "${c.reason}"`,
      );
      assert.equal(letter.headers["dlq-field"], c.field ?? "", c.name);
      assert.equal(letter.headers["dlq-source-topic"], setup.config.kafka.topic);
      assert.equal(letter.headers["dlq-source-partition"], "0");
      assert.ok(!Number.isNaN(Date.parse(letter.headers["dlq-time"])));
      assert.equal(letter.key, messages[offset].key, c.name);
      if (c.text !== undefined && !c.pad && c.text !== "") {
        assert.equal(letter.payload, c.text, c.name);
      }
    }
  });
});

/** Rows of table_events, polled until `predicate` holds. */
async function waitForRows(setup: Setup, predicate: (n: number) => boolean, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    // The consumer creates the database: until it has, there is nothing to count.
    const n = await counts(setup).then((c) => c.table_events, () => -1);
    if (n >= 0 && predicate(n)) return n;
    if (Date.now() > deadline) {
      throw new Error(`Cannot see the expected rows: ${n} after ${timeoutMs} ms`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

function spawnConsumer(setup: Setup, ...args: string[]) {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "consumer.ts", "--config", setup.configPath, ...args],
    cwd: repoRoot,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

Deno.test("consumer.ts killed with SIGKILL mid-stream, then restarted: every event once, one prediction each", async () => {
  await withPipeline({ "consumer.duplicates": "skip" }, async (setup) => {
    const { stats } = await produceGenerated(setup, { events: 8000, seed: 3 });
    const child = spawnConsumer(setup, "--quiet");
    const seen = await waitForRows(setup, (n) => n > 0, 60_000);
    child.kill("SIGKILL");
    await child.output();
    const atKill = (await counts(setup)).table_events;
    assert.ok(seen < stats.events && atKill < stats.events, `killed too late: ${atKill} rows`);

    const restart = await consume(setup, "--until-idle", "1500", "--quiet");
    assert.equal(restart.code, 0, restart.stderr);
    const final = await counts(setup);
    assert.equal(final.table_events, stats.events);
    assert.equal(final.table_predictions, stats.events);
    // Redelivered messages were recognised by their stored offsets, not mistaken for duplicates.
    assert.equal(done(restart.stdout).duplicates, 0);
    assert.equal(done(restart.stdout).ingested, stats.events - atKill);
    const doubles = await setup.sql(
      "SELECT event_id FROM table_predictions GROUP BY event_id HAVING COUNT(*) > 1",
    );
    assert.equal(doubles.length, 0);
  });
});

/** A TCP proxy to MariaDB that the test can cut (connections dropped, new ones refused) and restore. */
class CuttableProxy {
  #listener: Deno.Listener | undefined;
  #conns = new Set<Deno.Conn>();
  port = 0;

  constructor(private target: { hostname: string; port: number }) {}

  start(): void {
    this.#listener = Deno.listen({ hostname: "127.0.0.1", port: this.port });
    this.port = (this.#listener.addr as Deno.NetAddr).port;
    this.#accept(this.#listener);
  }

  async #accept(listener: Deno.Listener) {
    try {
      for await (const client of listener) {
        Deno.connect(this.target).then((server) => {
          this.#conns.add(client).add(server);
          const close = () => {
            for (const c of [client, server]) {
              this.#conns.delete(c);
              try {
                c.close();
              } catch { /* already closed */ }
            }
          };
          client.readable.pipeTo(server.writable).catch(() => {}).finally(close);
          server.readable.pipeTo(client.writable).catch(() => {}).finally(close);
        }, () => client.close());
      }
    } catch { /* listener closed */ }
  }

  cut(): void {
    this.#listener?.close();
    this.#listener = undefined;
    for (const c of this.#conns) {
      try {
        c.close();
      } catch { /* already closed */ }
    }
    this.#conns.clear();
  }
}

Deno.test("consumer.ts rides out a lost database connection: nothing lost, nothing dead-lettered", async () => {
  const base = new URL((await loadConfig(join(repoRoot, "pipeline.yaml"))).database.url);
  const proxy = new CuttableProxy({ hostname: base.hostname, port: Number(base.port || 3306) });
  proxy.start();
  const name = uniqueName("consumer_db");
  const url = new URL(base);
  url.port = String(proxy.port);
  url.pathname = `/${name}`;
  await withPipeline({ "database.url": url.toString() }, async (setup) => {
    // The database this config uses is reached only through the proxy.
    setup.sql = (async (query: string, params: unknown[] = []) => {
      const direct = new URL(base);
      direct.pathname = `/${name}`;
      const connection = await mysql.createConnection({ uri: direct.toString() });
      try {
        return (await connection.query(query, params))[0];
      } finally {
        await connection.end();
      }
    }) as Setup["sql"];
    const first = join(setup.dir, "first.jsonl");
    const second = join(setup.dir, "second.jsonl");
    const a = await writeEventsFile(first, { events: 500, seed: 21 });
    const b = await writeEventsFile(second, { events: 500, seed: 22 });
    const child = spawnConsumer(setup, "--until-idle", "3000", "--quiet");
    try {
      await produceFile(setup, first);
      await waitForRows(setup, (n) => n === a.events, 60_000);
      proxy.cut();
      await produceFile(setup, second);
      await new Promise((r) => setTimeout(r, 4000));
      assert.equal(
        (await counts(setup)).table_events,
        a.events,
        "written while the database was cut",
      );
      proxy.start();
      const output = await child.output();
      const stdout = new TextDecoder().decode(output.stdout);
      const stderr = new TextDecoder().decode(output.stderr);
      assert.equal(output.code, 0, stderr);
      assert.match(stderr, /Cannot apply batch .*retrying/);
      assert.deepEqual([done(stdout).ingested, done(stdout).dead_lettered], [
        a.events + b.events,
        0,
      ]);
      const final = await counts(setup);
      assert.equal(final.table_events, a.events + b.events);
      assert.equal(final.table_predictions, a.events + b.events);
      assert.equal(await messageCount(setup.config, setup.config.kafka.deadLetterTopic), 0);
    } finally {
      proxy.cut();
      try {
        child.kill("SIGKILL");
      } catch { /* already exited */ }
      await dropDatabase(name);
    }
  });
});

Deno.test("consumer.ts exits 0 on SIGTERM with what it committed consistent", async () => {
  await withPipeline({}, async (setup) => {
    const { stats } = await produceGenerated(setup, { events: 3000, seed: 8 });
    const child = spawnConsumer(setup, "--quiet");
    await waitForRows(setup, (n) => n > 0, 60_000);
    child.kill("SIGTERM");
    const output = await child.output();
    const stdout = new TextDecoder().decode(output.stdout);
    assert.equal(output.code, 0, new TextDecoder().decode(output.stderr));
    const final = await counts(setup);
    assert.equal(final.table_predictions, final.table_events);
    assert.equal(done(stdout).ingested, final.table_events);
    assert.ok(final.table_events <= stats.events);
  });
});

Deno.test("consumer.ts --max-events stops after N messages and the next run takes the rest", async () => {
  await withPipeline({}, async (setup) => {
    const { stats } = await produceGenerated(setup, { events: 300, seed: 9 });
    const first = await consume(setup, "--max-events", "100", "--quiet");
    assert.equal(first.code, 0, first.stderr);
    assert.equal(done(first.stdout).ingested, 100);
    assert.equal((await counts(setup)).table_events, 100);
    const rest = await consume(setup, "--until-idle", "1000", "--quiet");
    assert.equal(rest.code, 0, rest.stderr);
    assert.deepEqual([done(rest.stdout).ingested, done(rest.stdout).duplicates], [
      stats.events - 100,
      0,
    ]);
  });
});

/** The database loses what it stored from `offset` on in every partition, offsets included. */
async function forgetFrom(setup: Setup, offset: number) {
  await setup.sql(
    "DELETE p FROM table_predictions p JOIN table_events e USING (event_id) " +
      "WHERE e.source_offset >= ?",
    [offset],
  );
  await setup.sql("DELETE FROM table_events WHERE source_offset >= ?", [offset]);
  await setup.sql("UPDATE pipeline_offsets SET next_offset = ?", [offset]);
}

Deno.test("consumer.ts reads again what the database lost: its stored offsets behind Kafka's", async () => {
  await withPipeline({}, async (setup) => {
    const { stats } = await produceGenerated(setup, { events: 300, seed: 11 });
    const first = await consume(setup, "--until-idle", "1000", "--quiet");
    assert.equal(first.code, 0, first.stderr);
    // The database loses its last commits (as when restored from an older backup): the rows
    // read from offset 40 on go and the stored offsets move back to 40. Kafka's committed
    // offsets stay at the end of each partition.
    await forgetFrom(setup, 40);
    const kept = (await counts(setup)).table_events;
    assert.ok(kept > 0 && kept < stats.events, `${kept}`);
    const again = await consume(setup, "--until-idle", "1000", "--quiet");
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, /records 40\.\.\d+ were never stored .*from offset 40/);
    assert.deepEqual([done(again.stdout).ingested, done(again.stdout).duplicates], [
      stats.events - kept,
      0,
    ]);
    const after = await counts(setup);
    assert.deepEqual([after.table_events, after.table_predictions], [stats.events, stats.events]);
    const [offsets] = await setup.sql<{ n: number }>(
      "SELECT SUM(next_offset) AS n FROM pipeline_offsets",
    );
    assert.equal(Number(offsets.n), stats.events);

    // Again, but retention has meanwhile deleted each partition's records below 60: those
    // from 40 to 59 are gone (said so), the rest is read again.
    await forgetFrom(setup, 40);
    const partitions = await tools.partitionCount(setup.config.kafka.topic);
    for (let p = 0; p < partitions; p++) {
      await tools.deleteRecords(setup.config.kafka.topic, p, 60n);
    }
    const retained = await consume(setup, "--until-idle", "1000", "--quiet");
    assert.equal(retained.code, 0, retained.stderr);
    assert.match(retained.stderr, /records 40\.\.59 are no longer in the topic/);
    const [lost] = await setup.sql<{ n: number }>(
      "SELECT COUNT(*) AS n FROM table_events WHERE source_offset BETWEEN 40 AND 59",
    );
    assert.equal(Number(lost.n), 0);
    assert.equal((await counts(setup)).table_events, stats.events - 20 * partitions);
  });
});

/**
 * Committed offsets of a group as Kafka's own tool lists them, "topic:partition" -> offset;
 * null when the tool does not know the group.
 */
async function groupOffsetsByTool(group: string): Promise<Record<string, string> | null> {
  const text = await tools.run("org.apache.kafka.tools.consumer.group.ConsumerGroupCommand", [
    "--bootstrap-server",
    tools.bootstrap,
    "--describe",
    "--group",
    group,
    "--offsets",
  ]);
  // The tool prints its errors on stdout and exits 0.
  if (text.includes("GroupIdNotFoundException")) return null;
  if (/^Error:/m.test(text)) throw new Error(`Cannot describe group "${group}": ${text.trim()}`);
  const offsets: Record<string, string> = {};
  for (const line of text.split("\n")) {
    const [name, topic, partition, offset] = line.trim().split(/\s+/);
    if (name === group && /^\d+$/.test(partition)) offsets[`${topic}:${partition}`] = offset;
  }
  return offsets;
}

/** What the demo owns for this setup's config: names written out, not derived by its code. */
function demoNames(setup: Setup) {
  const topic = setup.config.kafka.topic;
  return {
    topic: `${topic}_demo`,
    deadLetterTopic: `${topic}_demo.dlq`,
    group: `${topic}_group_demo`,
    database: `${topic}_demo`,
  };
}

/** A config of the setup's whose sample file does not exist yet; the demo's leftovers removed. */
async function withDemo(setup: Setup, test: (configPath: string) => Promise<void>) {
  const sample = join(setup.dir, "sample.jsonl");
  const configPath = join(setup.dir, "demo.yaml");
  await Deno.writeTextFile(
    configPath,
    (await Deno.readTextFile(setup.configPath)).replace(/file: .*/, `file: ${sample}`),
  );
  const own = demoNames(setup);
  try {
    await test(configPath);
  } finally {
    await tools.deleteTopics([own.topic, own.deadLetterTopic]);
    await dropDatabase(own.database);
    const admin = await new KafkaCluster(setup.config.kafka).connectAdmin();
    await admin.deleteGroup(own.group).finally(() => admin.close());
  }
}

/** Asked on a connection of its own: the setup's database may not exist. */
async function databaseExists(name: string): Promise<boolean> {
  const url = new URL((await loadConfig(join(repoRoot, "pipeline.yaml"))).database.url);
  url.pathname = "/";
  const connection = await mysql.createConnection({ uri: url.toString() });
  try {
    const [rows] = await connection.query(
      "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
      [name],
    );
    return (rows as unknown[]).length === 1;
  } finally {
    await connection.end();
  }
}

Deno.test("demo.ts runs the guide end to end on its own names, and again on a rerun", async () => {
  await withPipeline({}, async (setup) => {
    await withDemo(setup, async (configPath) => {
      const own = demoNames(setup);
      for (const run of [1, 2]) {
        // The sample file is missing at the first run: the demo generates it.
        const args = ["--config", configPath, "--events", "400", ...(run === 2 ? ["--clean"] : [])];
        const result = await runEntry("tasks/demo.ts", args);
        assert.equal(result.code, 0, result.stderr);
        assert.match(
          result.stderr,
          run === 1 ? /demo: generated .*400 events/ : /exists; using it/,
        );
        assert.match(result.stderr, /demo: emptied table_predictions/);
        assert.match(result.stdout, /^SELECT COUNT\(\*\) FROM table_events; +400$/m);
        assert.match(result.stdout, /^SELECT COUNT\(\*\) FROM table_predictions; +400$/m);
        assert.ok(result.stdout.includes("ORDER BY event_id DESC\nLIMIT 10;\nevent_id"));
        assert.equal(lines(result.stdout, "[DONE]").length, 1);
        assert.equal(done(result.stdout).ingested, 400);
        assert.ok(
          result.stderr.includes(
            `demo: uses its own topic "${own.topic}", dead-letter topic "${own.deadLetterTopic}", ` +
              `group "${own.group}" and database mysql://root@127.0.0.1:3306/${own.database}`,
          ),
          result.stderr,
        );
        assert.equal(await databaseExists(own.database), run === 1);
      }
      // --clean removed what the demo owned, and only that.
      const topics = await tools.topicNames();
      assert.deepEqual([own.topic, own.deadLetterTopic].filter((t) => topics.includes(t)), []);
      assert.ok(topics.includes(setup.config.kafka.topic));
      assert.equal(await groupOffsetsByTool(own.group), null);
    });
  });
});

Deno.test("demo.ts leaves pipeline.yaml's group offsets, topic and tables as they are", async () => {
  await withPipeline({}, async (setup) => {
    // pipeline.yaml's pipeline has consumed 300 events: rows stored, offsets committed.
    const file = join(setup.dir, "events.jsonl");
    await writeEventsFile(file, { events: 300, seed: 9 });
    await produceFile(setup, file);
    const consumed = await consume(setup, "--until-idle", "1000", "--quiet");
    assert.equal(consumed.code, 0, consumed.stderr);
    const group = setup.config.kafka.consumerGroup;
    const offsets = await groupOffsetsByTool(group);
    assert.equal(Object.values(offsets ?? {}).reduce((sum, o) => sum + Number(o), 0), 300);
    const rows = await counts(setup);
    assert.equal(rows.table_events, 300);

    await withDemo(setup, async (configPath) => {
      const result = await runEntry("tasks/demo.ts", ["--config", configPath, "--events", "400"]);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(done(result.stdout).ingested, 400);
    });

    assert.deepEqual(await groupOffsetsByTool(group), offsets);
    assert.deepEqual(await counts(setup), rows);
    assert.equal(await tools.highWatermark(setup.config.kafka.topic), 300n);
  });
});

Deno.test("demo.ts --use-configured runs on pipeline.yaml's names and keeps its group", async () => {
  await withPipeline({}, async (setup) => {
    const { topic, consumerGroup: group } = setup.config.kafka;
    // The group's offset on another topic would be lost if the demo deleted the group.
    const other = `${topic}_other`;
    await tools.createTopic(other, 1);
    try {
      await tools.produce(other, ["a", "b"]);
      await tools.setGroupOffset(group, other, 0, 1n);
      await withDemo(setup, async (configPath) => {
        const result = await runEntry("tasks/demo.ts", [
          "--config",
          configPath,
          "--events",
          "400",
          "--use-configured",
        ]);
        assert.equal(result.code, 0, result.stderr);
        assert.equal(done(result.stdout).ingested, 400);
        assert.match(result.stderr, new RegExp(`group "${group}" kept`));
        assert.equal(await databaseExists(demoNames(setup).database), false);
      });
      assert.equal((await counts(setup)).table_events, 400);
      const offsets = await groupOffsetsByTool(group) ?? {};
      assert.equal(offsets[`${other}:0`], "1");
      const onTopic = Object.entries(offsets).filter(([k]) => k.startsWith(`${topic}:`));
      assert.equal(onTopic.reduce((sum, [, o]) => sum + Number(o), 0), 400);
    } finally {
      await tools.deleteTopics([other]);
    }
  });
});

Deno.test("demo.ts refuses --clean with --use-configured (exit 2)", async () => {
  const result = await runEntry("tasks/demo.ts", [
    "--config",
    await writeTestConfig(),
    "--clean",
    "--use-configured",
  ]);
  assert.equal(result.code, 2, result.stderr);
  assert.match(result.stderr, /^error: Cannot combine --clean with --use-configured/m);
});
