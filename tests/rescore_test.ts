import assert from "assert";
import { join } from "node:path";
import { loadConfig } from "../lib/config/mod.ts";
import { writeEventsFile } from "../dev/generator/mod.ts";
import { runEntry } from "./_helpers.ts";
import {
  produce,
  rowCount,
  spawnEntry,
  type Sql,
  trainCandidate,
  waitFor,
  withPipeline,
} from "./_model_pipeline.ts";

type Prediction = { version: string; proba: number };

async function predictions(sql: Sql): Promise<Map<string, Prediction>> {
  const rows = await sql<{ id: string; version: string; proba: number }>(
    "SELECT event_id AS id, model_version AS version, return_proba AS proba FROM table_predictions",
  );
  return new Map(rows.map((r) => [r.id, { version: r.version, proba: r.proba }]));
}

/** Largest |difference| between two sets of predictions of the same events, same versions. */
function largestDifference(a: Map<string, Prediction>, b: Map<string, Prediction>): number {
  assert.equal(a.size, b.size);
  let largest = 0;
  for (const [id, p] of a) {
    const q = b.get(id);
    assert.ok(q, `event ${id} missing`);
    assert.equal(p.version, q.version, id);
    largest = Math.max(largest, Math.abs(p.proba - q.proba));
  }
  return largest;
}

Deno.test("rescore gives the consumer's scores for the same model, --dry-run writes nothing, and a run killed with SIGKILL resumes with exact counts", async () => {
  await withPipeline(async (p) => {
    const liveConfig = await p.config();
    const live = await loadConfig(liveConfig);
    const candidate = await trainCandidate(live, join(p.dir, "candidate", "next.onnx"));
    // The same events, consumed by a second group into a second database with the candidate.
    const other = `${p.topic}_b`;
    const candidateConfig = await p.config({
      database: other,
      "kafka.consumer_group": `${p.topic}_b`,
      "model.path": candidate,
    });
    const file = join(p.dir, "events.jsonl");
    const stats = await writeEventsFile(file, {
      events: 6000,
      seed: 31,
      duplicates: 0.02,
      missingOptional: 0.3,
    });
    // table_customers holds a customer's latest event, so rescoring an older event sees the
    // customer's current country: give each customer one country, as the generator means to
    // (it drops customer_country from some events, like other optional fields).
    const lines = (await Deno.readTextFile(file)).split("\n").filter(Boolean).map((l) =>
      JSON.parse(l)
    );
    const countries = new Map<string, string>();
    for (const e of lines) {
      if (e.customer_country) countries.set(e.customer_customer_id, e.customer_country);
    }
    const consistent = lines.map((e) => {
      const country = countries.get(e.customer_customer_id);
      return JSON.stringify(country ? { ...e, customer_country: country } : e);
    });
    // Keys without a column come back from extra_fields.
    const extra = [1, 2, 3].map((i) =>
      JSON.stringify({
        event_id: `extra-${i}`,
        order_id: `extra-order-${i}`,
        customer_customer_id: "extra-customer",
        order_device: "tablet",
        order_basket_value: 120.5 * i,
        coupon: `C${i}`,
        basket: [{ sku: "A1", qty: i }],
      })
    );
    await Deno.writeTextFile(file, [...consistent, ...extra].join("\n") + "\n");
    const events = stats.events + extra.length;
    await produce(liveConfig, file);
    for (const config of [liveConfig, candidateConfig]) {
      const run = await runEntry("consumer.ts", [
        "--config",
        config,
        "--until-idle",
        "1000",
        "--quiet",
      ]);
      assert.equal(run.code, 0, run.stderr);
    }
    const sql = p.sql();
    const consumedLive = await predictions(sql);
    const consumedCandidate = await predictions(p.sql(other));
    assert.equal(consumedLive.size, events);

    // --dry-run: scores and reports, writes nothing (not even a run).
    const dry = await runEntry("tasks/rescore.ts", [
      "--config",
      liveConfig,
      "--model",
      candidate,
      "--dry-run",
    ]);
    assert.equal(dry.code, 0, dry.stderr);
    const n = events.toLocaleString("en-US");
    assert.match(
      dry.stdout,
      new RegExp(`^dry run: ${n} of ${n} event\\(s\\) would be rescored`, "m"),
    );
    assert.match(dry.stdout, /^mean probability 0\.\d{4} -> 0\.\d{4}; mean \|change\|/m);
    assert.match(dry.stdout, /^ {2}0\.0-0\.1 +[\d,]+ +[\d,]+ +#+/m);
    assert.equal(largestDifference(await predictions(sql), consumedLive), 0);
    assert.equal(await rowCount(sql, "pipeline_rescore_runs"), 0);

    // Rescored with the candidate: exactly what the consumer gave with the candidate.
    const rescored = await runEntry("tasks/rescore.ts", [
      "--config",
      liveConfig,
      "--model",
      candidate,
    ]);
    assert.equal(rescored.code, 0, rescored.stderr);
    assert.match(
      rescored.stdout,
      new RegExp(
        `^rescored ${n} of ${n} event\\(s\\) with sha256:\\w+\\+card:2 .*: ${n} changed, 0 unchanged, 0 unscorable`,
        "m",
      ),
    );
    const difference = largestDifference(await predictions(sql), consumedCandidate);
    assert.ok(difference <= 1e-12, `rescore differs from the consumer by ${difference}`);

    // Back to the live model in small batches, killed half-way, then run again.
    const args = ["--config", liveConfig, "--batch-size", "10"];
    const killed = spawnEntry("tasks/rescore.ts", args);
    const progress = await waitFor("a committed batch", async () => {
      const [run] = await sql<{ scored: number }>(
        "SELECT scored FROM pipeline_rescore_runs WHERE finished_at IS NULL AND scored > 0",
      );
      return run ? Number(run.scored) : undefined;
    });
    killed.child.kill("SIGKILL");
    await killed.done();
    const [atKill] = await sql<{ scored: number; last: string }>(
      "SELECT scored, last_event_id AS last FROM pipeline_rescore_runs WHERE finished_at IS NULL",
    );
    const liveVersion = consumedLive.values().next().value!.version;
    const midway = [...(await predictions(sql)).values()].filter((x) => x.version === liveVersion);
    assert.ok(progress > 0 && Number(atKill.scored) < events, `killed too late: ${atKill.scored}`);
    // The run's count and the rows it wrote were committed together.
    assert.equal(midway.length, Number(atKill.scored));

    const resumed = await runEntry("tasks/rescore.ts", args);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(
      resumed.stderr,
      new RegExp(`Resuming the interrupted run .* after event_id ${atKill.last}`),
    );
    assert.match(
      resumed.stdout,
      new RegExp(
        `^rescored ${n} of ${n} event\\(s\\) with ${liveVersion.replace("+", "\\+")} `,
        "m",
      ),
    );
    assert.match(
      resumed.stdout,
      new RegExp(
        `resumed after event_id ${atKill.last}: ${
          Number(atKill.scored).toLocaleString("en-US")
        } event\\(s\\)`,
      ),
    );
    // One float64 ulp at most: onnxruntime's Sigmoid rounds a lone row differently.
    const back = largestDifference(await predictions(sql), consumedLive);
    assert.ok(back <= 1e-12, `rescore differs from the consumer by ${back}`);
    const [finished] = await sql<{ scored: number }>(
      "SELECT scored FROM pipeline_rescore_runs WHERE model_version = ? AND finished_at IS NOT NULL",
      [liveVersion],
    );
    assert.equal(Number(finished.scored), events);
  });
});
