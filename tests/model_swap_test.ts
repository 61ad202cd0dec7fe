import assert from "assert";
import { join } from "node:path";
import { loadConfig } from "../lib/config/mod.ts";
import { writeEventsFile } from "../dev/generator/mod.ts";
import { runEntry } from "./_helpers.ts";
import {
  copyDefaultModel,
  mappingSection,
  type Pipeline,
  produce,
  publish,
  rowCount,
  scoreFile,
  spawnEntry,
  trainCandidate,
  waitFor,
  withPipeline,
  writeFailingModel,
} from "./_model_pipeline.ts";

/** The committed mapping, written out for model.shadow (same inputs, same output). */
async function shadowSection(path: string) {
  return { path, ...(await mappingSection()) };
}

/** Same probability, but for one float64 ulp (onnxruntime's Sigmoid on a lone row). */
function near(actual: number | undefined, expected: number | undefined, id: string) {
  assert.ok(
    actual !== undefined && expected !== undefined && Math.abs(actual - expected) <= 1e-12,
    `${id}: ${actual} != ${expected}`,
  );
}

async function versions(p: Pipeline, ids: Iterable<string>) {
  const rows = await p.sql()<{ event_id: string; model_version: string; return_proba: number }>(
    "SELECT event_id, model_version, return_proba FROM table_predictions WHERE event_id IN (?)",
    [[...ids]],
  );
  return new Map(rows.map((r) => [r.event_id, r]));
}

Deno.test("hot swap under a running consumer: the new version scores the rows written after the swap, a broken file keeps the old model", async () => {
  await withPipeline(async (p) => {
    const livePath = await copyDefaultModel(join(p.dir, "models"));
    const configPath = await p.config({ "model.path": livePath });
    const config = await loadConfig(configPath);
    const candidate = await trainCandidate(config, join(p.dir, "candidates", "next.onnx"));
    const files = await Promise.all([1, 2, 3].map(async (seed) => {
      const file = join(p.dir, `batch${seed}.jsonl`);
      await writeEventsFile(file, { events: 300, seed: 100 + seed, duplicates: 0 });
      return file;
    }));
    const before = await scoreFile(config, livePath, files[0]);
    const middle = await scoreFile(config, livePath, files[1]);
    const after = await scoreFile(config, candidate, files[2]);
    assert.notEqual(before.version, after.version);
    assert.match(after.version, /^sha256:[0-9a-f]{16}\+card:2$/);

    const consumer = spawnEntry("consumer.ts", ["--config", configPath, "--quiet"]);
    const events = () => rowCount(p.sql(), "table_predictions");
    try {
      await waitFor("the consumer to start", () => consumer.stdout().includes("[OK] Consumer"));
      await produce(configPath, files[0]);
      await waitFor("300 predictions", async () => (await events()) === 300);

      // A file that is not a model: refused, reported once, the old model scores on.
      await publish(new TextEncoder().encode("not an onnx model"), livePath);
      const refusal = /Cannot swap to model "[^"]*live\.onnx": not an ONNX model.*; keeping/g;
      await waitFor("the refusal", () => consumer.stderr().match(refusal));
      // SIGHUP reads the file again: the same refused version is not reported a second time.
      consumer.child.kill("SIGHUP");
      await waitFor(
        "SIGHUP to be handled",
        () => consumer.stderr().includes("was refused already"),
      );
      assert.equal(consumer.stderr().match(refusal)?.length, 1, consumer.stderr());
      await produce(configPath, files[1]);
      await waitFor("600 predictions", async () => (await events()) === 600);

      // A model that fits: loaded while the old one scores, it takes over at the next batch.
      await publish(candidate, livePath);
      await publish(
        candidate.replace(/\.onnx$/, ".card.json"),
        livePath.replace(/\.onnx$/, ".card.json"),
      );
      await waitFor(
        "the new model to load",
        () => consumer.stderr().includes(`Loaded model ${after.version}`),
      );
      await produce(configPath, files[2]);
      await waitFor("900 predictions", async () => (await events()) === 900);
      assert.ok(
        consumer.stderr().includes(`Swapped model: ${before.version} -> ${after.version}`),
        consumer.stderr(),
      );
    } finally {
      consumer.child.kill("SIGTERM");
      assert.equal(await consumer.done(), 0, consumer.stderr());
    }
    assert.match(
      consumer.stderr(),
      /Model sha256:\w+\+card:2: 1 swap\(s\), 1 file version\(s\) refused/,
    );

    const oldIds = [...before.byId.keys(), ...middle.byId.keys()];
    const stored = await versions(p, [...oldIds, ...after.byId.keys()]);
    assert.equal(stored.size, 900);
    for (const id of oldIds) assert.equal(stored.get(id)?.model_version, before.version, id);
    for (const [id, proba] of [...before.byId, ...middle.byId]) {
      near(stored.get(id)?.return_proba, proba, id);
    }
    for (const [id, proba] of after.byId) {
      assert.equal(stored.get(id)?.model_version, after.version, id);
      near(stored.get(id)?.return_proba, proba, id);
    }
  });
});

Deno.test("a shadow model scores every written event into its own table; a failing shadow changes nothing", async () => {
  await withPipeline(async (p) => {
    const base = await loadConfig(await p.config());
    const candidate = await trainCandidate(base, join(p.dir, "shadow", "candidate.onnx"));
    const file = join(p.dir, "events.jsonl");
    const stats = await writeEventsFile(file, { events: 800, seed: 21, duplicates: 0.05 });
    const live = await scoreFile(base, base.model.path, file);
    const shadow = await scoreFile(base, candidate, file);

    // 1. A working shadow: one shadow row per stored event, the live rows as without it.
    const configPath = await p.config({ "model.shadow": await shadowSection(candidate) });
    await produce(configPath, file);
    const run = await runEntry("consumer.ts", [
      "--config",
      configPath,
      "--until-idle",
      "1000",
      "--quiet",
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(
      run.stdout,
      new RegExp(`\\[DONE\\] ingested=${stats.events} duplicates=${stats.duplicates}`),
    );
    assert.ok(
      run.stderr.includes(
        `Shadow model ${shadow.version}: ${stats.events} event(s) scored, 0 unscored, 0 failed batch(es)`,
      ),
      run.stderr,
    );
    const rows = await p.sql()<
      { id: string; live: number; version: string; shadow: number; sv: string }
    >(
      `SELECT p.event_id AS id, p.return_proba AS live, p.model_version AS version,
              s.return_proba AS shadow, s.shadow_model_version AS sv
       FROM table_predictions p JOIN table_shadow_predictions s USING (event_id)`,
    );
    assert.equal(rows.length, stats.events);
    assert.equal(await rowCount(p.sql(), "table_shadow_predictions"), stats.events);
    for (const r of rows) {
      assert.equal(r.version, live.version);
      near(r.live, live.byId.get(r.id), r.id);
      assert.equal(r.sv, shadow.version);
      near(r.shadow, shadow.byId.get(r.id), r.id);
    }
    const compare = await runEntry("tasks/model.ts", ["compare", "--config", configPath]);
    assert.equal(compare.code, 0, compare.stderr);
    assert.match(
      compare.stdout,
      new RegExp(`events compared: +${stats.events.toLocaleString("en-US")}`),
    );
    assert.match(compare.stdout, /^ROC AUC +0\.\d{4} +0\.\d{4} +[+-]0\.\d{4}$/m);

    // 2. A shadow that fails on every batch: logged once, counted, and ingestion unchanged.
    const failing = join(p.dir, "shadow", "failing.onnx");
    await writeFailingModel(failing);
    const database = `${p.topic}_f`;
    const failingConfig = await p.config({
      database,
      "kafka.consumer_group": `${p.topic}_failing`,
      "consumer.max_fetch_bytes": 16384,
      "model.shadow": await shadowSection(failing),
    });
    const second = await runEntry("consumer.ts", [
      "--config",
      failingConfig,
      "--until-idle",
      "1000",
      "--quiet",
    ]);
    assert.equal(second.code, 0, second.stderr);
    assert.match(
      second.stdout,
      new RegExp(
        `\\[DONE\\] ingested=${stats.events} duplicates=${stats.duplicates} dead_lettered=0`,
      ),
    );
    const failures = second.stderr.match(/Cannot shadow-score a batch with .*not a probability/g) ??
      [];
    assert.equal(failures.length, 1, second.stderr);
    const failed = /Shadow model \S+: 0 event\(s\) scored, (\d+) unscored, (\d+) failed batch\(es\)/
      .exec(second.stderr);
    assert.ok(failed, second.stderr);
    assert.equal(Number(failed[1]), stats.events);
    assert.ok(Number(failed[2]) > 1, "several batches failed, one line said so");
    const sql = p.sql(database);
    assert.equal(await rowCount(sql, "table_shadow_predictions"), 0);
    const stored = await sql<{ id: string; proba: number; version: string }>(
      "SELECT event_id AS id, return_proba AS proba, model_version AS version FROM table_predictions",
    );
    assert.equal(stored.length, stats.events);
    for (const r of stored) {
      assert.equal(r.version, live.version);
      near(r.proba, live.byId.get(r.id), r.id);
    }
  });
});
