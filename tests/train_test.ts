import assert from "assert";
import { join } from "node:path";
import { Random } from "../dev/generator/mod.ts";
import { generateLines } from "../dev/generator/mod.ts";
import { readModelInfo } from "../lib/model/onnx/mod.ts";
import {
  calibration,
  fitLogistic,
  logisticProbability,
  logLoss,
  rocAuc,
  standardisation,
} from "../training/mod.ts";
import { ensembleOnnx, ensembleProbability, fitBoostedTrees } from "../training/mod.ts";
import { loadConfig } from "../lib/config/mod.ts";
import { openReturnModel } from "../lib/model/mod.ts";
import { encodeInput, inputWidth } from "../lib/model/mod.ts";
import { generateEvents } from "../dev/generator/mod.ts";
import { repoConfigPath, runEntry, writeTestConfig } from "./_helpers.ts";

Deno.test("rocAuc() counts ordered pairs, ties as one half", () => {
  assert.equal(rocAuc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]), 0.75);
  assert.equal(rocAuc([0.5, 0.5], [0, 1]), 0.5);
  assert.equal(rocAuc([0.9, 0.1], [0, 1]), 0);
  assert.ok(Number.isNaN(rocAuc([0.2, 0.3], [1, 1])));
});

Deno.test("logLoss() and calibration() match hand-computed values", () => {
  assert.ok(Math.abs(logLoss([0.8, 0.4], [1, 0]) - (-(Math.log(0.8) + Math.log(0.6)) / 2)) < 1e-12);
  const { ece, bins } = calibration([0.05, 0.05, 0.95, 0.95], [0, 1, 1, 1], 10);
  assert.equal(bins.length, 2);
  assert.deepEqual(bins[0], { from: 0, to: 0.1, count: 2, meanPredicted: 0.05, observedRate: 0.5 });
  assert.ok(Math.abs(ece - (0.5 * 0.45 + 0.5 * 0.05)) < 1e-12);
});

Deno.test("standardisation() gives a constant column std 1", () => {
  const { mean, std } = standardisation([1, 5, 3, 5], 2, 2);
  assert.deepEqual([...mean], [2, 5]);
  assert.deepEqual([...std], [1, 1]);
});

Deno.test("fitLogistic() recovers the coefficients that generated the labels", () => {
  const rng = new Random(9);
  const rows = 40_000;
  const x = new Float64Array(rows * 2);
  const y = new Uint8Array(rows);
  for (let r = 0; r < rows; r++) {
    x[r * 2] = rng.normal() * 3 + 10;
    x[r * 2 + 1] = rng.chance(0.3) ? 1 : 0;
    const z = -1 + 0.5 * (x[r * 2] - 10) - 1.2 * x[r * 2 + 1];
    y[r] = rng.next() < 1 / (1 + Math.exp(-z)) ? 1 : 0;
  }
  const m = fitLogistic(x, y, { rows, cols: 2, l2: 0 });
  const perUnit = [m.weights[0] / m.std[0], m.weights[1] / m.std[1]];
  assert.ok(Math.abs(perUnit[0] - 0.5) < 0.03, `${perUnit[0]}`);
  assert.ok(Math.abs(perUnit[1] + 1.2) < 0.08, `${perUnit[1]}`);
  assert.ok(Math.abs(logisticProbability(m, [10, 0]) - 1 / (1 + Math.exp(1))) < 0.02);
  // L2 shrinks the weights towards zero.
  const shrunk = fitLogistic(x, y, { rows, cols: 2, l2: 1 });
  assert.ok(Math.abs(shrunk.weights[0]) < Math.abs(m.weights[0]) / 1.5);
});

Deno.test("fitBoostedTrees() learns a step and an interaction a linear model cannot", () => {
  const rng = new Random(4);
  const rows = 20_000;
  const x = new Float32Array(rows * 2);
  const y = new Uint8Array(rows);
  const truth = (a: number, b: number) => a > 0.5 && b > 0.3 ? 0.8 : 0.1;
  for (let r = 0; r < rows; r++) {
    x[r * 2] = rng.next();
    x[r * 2 + 1] = rng.next();
    y[r] = rng.next() < truth(x[r * 2], x[r * 2 + 1]) ? 1 : 0;
  }
  const options = { rows, cols: 2, trees: 60, depth: 2, learningRate: 0.3, l2: 1 };
  const model = fitBoostedTrees(x, y, options);
  for (const [a, b] of [[0.2, 0.2], [0.2, 0.8], [0.8, 0.2], [0.9, 0.9]]) {
    const p = ensembleProbability(model, [a, b]);
    assert.ok(Math.abs(p - truth(a, b)) < 0.05, `(${a}, ${b}): ${p}`);
  }
  assert.deepEqual(fitBoostedTrees(x, y, options), model);
});

Deno.test("a boosted-trees ONNX model scores as the trees computed directly (train/serve parity)", async () => {
  const config = await loadConfig(repoConfigPath);
  const input = config.model.inputs[0];
  const cols = inputWidth(input);
  const train = [...generateEvents({ events: 4000, seed: 21 })];
  const x = encodeInput(train, input, config.events.fields) as Float32Array;
  const y = train.map((e) => e.order_is_returned ? 1 : 0);
  const model = fitBoostedTrees(x, y, {
    rows: train.length,
    cols,
    trees: 40,
    depth: 3,
    learningRate: 0.2,
    l2: 1,
  });
  const path = join(await tempDir(), "trees.onnx");
  await Deno.writeFile(
    path,
    ensembleOnnx(model, { input: "features", output: "probabilities", returnedColumn: 1, cols }),
  );
  const served = await openReturnModel(path, config);
  try {
    // Training rows hold every threshold exactly: ties must go the same way in both.
    const p = await served.predict(train);
    let worst = 0;
    for (let r = 0; r < train.length; r++) {
      const direct = ensembleProbability(model, x.subarray(r * cols, (r + 1) * cols));
      worst = Math.max(worst, Math.abs(p[r] - direct));
    }
    assert.ok(worst < 1e-5, `largest difference ${worst}`);
  } finally {
    await served.close();
  }
});

async function tempDir(): Promise<string> {
  return await Deno.makeTempDir({ prefix: "train_test_" });
}

Deno.test("`deno task train` writes a loadable model and a card, identical for the same seed", async () => {
  const runs = [];
  for (let i = 0; i < 2; i++) {
    const dir = await tempDir();
    const out = join(dir, "model.onnx");
    const result = await runEntry("tasks/train.ts", [
      "--events",
      "4000",
      "--seed",
      "7",
      "--out",
      out,
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stderr, /trained in .*ROC AUC 0\.\d+ \(true probabilities: 0\.\d+\)/);
    assert.match(result.stdout, /model\.onnx\n.*model\.card\.json\n$/);
    const card = JSON.parse(await Deno.readTextFile(join(dir, "model.card.json")));
    runs.push({ bytes: await Deno.readFile(out), card });
  }
  assert.deepEqual(runs[0].bytes, runs[1].bytes);
  assert.deepEqual(runs[0].card, runs[1].card);
  const card = runs[0].card;
  assert.equal(card.name, "model");
  assert.equal(card.version, "1");
  assert.equal(card.created_from.seed, 7);
  assert.equal(card.created_from.events, 4000);
  assert.match(card.created_from.data_sha256, /^[0-9a-f]{64}$/);
  assert.deepEqual(card.split, { train: 3200, test: 800 });
  assert.equal(card.features.length, 27);
  for (const key of ["roc_auc", "log_loss", "ece", "true_probability_roc_auc"]) {
    assert.equal(typeof card.metrics[key], "number", key);
  }
  assert.ok(card.metrics.reliability.length > 2);
  assert.match(card.algorithm, /^gradient-boosted trees/);
  assert.equal(card.hyperparameters.trees, 150);
  const info = readModelInfo(runs[0].bytes);
  assert.deepEqual(info.inputs.map((i) => i.name), ["features"]);
  assert.deepEqual(info.outputs.map((o) => o.name), ["probabilities"]);
});

Deno.test("`deno task train --data` learns from labelled JSON Lines and skips unusable lines", async () => {
  const dir = await tempDir();
  const data = join(dir, "events.jsonl");
  const lines = [
    ...generateLines({ events: 3000, seed: 3, malformed: 0.02, missingOptional: 0.1 }),
  ];
  await Deno.writeTextFile(data, lines.join("\n") + "\n");
  const out = join(dir, "from_file.onnx");
  const result = await runEntry("tasks/train.ts", [
    "--data",
    data,
    "--out",
    out,
    "--algorithm",
    "logistic",
  ]);
  assert.equal(result.code, 0, result.stderr);
  const card = JSON.parse(await Deno.readTextFile(join(dir, "from_file.card.json")));
  assert.equal(card.created_from.data, "events.jsonl");
  assert.ok(card.created_from.skipped_lines > 0);
  assert.equal(card.created_from.events + card.created_from.skipped_lines, 3000);
  assert.equal(card.metrics.true_probability_roc_auc, undefined);
  assert.ok(card.metrics.roc_auc > 0.6, `${card.metrics.roc_auc}`);
  assert.match(card.algorithm, /^logistic regression/);
  assert.equal(Object.keys(card.coefficients_per_unit).length, 27);
});

Deno.test("`deno task train` refuses a mapping that is not one float input (exit 2)", async () => {
  const config = await writeTestConfig({
    "model.inputs": [
      {
        name: "order_device",
        type: "string",
        features: [{ field: "order_device", encode: "string" }],
      },
    ],
  });
  const out = join(await tempDir(), "x.onnx");
  const result = await runEntry("tasks/train.ts", [
    "--config",
    config,
    "--events",
    "100",
    "--out",
    out,
  ]);
  assert.equal(result.code, 2);
  assert.match(
    result.stderr,
    /error: Cannot train: model\.inputs must be one float32 or float64 input/,
  );
  const bad = await runEntry("tasks/train.ts", ["--events", "many"]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--events expects an integer/);
});
