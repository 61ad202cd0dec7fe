/** A tiny run of `deno task bench`: every figure is in the JSON, and nothing is left behind. */
import assert from "assert";
import { join } from "node:path";
import { ensureServices } from "./_services.ts";
import { repoConfigPath, repoRoot, runEntry } from "./_helpers.ts";
// Independent check: the databases left on the server are listed with a client of its own.
import mysql from "mysql2/promise";
import { loadConfig } from "../lib/config/mod.ts";
import { KafkaCluster } from "../lib/kafka/mod.ts";

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
