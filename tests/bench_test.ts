/** A tiny run of `deno task bench`: every figure is in the JSON, and nothing is left behind. */
import assert from "assert";
import { join } from "node:path";
import { ensureServices } from "./_services.ts";
import { repoConfigPath, repoRoot, runEntry } from "./_helpers.ts";
// Independent check: the databases left on the server are listed with a client of its own.
import mysql from "mysql2/promise";
import { loadConfig } from "../lib/config/mod.ts";
import { KafkaCluster } from "../lib/kafka/mod.ts";
import { lineChart, shortNumber, ticks } from "../dev/bench/mod.ts";

/** Every numeric figure the JSON must carry, by dotted path. */
const FIGURES = [
  "producer.perSecond",
  "drain.perSecond",
  "drain.peakRssBytes",
  "drain.memory.atPeakRss.rss",
  "drain.memory.atPeakRss.heapUsed",
  "drain.memory.atPeakRss.external",
  "drain.cpuCores.consumer",
  "drain.stages.decodeValidate",
  "drain.stages.model",
  "drain.stages.database",
  "drain.stages.kafka",
  "ceilings.database.perSecond",
  "ceilings.kafka.perSecond",
  "ceilings.model.perSecond",
  "drainOverSmallestCeiling",
  "naive.perSecond",
  "naive.speedup",
  "naive.tableEventsBefore",
  "live.0.latencyMs.p50",
  "live.0.latencyMs.p95",
  "live.0.latencyMs.p99",
  "live.0.latencyMs.max",
  "live.2.latencyMs.p99",
];

function pick(value: unknown, path: string): unknown {
  let current = value;
  for (const part of path.split(".")) {
    current = (current as Record<string, unknown> | undefined)?.[part];
  }
  return current;
}

Deno.test("bench.ts --events 2000 writes every figure, checks counts and cleans up", async () => {
  await ensureServices();
  const dir = await Deno.makeTempDir({ prefix: "bench_test_" });
  try {
    const out = join(dir, "result.json");
    const result = await runEntry("tasks/bench.ts", [
      "--events",
      "2000",
      "--naive-events",
      "100",
      "--live-seconds",
      "1",
      "--out",
      out,
    ]);
    assert.equal(result.code, 0, result.stderr);
    const json = JSON.parse(await Deno.readTextFile(out));
    for (const path of FIGURES) {
      const figure = pick(json, path);
      assert.ok(
        typeof figure === "number" && Number.isFinite(figure) && figure >= 0,
        `${path} is ${figure}`,
      );
    }
    assert.equal(json.drain.countsOk, true);
    assert.deepEqual(json.drain.counts, json.drain.expected);
    // The naive run wrote its own events into the drain's database, after the drain's.
    assert.equal(json.naive.countsOk, true);
    assert.equal(json.naive.tableEventsBefore, json.drain.counts.events);
    assert.equal(
      json.settings.consumerMaxFetchBytes,
      (await loadConfig(repoConfigPath)).consumer.maxFetchBytes,
    );
    assert.equal(json.live.length, 3);
    assert.ok(json.live.every((l: { countsOk: boolean }) => l.countsOk));
    // Shares of the consumer's time add up to the whole.
    const s = json.drain.stages;
    assert.ok(Math.abs(s.decodeValidate + s.model + s.database + s.kafka - 1) < 1e-6);
    assert.match(result.stdout, /consumer drain/);
    assert.match(result.stdout, /speed-up over naive/);
    // Its own topics, groups and databases are gone afterwards.
    const config = await loadConfig(repoConfigPath);
    const admin = await new KafkaCluster(config.kafka).connectAdmin();
    try {
      const topics = new Set(await admin.topicNames());
      assert.deepEqual(json.resources.topics.filter((t: string) => topics.has(t)), []);
    } finally {
      await admin.close();
    }
    const url = new URL(config.database.url);
    url.pathname = "/";
    const connection = await mysql.createConnection({ uri: url.toString() });
    try {
      const [rows] = await connection.query("SHOW DATABASES");
      const names = new Set((rows as { Database: string }[]).map((r) => r.Database));
      assert.deepEqual(json.resources.databases.filter((d: string) => names.has(d)), []);
    } finally {
      await connection.end();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  assert.ok(await Deno.stat(join(repoRoot, "dev", "bench", "results", ".gitkeep")));
});

Deno.test("the chart writer draws each curve on shared axes with round ticks", () => {
  assert.deepEqual(ticks(9_000), [0, 2000, 4000, 6000, 8000, 10000]);
  assert.deepEqual(ticks(1_000_000, 5), [0, 200000, 400000, 600000, 800000, 1000000]);
  assert.equal(shortNumber(250_000), "250k");
  assert.equal(shortNumber(1_500_000), "1.5M");
  const svg = lineChart({
    title: "before & after",
    xLabel: "events stored",
    yLabel: "events/s",
    curves: [
      { label: "before <1>", points: [[50_000, 5_000], [100_000, 2_000]] },
      { label: "after", points: [[50_000, 9_000], [100_000, 8_000]] },
    ],
  });
  assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  assert.equal(svg.match(/<path /g)?.length, 2);
  assert.equal(svg.match(/<circle /g)?.length, 4);
  assert.match(svg, /before &lt;1&gt;/);
  assert.match(svg, /before &amp; after/);
  // Both curves share the y axis: 9,000 is drawn above 5,000, and 0 at the bottom edge.
  const ys = [...svg.matchAll(/<circle cx="[\d.]+" cy="([\d.]+)"/g)].map((m) => Number(m[1]));
  assert.ok(ys[2] < ys[0] && ys[0] < ys[1], ys.join(" "));
});

Deno.test("bench.ts --sustained drains into a server of its own, per slice, and draws the curve", async () => {
  await ensureServices();
  const dir = await Deno.makeTempDir({ prefix: "bench_sustained_test_" });
  try {
    const out = join(dir, "sustained.json");
    const result = await runEntry("tasks/bench.ts", [
      "--sustained",
      "3000",
      "--slice",
      "1000",
      "--label",
      "tiny",
      "--out",
      out,
    ]);
    assert.equal(result.code, 0, result.stderr);
    const json = JSON.parse(await Deno.readTextFile(out));
    assert.equal(json.drain.countsOk, true);
    assert.deepEqual(json.drain.counts, json.drain.expected);
    assert.equal(json.server.innodbBufferPoolSize, 128 * 1024 * 1024, "the server's defaults");
    const shared = new URL((await loadConfig(repoConfigPath)).database.url);
    assert.notEqual(json.server.port, Number(shared.port || 3306), "not the shared server");
    assert.ok(json.slices.length >= 2, JSON.stringify(json.slices));
    assert.equal(json.slices.at(-1).eventsTo, 3000);
    for (const slice of json.slices) {
      assert.ok(slice.perSecond > 0 && slice.hitRatio > 0 && slice.hitRatio <= 1);
      assert.ok(slice.readRequestsPerEvent > 0 && slice.pagesReadPerEvent >= 0);
      assert.ok(slice.cpuCores.consumer >= 0 && slice.cpuCores.database >= 0);
    }
    const tables = new Map(
      json.footprint.tables.map((t: { table: string; bytesPerEvent: number }) => [t.table, t]),
    );
    for (const table of ["table_customers", "table_orders", "table_events", "table_predictions"]) {
      assert.ok((tables.get(table) as { dataBytes: number })?.dataBytes > 0, table);
    }
    assert.ok(json.footprint.bytesPerEvent > 0);
    assert.ok(json.bufferPool.some((b: { index: string }) => b.index === "PRIMARY"));
    const svg = await Deno.readTextFile(join(dir, "sustained.svg"));
    assert.match(svg, /<path d="M/);
    assert.match(svg, />tiny</);
    assert.match(result.stdout, /footprint \d+ B\/event/);
    // The chart tool draws several result files on one chart.
    const chart = join(dir, "both.svg");
    const drawn = await runEntry("tasks/bench_chart.ts", [
      "--out",
      chart,
      `${out}=one`,
      `${out}=two`,
    ]);
    assert.equal(drawn.code, 0, drawn.stderr);
    assert.equal((await Deno.readTextFile(chart)).match(/<path /g)?.length, 2);
    // Its topic is gone afterwards (the server and its data folder went with it).
    const admin = await new KafkaCluster((await loadConfig(repoConfigPath)).kafka).connectAdmin();
    try {
      const topics = await admin.topicNames();
      assert.ok(!topics.includes(json.settings.topic), json.settings.topic);
    } finally {
      await admin.close();
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
