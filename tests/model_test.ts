import assert from "assert";
import { join } from "node:path";
// independent check: onnxruntime used directly shows why the graph is rewritten for ZipMap.
import * as ort from "onnxruntime-node";
import { loadConfig } from "../lib/config/mod.ts";
import { UserError } from "../lib/errors/mod.ts";
import { loadModel, openReturnModel } from "../lib/model/mod.ts";
import { buildModel, type NodeSpec } from "../lib/model/onnx/mod.ts";
import { fitLogistic, logisticOnnx, logisticProbability, rocAuc } from "../training/mod.ts";
import { generateEvents, generateLines, trueReturnProbability } from "../dev/generator/mod.ts";
import { validateMessage } from "../lib/events/mod.ts";
import type { ValidEvent } from "../lib/events/mod.ts";
import { repoConfigPath, runEntry, writeTestConfig } from "./_helpers.ts";

const DEVICES = ["mobile", "desktop", "tablet"];
const CHANNELS = ["web", "app", "marketplace"];
/** Weights of the scikit-learn-shaped test model: one row per column of its feature matrix. */
const SK_WEIGHTS = [0.4, -0.2, 0.1, 0, -0.5, 0.7, 0.004, 0.15];
const SK_BIAS = -1.1;

/**
 * A model shaped like a scikit-learn pipeline exported by skl2onnx: one [N, 1] input per
 * column (strings for categories, float and int64 for numbers), OneHotEncoder + Concat +
 * MatMul + Softmax, `output_label`, and `output_probability` as a ZipMap or as a tensor.
 */
function sklearnShapedModel(options: { zipMap: boolean; labels: "int" | "string" }): Uint8Array {
  const w2 = SK_WEIGHTS.flatMap((w) => [0, w]); // column 0 "kept" logit 0, column 1 "returned"
  const nodes: NodeSpec[] = [
    {
      op: "OneHotEncoder",
      domain: "ai.onnx.ml",
      inputs: ["order_device"],
      outputs: ["device_3d"],
      attrs: { cats_strings: { strings: DEVICES }, zeros: { int: 1 } },
    },
    { op: "Flatten", inputs: ["device_3d"], outputs: ["device_oh"], attrs: { axis: { int: 1 } } },
    {
      op: "OneHotEncoder",
      domain: "ai.onnx.ml",
      inputs: ["order_channel"],
      outputs: ["channel_3d"],
      attrs: { cats_strings: { strings: CHANNELS }, zeros: { int: 1 } },
    },
    { op: "Flatten", inputs: ["channel_3d"], outputs: ["channel_oh"], attrs: { axis: { int: 1 } } },
    { op: "Cast", inputs: ["order_n_items"], outputs: ["items_f"], attrs: { to: { int: 1 } } },
    {
      op: "Concat",
      inputs: ["device_oh", "channel_oh", "order_basket_value", "items_f"],
      outputs: ["x"],
      attrs: { axis: { int: 1 } },
    },
    { op: "MatMul", inputs: ["x", "coef"], outputs: ["xw"] },
    { op: "Add", inputs: ["xw", "intercept"], outputs: ["logits"] },
    { op: "Softmax", inputs: ["logits"], outputs: ["probabilities"], attrs: { axis: { int: 1 } } },
    {
      op: "ArgMax",
      inputs: ["probabilities"],
      outputs: [options.labels === "int" ? "output_label" : "label_index"],
      attrs: { axis: { int: 1 }, keepdims: { int: 0 } },
    },
  ];
  const stringLabels = ["kept", "returned"];
  if (options.labels === "string") {
    nodes.push({
      op: "LabelEncoder",
      domain: "ai.onnx.ml",
      inputs: ["label_index"],
      outputs: ["output_label"],
      attrs: {
        keys_int64s: { ints: [0, 1] },
        values_strings: { strings: stringLabels },
        default_string: { string: "" },
      },
    });
  }
  if (options.zipMap) {
    nodes.push({
      op: "ZipMap",
      domain: "ai.onnx.ml",
      inputs: ["probabilities"],
      outputs: ["output_probability"],
      attrs: options.labels === "int"
        ? { classlabels_int64s: { ints: [0, 1] } }
        : { classlabels_strings: { strings: stringLabels } },
    });
  }
  const column = (name: string, tensor: "string" | "float32" | "int64") => ({
    name,
    type: { tensor, dims: [null, 1] },
  });
  return buildModel({
    graphName: "sklearn_shaped",
    producerName: "test",
    opsets: { "": 17, "ai.onnx.ml": 3 },
    inputs: [
      column("order_device", "string"),
      column("order_channel", "string"),
      column("order_basket_value", "float32"),
      column("order_n_items", "int64"),
    ],
    outputs: [
      {
        name: "output_label",
        type: { tensor: options.labels === "int" ? "int64" : "string", dims: [null] },
      },
      options.zipMap
        ? {
          name: "output_probability",
          type: {
            sequenceOfMap: { key: options.labels === "int" ? "int64" : "string", value: "float32" },
          },
        }
        : { name: "probabilities", type: { tensor: "float32", dims: [null, 2] } },
    ],
    initializers: [
      { name: "coef", type: "float32", dims: [SK_WEIGHTS.length, 2], values: w2 },
      { name: "intercept", type: "float32", dims: [2], values: [0, SK_BIAS] },
    ],
    nodes,
  });
}

/** The scikit-learn-shaped model's probability of return, computed directly. */
function sklearnShapedExpected(e: Record<string, unknown>): number {
  const x = [
    ...DEVICES.map((d) => e.order_device === d ? 1 : 0),
    ...CHANNELS.map((c) => e.order_channel === c ? 1 : 0),
    Math.fround(e.order_basket_value as number),
    e.order_n_items as number,
  ];
  const z = SK_BIAS + x.reduce((s, v, i) => s + v * SK_WEIGHTS[i], 0);
  return 1 / (1 + Math.exp(-z));
}

/** The model section that fits the scikit-learn-shaped model: one input per column. */
function sklearnMapping(modelPath: string, output: string, returnedClass: number | string) {
  return {
    "model.path": modelPath,
    "model.output": { name: output, returned_class: returnedClass },
    "model.inputs": [
      {
        name: "order_device",
        type: "string",
        features: [{ field: "order_device", encode: "string" }],
      },
      {
        name: "order_channel",
        type: "string",
        features: [{ field: "order_channel", encode: "string" }],
      },
      {
        name: "order_basket_value",
        type: "float32",
        features: [{ field: "order_basket_value", encode: "number" }],
      },
      {
        name: "order_n_items",
        type: "int64",
        features: [{ field: "order_n_items", encode: "number" }],
      },
    ],
  };
}

function someEvents(n: number, seed: number): Record<string, unknown>[] {
  return [...generateEvents({ events: n, seed })];
}

async function tempDir(): Promise<string> {
  return await Deno.makeTempDir({ prefix: "model_test_" });
}

Deno.test("loadModel() loads the committed default model and scores within [0, 1]", async () => {
  const config = await loadConfig(repoConfigPath);
  const model = await loadModel(config);
  try {
    assert.match(model.version, /^sha256:[0-9a-f]{16}\+card:1$/);
    const p = await model.predict(someEvents(500, 3));
    assert.equal(p.length, 500);
    for (const v of p) assert.ok(v >= 0 && v <= 1, `${v}`);
    assert.equal((await model.predict([])).length, 0);
  } finally {
    await model.close();
  }
});

Deno.test("the default model's ROC AUC is within 0.02 of the true probabilities' AUC on held-out events", async () => {
  const config = await loadConfig(repoConfigPath);
  const model = await loadModel(config);
  // A seed the committed model was not trained with; events go through serving validation.
  const events: ValidEvent[] = [];
  const now = new Date("2026-06-01T00:00:00Z");
  for (const line of generateLines({ events: 20_000, seed: 20_261 })) {
    const checked = validateMessage(new TextEncoder().encode(line), config, now);
    assert.ok(checked.ok);
    events.push(checked.features);
  }
  try {
    const p = await model.predict(events);
    const labels = events.map((e) => e.order_is_returned ? 1 : 0);
    const modelAuc = rocAuc(p, labels);
    const trueAuc = rocAuc(events.map((e) => trueReturnProbability(e)), labels);
    assert.ok(Math.abs(modelAuc - trueAuc) < 0.02, `model ${modelAuc} vs true ${trueAuc}`);
  } finally {
    await model.close();
  }
});

Deno.test("predict() equals an independent float64 computation of features and logistic regression", async () => {
  const config = await loadConfig(repoConfigPath);
  const train = someEvents(3000, 11);
  const categories = ["fashion", "home", "electronics", "beauty", "sports", "books", "toys"];
  const countries = ["FR", "DE", "ES", "IT", "GB", "BE", "NL", "US", "CH", "PT"];
  // Written out by hand, not through lib/features.ts: the mapping of pipeline.yaml.
  const row = (e: Record<string, unknown>) =>
    [
      e.order_basket_value as number,
      e.order_shipping_fee as number,
      e.order_discount as number,
      e.order_n_items as number,
      ...DEVICES.map((v) => e.order_device === v ? 1 : 0),
      ...CHANNELS.map((v) => e.order_channel === v ? 1 : 0),
      ...categories.map((v) => e.order_main_category === v ? 1 : 0),
      ...countries.map((v) => e.customer_country === v ? 1 : 0),
    ].map(Math.fround); // the input tensor is float32
  const d = row(train[0]).length;
  const x = new Float64Array(train.flatMap(row));
  const y = train.map((e) => e.order_is_returned ? 1 : 0);
  const fitted = fitLogistic(x, y, { rows: train.length, cols: d, l2: 1e-3 });
  const path = join(await tempDir(), "parity.onnx");
  await Deno.writeFile(
    path,
    logisticOnnx(fitted, {
      input: "features",
      inputType: "float32",
      output: "probabilities",
      returnedColumn: 1,
    }),
  );
  const model = await openReturnModel(path, config);
  try {
    const test = someEvents(1000, 12);
    const p = await model.predict(test);
    let worst = 0;
    for (const [i, e] of test.entries()) {
      worst = Math.max(worst, Math.abs(p[i] - logisticProbability(fitted, row(e))));
    }
    assert.ok(worst < 1e-6, `largest difference ${worst}`);
  } finally {
    await model.close();
  }
});

for (
  const variant of [
    { zipMap: true, labels: "int", output: "output_probability", returned: 1 },
    { zipMap: true, labels: "string", output: "output_probability", returned: "returned" },
    { zipMap: false, labels: "int", output: "probabilities", returned: 1 },
  ] as const
) {
  Deno.test(`a scikit-learn-shaped model (${variant.zipMap ? "ZipMap" : "tensor"}, ${variant.labels} labels) is scored after a pipeline.yaml edit only`, async () => {
    const path = join(await tempDir(), "sklearn.onnx");
    await Deno.writeFile(path, sklearnShapedModel(variant));
    const config = await loadConfig(
      await writeTestConfig(sklearnMapping(path, variant.output, variant.returned)),
    );
    const model = await loadModel(config);
    try {
      const events = someEvents(300, 5);
      const p = await model.predict(events);
      for (const [i, e] of events.entries()) {
        assert.ok(Math.abs(p[i] - sklearnShapedExpected(e)) < 1e-5, `row ${i}: ${p[i]}`);
      }
    } finally {
      await model.close();
    }
  });
}

Deno.test("onnxruntime-node cannot return a ZipMap output itself (why the graph is rewritten)", async () => {
  const session = await ort.InferenceSession.create(
    sklearnShapedModel({ zipMap: true, labels: "int" }),
  );
  try {
    const one = (type: "string" | "float32" | "int64", v: unknown) =>
      new ort.Tensor(type, type === "string" ? [v as string] : v as Float32Array, [1, 1]);
    const feeds = {
      order_device: one("string", "mobile"),
      order_channel: one("string", "web"),
      order_basket_value: one("float32", Float32Array.of(10)),
      order_n_items: one("int64", BigInt64Array.of(1n)),
    };
    await assert.rejects(() => session.run(feeds, ["output_probability"]));
  } finally {
    await session.release();
  }
});

Deno.test("loadModel() names every mismatch in one error: missing input, wrong type, wrong output", async () => {
  const path = join(await tempDir(), "sklearn.onnx");
  await Deno.writeFile(path, sklearnShapedModel({ zipMap: true, labels: "int" }));
  const mapping = sklearnMapping(path, "proba", 1);
  const inputs = mapping["model.inputs"];
  const file = await writeTestConfig({
    ...mapping,
    // order_channel left out; order_n_items declared float32 though the model takes int64.
    "model.inputs": [
      inputs[0],
      inputs[2],
      { ...inputs[3], type: "float32" },
    ],
  });
  const config = await loadConfig(file);
  const error = await loadModel(config).then(
    () => assert.fail("expected a UserError"),
    (e) => e,
  );
  assert.ok(error instanceof UserError);
  assert.equal(error.exitCode, 2);
  assert.match(error.message, /^Cannot use model ".*sklearn\.onnx": 3 problem\(s\): /);
  assert.match(
    error.message,
    /model input "order_channel" \(string\[\?,1\]\) is not fed by pipeline\.yaml \(add it under model\.inputs\)/,
  );
  assert.match(
    error.message,
    /model input "order_n_items" is int64 but pipeline\.yaml says float32 \(model\.inputs\[2\]\.type\)/,
  );
  assert.match(
    error.message,
    /model output "proba" does not exist \(its outputs: output_label, output_probability/,
  );
});

Deno.test("loadModel() reports a column count and a returned class the model does not have", async () => {
  const config = await loadConfig(repoConfigPath);
  const edited = await loadConfig(
    await writeTestConfig({
      "model.output": { name: "probabilities", returned_class: 2 },
      "model.inputs.0.features": config.model.inputs[0].features.slice(0, 4).map((f) => ({
        field: f.field,
        encode: "number",
      })),
    }),
  );
  await assert.rejects(() => loadModel(edited), (e: Error) => {
    assert.match(e.message, /2 problem\(s\)/);
    assert.match(
      e.message,
      /model input "features" takes 27 column\(s\) but pipeline\.yaml maps 4/,
    );
    assert.match(e.message, /returned_class 2 is not a column of output "probabilities"/);
    return true;
  });
});

Deno.test("predict() throws rather than return a value that is not a probability", async () => {
  const path = join(await tempDir(), "nan.onnx");
  await Deno.writeFile(
    path,
    buildModel({
      graphName: "sqrt",
      opsets: { "": 17 },
      inputs: [{ name: "x", type: { tensor: "float32", dims: ["N", 1] } }],
      outputs: [{ name: "p", type: { tensor: "float32", dims: ["N", 1] } }],
      nodes: [{ op: "Sqrt", inputs: ["x"], outputs: ["p"] }],
    }),
  );
  const config = await loadConfig(
    await writeTestConfig({
      "model.path": path,
      "model.output": { name: "p", returned_class: 1 },
      "model.inputs": [{
        name: "x",
        type: "float32",
        features: [{ field: "order_discount", encode: { scale: { mean: 0.5, std: 1 } } }],
      }],
    }),
  );
  const model = await loadModel(config);
  try {
    const ok = await model.predict([{ order_discount: 0.66 }]);
    assert.ok(Math.abs(ok[0] - 0.4) < 1e-6);
    await assert.rejects(
      () => model.predict([{ order_discount: 0.75 }, { order_discount: 0 }]),
      /Cannot score batch: the model gave NaN for row 1, not a probability/,
    );
  } finally {
    await model.close();
  }
});

Deno.test("loadModel() rejects a missing file and a file that is not ONNX with exit code 2", async () => {
  const dir = await tempDir();
  const config = (path: string) => writeTestConfig({ "model.path": path }).then(loadConfig);
  await assert.rejects(
    async () => loadModel(await config(join(dir, "absent.onnx"))),
    (e: UserError) => e.exitCode === 2 && /absent\.onnx": file not found/.test(e.message),
  );
  await Deno.writeTextFile(join(dir, "text.onnx"), "not a model at all");
  await assert.rejects(
    async () => loadModel(await config(join(dir, "text.onnx"))),
    (e: UserError) => e.exitCode === 2 && /text\.onnx": not an ONNX model/.test(e.message),
  );
});

Deno.test("`deno task model inspect` prints the model and its check; exit 2 on a mismatch", async () => {
  const ok = await runEntry("tasks/model.ts", ["inspect"]);
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /inputs:\n {2}features: float32\[N,27\]/);
  assert.match(ok.stdout, /outputs:\n {2}probabilities: float64\[N,2\]/);
  assert.match(ok.stdout, /opsets: {3}ai\.onnx 17/);
  assert.match(ok.stdout, /card: {5}return_model version 1/);
  assert.match(ok.stdout, /check: {4}ok/);

  const path = join(await tempDir(), "sklearn.onnx");
  await Deno.writeFile(path, sklearnShapedModel({ zipMap: true, labels: "string" }));
  const bad = await runEntry("tasks/model.ts", ["inspect", path]);
  assert.equal(bad.code, 2);
  assert.match(bad.stdout, /ai\.onnx\.ml 3/);
  assert.match(
    bad.stdout,
    /output_probability: seq\(map\(string,float32\)\) \(ZipMap of "probabilities", labels kept, returned\)/,
  );
  assert.match(
    bad.stdout,
    /model input "order_device" \(string\[\?,1\]\) is not fed by pipeline\.yaml/,
  );
  assert.match(bad.stdout, /model\.inputs\[0\] "features" is not an input of the model/);

  const fits = await writeTestConfig(sklearnMapping(path, "output_probability", "returned"));
  const good = await runEntry("tasks/model.ts", ["inspect", "--config", fits]);
  assert.equal(good.code, 0, good.stdout + good.stderr);
  assert.match(good.stdout, /check: {4}ok/);

  const usage = await runEntry("tasks/model.ts", ["show"]);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /error: unknown command "show"/);
});

Deno.test("a model card written for other bytes is ignored rather than give a false version", async () => {
  const config = await loadConfig(repoConfigPath);
  const dir = await tempDir();
  const path = join(dir, "copy.onnx");
  await Deno.copyFile(config.model.path, path);
  const card = JSON.parse(
    await Deno.readTextFile(config.model.path.replace(/\.onnx$/, ".card.json")),
  );
  const edited = await loadConfig(await writeTestConfig({ "model.path": path }));
  await Deno.writeTextFile(join(dir, "copy.card.json"), JSON.stringify({ ...card, version: "7" }));
  const matching = await loadModel(edited);
  assert.match(matching.version, /^sha256:[0-9a-f]{16}\+card:7$/);
  await matching.close();
  await Deno.writeTextFile(
    join(dir, "copy.card.json"),
    JSON.stringify({ ...card, version: "7", model_sha256: "0".repeat(64) }),
  );
  const stale = await loadModel(edited);
  assert.match(stale.version, /^sha256:[0-9a-f]{16}$/);
  await stale.close();
});
