/**
 * Trains the return classifier: gradient-boosted trees (lib/train_trees.ts) or an
 * L2-regularised logistic regression fitted by Newton's method, exported as ONNX, evaluated
 * through the serving code and described in a model card. Features come from
 * lib/features.ts, the code that serving runs, so train and serve agree.
 */
import { basename, dirname } from "node:path";
import { createHash } from "node:crypto";
import type { PipelineConfig } from "../lib/config/mod.ts";
import { UserError } from "../lib/errors/mod.ts";
import {
  calibration,
  columnNames,
  encodeInput,
  type EventRecord,
  inputWidth,
  logLoss,
  rocAuc,
  withDefaults,
} from "../lib/model/mod.ts";
import { binaryClassifierModel } from "../lib/model/onnx/mod.ts";
import { generateEvents, trueReturnProbability } from "../dev/generator/mod.ts";
import { Random } from "../dev/generator/mod.ts";
import { cardPathFor, openReturnModel } from "../lib/model/mod.ts";
import { ensembleOnnx, fitBoostedTrees, splitCount } from "./_trees.ts";

/** A fitted logistic regression on standardised inputs: p = sigmoid(((x - mean) / std) . w + b). */
export interface LogisticModel {
  readonly mean: Float64Array;
  readonly std: Float64Array;
  readonly weights: Float64Array;
  readonly bias: number;
  readonly iterations: number;
}

/** Column means and standard deviations of a row-major matrix (std 0 becomes 1). */
export function standardisation(
  x: ArrayLike<number>,
  rows: number,
  cols: number,
): { mean: Float64Array; std: Float64Array } {
  const mean = new Float64Array(cols);
  const std = new Float64Array(cols);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) mean[c] += x[r * cols + c];
  for (let c = 0; c < cols; c++) mean[c] /= rows;
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) std[c] += (x[r * cols + c] - mean[c]) ** 2;
  }
  for (let c = 0; c < cols; c++) {
    const s = Math.sqrt(std[c] / rows);
    // A constant column carries no information; dividing by 1 keeps it harmless.
    std[c] = s > 1e-12 ? s : 1;
  }
  return { mean, std };
}

/**
 * Fits an L2-regularised logistic regression by Newton's method (deterministic: no sampling).
 * `l2` penalises the weights (not the bias) as l2/2 * |w|^2 over the mean log loss.
 */
export function fitLogistic(
  x: ArrayLike<number>,
  y: ArrayLike<number>,
  options: { rows: number; cols: number; l2: number; maxIterations?: number },
): LogisticModel {
  const { rows, cols, l2 } = options;
  const { mean, std } = standardisation(x, rows, cols);
  const d = cols + 1; // last parameter is the bias
  const z = new Float64Array(rows * d);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) z[r * d + c] = (x[r * cols + c] - mean[c]) / std[c];
    z[r * d + cols] = 1;
  }
  const theta = new Float64Array(d);
  let iterations = 0;
  for (; iterations < (options.maxIterations ?? 50); iterations++) {
    const grad = new Float64Array(d);
    const hess = new Float64Array(d * d);
    for (let r = 0; r < rows; r++) {
      const row = r * d;
      let s = 0;
      for (let k = 0; k < d; k++) s += z[row + k] * theta[k];
      const p = 1 / (1 + Math.exp(-s));
      const g = p - y[r];
      const h = p * (1 - p);
      for (let a = 0; a < d; a++) {
        const za = z[row + a];
        grad[a] += g * za;
        const hza = h * za;
        for (let b = 0; b <= a; b++) hess[a * d + b] += hza * z[row + b];
      }
    }
    for (let a = 0; a < d; a++) {
      grad[a] /= rows;
      for (let b = 0; b <= a; b++) {
        hess[a * d + b] /= rows;
        hess[b * d + a] = hess[a * d + b];
      }
    }
    for (let a = 0; a < cols; a++) {
      grad[a] += l2 * theta[a];
      hess[a * d + a] += l2;
    }
    // A tiny ridge on the bias too keeps the Hessian invertible on separable data.
    hess[cols * d + cols] += 1e-12;
    const step = solveSymmetric(hess, grad, d);
    let largest = 0;
    for (let k = 0; k < d; k++) {
      theta[k] -= step[k];
      largest = Math.max(largest, Math.abs(step[k]));
    }
    if (largest < 1e-10) {
      iterations++;
      break;
    }
  }
  return { mean, std, weights: theta.slice(0, cols), bias: theta[cols], iterations };
}

/** Solves A x = b for a symmetric positive-definite A (Cholesky). */
function solveSymmetric(a: Float64Array, b: Float64Array, n: number): Float64Array {
  const l = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      let s = a[i * n + j];
      for (let k = 0; k < j; k++) s -= l[i * n + k] * l[j * n + k];
      if (i === j) {
        if (s <= 0) throw new Error("Cannot fit the model: the Hessian is not positive definite");
        l[i * n + i] = Math.sqrt(s);
      } else l[i * n + j] = s / l[j * n + j];
    }
  }
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let s = b[i];
    for (let k = 0; k < i; k++) s -= l[i * n + k] * y[k];
    y[i] = s / l[i * n + i];
  }
  const x = new Float64Array(n);
  for (let i = n - 1; i >= 0; i--) {
    let s = y[i];
    for (let k = i + 1; k < n; k++) s -= l[k * n + i] * x[k];
    x[i] = s / l[i * n + i];
  }
  return x;
}

/** The probability a fitted model gives one row, computed in float64 (for checks). */
export function logisticProbability(model: LogisticModel, row: ArrayLike<number>): number {
  let s = model.bias;
  for (let c = 0; c < model.weights.length; c++) {
    s += ((row[c] - model.mean[c]) / model.std[c]) * model.weights[c];
  }
  return 1 / (1 + Math.exp(-s));
}

/**
 * The ONNX graph of a logistic model: input `[N, D]` (float32 or float64) -> Cast to float64
 * -> standardise -> MatMul -> Add -> Sigmoid -> `[N, 2]` float64 probabilities, the returned
 * class in column `returnedColumn`.
 */
export function logisticOnnx(model: LogisticModel, options: {
  input: string;
  inputType: "float32" | "float64";
  output: string;
  returnedColumn: 0 | 1;
  docString?: string;
  metadata?: Record<string, string>;
}): Uint8Array {
  const d = model.weights.length;
  return binaryClassifierModel({
    ...options,
    cols: d,
    opsets: { "": 17 },
    initializers: [
      { name: "mean", type: "float64", dims: [d], values: model.mean },
      { name: "std", type: "float64", dims: [d], values: model.std },
      { name: "weights", type: "float64", dims: [d, 1], values: model.weights },
      { name: "bias", type: "float64", dims: [1], values: [model.bias] },
    ],
    body: [
      { op: "Cast", inputs: [options.input], outputs: ["x64"], attrs: { to: { int: 11 } } },
      { op: "Sub", inputs: ["x64", "mean"], outputs: ["centred"] },
      { op: "Div", inputs: ["centred", "std"], outputs: ["scaled"] },
      { op: "MatMul", inputs: ["scaled", "weights"], outputs: ["dot"] },
      { op: "Add", inputs: ["dot", "bias"], outputs: ["logit"] },
    ],
  });
}

// The metrics live with the model, where `model inspect` and `model compare` use them too.
export { calibration, logLoss, type ReliabilityBin, rocAuc } from "../lib/model/mod.ts";

function round(x: number, digits = 6): number {
  return Number(x.toFixed(digits));
}

/** What `deno task train` does. */
export interface TrainOptions {
  readonly config: PipelineConfig;
  /** Labelled JSON-Lines file; without it, events are generated in memory. */
  readonly data?: string;
  /** Number of generated events (ignored with `data`). */
  readonly events: number;
  readonly seed: number;
  /** Path of the .onnx file to write; the card goes next to it. */
  readonly out: string;
  /** `gbdt` (gradient-boosted trees, what `deno task train` uses by default) or `logistic`. */
  readonly algorithm: "logistic" | "gbdt";
  /** L2 penalty: on the standardised weights (logistic) or on the leaf values (gbdt). */
  readonly l2: number;
  /** Number of trees, their depth and the learning rate (gbdt only). */
  readonly trees: number;
  readonly depth: number;
  readonly learningRate: number;
  /** Share of the events held out for the metrics. */
  readonly testFraction: number;
  /** Version written into the model card. */
  readonly version: string;
}

/** What was trained and written. */
export interface TrainResult {
  readonly modelPath: string;
  readonly cardPath: string;
  readonly card: Record<string, unknown>;
}

interface Dataset {
  readonly records: EventRecord[];
  readonly sha256: string;
  readonly source: string;
  readonly skipped: number;
}

async function readDataset(path: string): Promise<Dataset> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (error) {
    throw new UserError(`Cannot read training data "${path}": ${(error as Error).message}`, {
      cause: error,
    });
  }
  const records: EventRecord[] = [];
  let skipped = 0;
  for (const line of new TextDecoder().decode(bytes).split("\n")) {
    if (!line.trim()) continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      skipped++;
      continue;
    }
    // Only labelled objects can teach anything; the rest is counted and left out.
    const label = (value as Record<string, unknown> | null)?.order_is_returned;
    if (!value || typeof value !== "object" || Array.isArray(value) || typeof label !== "boolean") {
      skipped++;
      continue;
    }
    records.push(value as EventRecord);
  }
  return {
    records,
    sha256: createHash("sha256").update(bytes).digest("hex"),
    source: basename(path),
    skipped,
  };
}

function generatedDataset(events: number, seed: number): Dataset {
  const hash = createHash("sha256");
  const records: EventRecord[] = [];
  for (const event of generateEvents({ events, seed })) {
    records.push(event);
    hash.update(JSON.stringify(event) + "\n");
  }
  return { records, sha256: hash.digest("hex"), source: "generated", skipped: 0 };
}

/** Trains, writes `<out>` and its card, and evaluates the written model on held-out events. */
export async function trainModel(options: TrainOptions): Promise<TrainResult> {
  const { config } = options;
  const input = config.model.inputs[0];
  const returned = config.model.output.returnedClass;
  if (
    config.model.inputs.length !== 1 || (input.type !== "float32" && input.type !== "float64")
  ) {
    throw new UserError(
      "Cannot train: model.inputs must be one float32 or float64 input (the [N, D] shape)",
      { hint: "models of other shapes are trained elsewhere and served as they are" },
    );
  }
  if (returned !== 0 && returned !== 1) {
    throw new UserError(
      `Cannot train: model.output.returned_class must be 0 or 1, not ${JSON.stringify(returned)}`,
    );
  }
  const data = options.data
    ? await readDataset(options.data)
    : generatedDataset(options.events, options.seed);
  const fields = config.events.fields;
  const records = data.records.map((r) => withDefaults(r, fields));
  if (records.length < 10) {
    throw new UserError(`Cannot train: only ${records.length} labelled event(s)`);
  }
  const order = shuffled(records.length, options.seed);
  const testSize = Math.max(1, Math.round(records.length * options.testFraction));
  const train = order.slice(testSize).map((i) => records[i]);
  const test = order.slice(0, testSize).map((i) => records[i]);
  const labels = (rs: EventRecord[]) => Uint8Array.from(rs, (r) => r.order_is_returned ? 1 : 0);
  const yTrain = labels(train);
  const yTest = labels(test);
  if (yTrain.every((y) => y === yTrain[0])) {
    throw new UserError("Cannot train: every training event has the same order_is_returned");
  }

  const cols = inputWidth(input);
  const x = encodeInput(train, input, fields) as Float32Array | Float64Array;
  const name = basename(options.out).replace(/\.onnx$/i, "");
  const fit = options.algorithm === "gbdt"
    ? fitTrees(x, yTrain, { ...options, rows: train.length, cols, name, returned })
    : fitLinear(x, yTrain, { ...options, rows: train.length, cols, name, returned });
  const bytes = fit.bytes;
  await Deno.mkdir(dirname(options.out), { recursive: true });
  await Deno.writeFile(options.out, bytes);
  const cardPath = cardPathFor(options.out);
  // The card is written only after the written model has been evaluated through serving code.
  await Deno.remove(cardPath).catch(() => {});
  const model = await openReturnModel(options.out, config);
  let p: Float64Array;
  try {
    p = await model.predict(test);
  } finally {
    await model.close();
  }
  const cal = calibration(p, yTest);
  const metrics: Record<string, unknown> = {
    roc_auc: round(rocAuc(p, yTest)),
    log_loss: round(logLoss(p, yTest)),
    ece: round(cal.ece),
    positive_rate: round(yTest.reduce((a, b) => a + b, 0) / yTest.length),
    mean_predicted: round(p.reduce((a, b) => a + b, 0) / p.length),
  };
  if (!options.data) {
    const truth = test.map((r) => trueReturnProbability(r));
    metrics.true_probability_roc_auc = round(rocAuc(truth, yTest));
    metrics.true_probability_log_loss = round(logLoss(truth, yTest));
  }
  metrics.reliability = cal.bins;
  const card = {
    name,
    version: options.version,
    model_sha256: createHash("sha256").update(bytes).digest("hex"),
    algorithm: fit.algorithm,
    hyperparameters: fit.hyperparameters,
    created_from: {
      data: data.source,
      data_sha256: data.sha256,
      events: data.records.length,
      skipped_lines: data.skipped,
      seed: options.seed,
      test_fraction: options.testFraction,
    },
    input: { name: input.name, type: input.type, shape: ["N", cols] },
    output: { name: config.model.output.name, returned_class: returned, shape: ["N", 2] },
    features: columnNames(input),
    mapping: input.features.map((f) => ({ field: f.field, encode: f.encode })),
    split: { train: train.length, test: test.length },
    metrics,
    ...fit.details,
  };
  await Deno.writeTextFile(cardPath, JSON.stringify(card, null, 2) + "\n");
  return { modelPath: options.out, cardPath, card };
}

interface FitOptions {
  readonly rows: number;
  readonly cols: number;
  readonly name: string;
  readonly returned: 0 | 1;
  readonly l2: number;
  readonly trees: number;
  readonly depth: number;
  readonly learningRate: number;
  readonly version: string;
  readonly config: PipelineConfig;
}

interface Fit {
  readonly bytes: Uint8Array;
  readonly algorithm: string;
  readonly hyperparameters: Record<string, number>;
  readonly details: Record<string, unknown>;
}

function fitLinear(x: Float32Array | Float64Array, y: Uint8Array, o: FitOptions): Fit {
  const input = o.config.model.inputs[0];
  const fitted = fitLogistic(x, y, { rows: o.rows, cols: o.cols, l2: o.l2 });
  return {
    bytes: logisticOnnx(fitted, {
      input: input.name,
      inputType: input.type as "float32" | "float64",
      output: o.config.model.output.name,
      returnedColumn: o.returned,
      docString: `Return probability of an order: logistic regression over ${o.cols} columns.`,
      metadata: { name: o.name, version: o.version },
    }),
    algorithm: "logistic regression, L2, Newton's method; standardisation inside the graph",
    hyperparameters: { l2: o.l2, iterations: fitted.iterations },
    details: {
      coefficients_per_unit: Object.fromEntries(
        columnNames(input).map((c, i) => [c, round(fitted.weights[i] / fitted.std[i], 9)]),
      ),
    },
  };
}

function fitTrees(x: Float32Array | Float64Array, y: Uint8Array, o: FitOptions): Fit {
  const input = o.config.model.inputs[0];
  if (!(x instanceof Float32Array)) {
    throw new UserError("Cannot train gbdt: model.inputs[0].type must be float32", {
      hint: "tree thresholds are float32, as onnxruntime compares them",
    });
  }
  const fitted = fitBoostedTrees(x, y, {
    rows: o.rows,
    cols: o.cols,
    trees: o.trees,
    depth: o.depth,
    learningRate: o.learningRate,
    l2: o.l2,
  });
  return {
    bytes: ensembleOnnx(fitted, {
      input: input.name,
      output: o.config.model.output.name,
      returnedColumn: o.returned,
      cols: o.cols,
      docString: `Return probability of an order: ${o.trees} boosted trees over ${o.cols} columns.`,
      metadata: { name: o.name, version: o.version },
    }),
    algorithm:
      "gradient-boosted trees (log loss, second-order steps, quantile splits); ai.onnx.ml TreeEnsembleRegressor + Sigmoid",
    hyperparameters: {
      trees: o.trees,
      depth: o.depth,
      learning_rate: o.learningRate,
      l2: o.l2,
      splits: splitCount(fitted),
    },
    details: {},
  };
}

/** A permutation of 0..n-1 fixed by the seed (Fisher-Yates). */
function shuffled(n: number, seed: number): number[] {
  const rng = new Random(seed, 0x5e11);
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

export { ensembleOnnx, ensembleProbability, fitBoostedTrees } from "./_trees.ts";
