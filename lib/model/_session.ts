/**
 * The return-probability model: loads an ONNX file, checks the mapping in pipeline.yaml
 * against what the file declares, and scores a whole batch of events in one session.run.
 * The only importer of onnxruntime-node.
 */
import * as ort from "onnxruntime-node";
import { createHash } from "node:crypto";
import type { PipelineConfig } from "../config/mod.ts";
import { displayPath, errorText, UserError } from "../errors/mod.ts";
import { encodeInput, type EventRecord, inputWidth } from "./_features.ts";
import {
  exposeZipMapInput,
  formatType,
  type ModelInfo,
  readModelInfo,
  zipMapFor,
  zipMapLabels,
} from "./onnx/mod.ts";

/** A loaded model, ready to score batches. */
export interface ReturnModel {
  /** "sha256:<first 16 hex of the file>", plus "+card:<version>" if a model card exists. */
  readonly version: string;
  readonly path: string;
  /** What the caller should tell the user about the model (e.g. a card that was ignored). */
  readonly warnings: readonly string[];
  /** One probability of return per event, in [0, 1]; one session.run per call. */
  predict(events: readonly EventRecord[]): Promise<Float64Array>;
  close(): Promise<void>;
}

/** The model card written next to a trained model (`<name>.card.json`). */
export interface ModelCard {
  readonly name: string;
  readonly version: string;
  readonly [key: string]: unknown;
}

/** Where the probability is read from the session's outputs. */
interface ReadPlan {
  /** Output fetched from the session (the ZipMap's input when the output is a ZipMap). */
  readonly fetch: string;
  /** Column of the returned class; null when the output holds one probability per row. */
  readonly column: number | null;
  /** Set when the graph must be rewritten to expose the tensor feeding a ZipMap. */
  readonly zipMapOutput?: string;
  /** Rank of each input tensor, by name: 1 for `[N]`, else 2 (`[N, D]`). */
  readonly ranks: Readonly<Record<string, number>>;
}

/** What `deno task model inspect` reports about a model file. */
export interface Inspection {
  readonly path: string;
  readonly size: number;
  readonly sha256: string;
  readonly info: ModelInfo;
  readonly card?: ModelCard;
  /** Mismatches between the model and pipeline.yaml; empty when it can be used. */
  readonly problems: readonly string[];
  /** Things worth telling that do not stop the model from being used. */
  readonly warnings: readonly string[];
}

/** The model card path of a model path: `x.onnx` -> `x.card.json`. */
export function cardPathFor(modelPath: string): string {
  return modelPath.replace(/\.onnx$/i, "") + ".card.json";
}

/** The model's card, if one exists and was written for these very bytes. */
async function readCard(
  modelPath: string,
  sha256: string,
  onWarning: (message: string) => void,
): Promise<ModelCard | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(cardPathFor(modelPath));
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw error;
  }
  try {
    const card = JSON.parse(text);
    if (typeof card?.name === "string" && typeof card?.version === "string") {
      if (typeof card.model_sha256 !== "string" || card.model_sha256 === sha256) return card;
      // A card left behind by another model would give this one a false version.
      onWarning(
        `model card "${displayPath(cardPathFor(modelPath))}" describes another model file: ignored`,
      );
      return undefined;
    }
  } catch {
    // An unreadable card is reported below, like a card without name/version.
  }
  throw new UserError(
    `Cannot use model card "${
      displayPath(cardPathFor(modelPath))
    }": not JSON with "name" and "version"`,
    { hint: "retrain the model or delete the card" },
  );
}

/**
 * Compares the mapping in pipeline.yaml with what the model declares; returns every problem
 * and, when there are none, how to read the probability. The mapping's own consistency (fields,
 * encodings, tensor types) was checked when the config was loaded.
 */
function checkMapping(
  info: ModelInfo,
  model: PipelineConfig["model"],
): { problems: string[]; plan?: ReadPlan } {
  const problems: string[] = [];
  const mapped = new Map(model.inputs.map((input, i) => [input.name, { input, i }]));
  const ranks: Record<string, number> = {};
  for (const declared of info.inputs) {
    if (!mapped.has(declared.name)) {
      problems.push(
        `model input "${declared.name}" (${
          formatType(declared.type)
        }) is not fed by pipeline.yaml (add it under model.inputs)`,
      );
    }
  }
  const inputNames = info.inputs.map((v) => v.name).join(", ");
  for (const [name, { input, i }] of mapped) {
    const declared = info.inputs.find((v) => v.name === name);
    if (!declared) {
      problems.push(
        `model.inputs[${i}] "${name}" is not an input of the model (its inputs: ${inputNames})`,
      );
      continue;
    }
    const t = declared.type;
    if (t.kind !== "tensor") {
      problems.push(`model input "${name}" is a ${formatType(t)}, not a tensor`);
      continue;
    }
    if (t.elemType !== input.type) {
      problems.push(
        `model input "${name}" is ${t.elemType} but pipeline.yaml says ${input.type} (model.inputs[${i}].type)`,
      );
    }
    const width = inputWidth(input);
    ranks[name] = t.dims?.length === 1 ? 1 : 2;
    if (!t.dims) continue;
    if (t.dims.length === 2) {
      const cols = t.dims[1];
      if (typeof cols === "number" && cols !== width) {
        problems.push(
          `model input "${name}" takes ${cols} column(s) but pipeline.yaml maps ${width} (model.inputs[${i}].features)`,
        );
      }
    } else if (t.dims.length === 1) {
      if (width !== 1) {
        problems.push(
          `model input "${name}" is one value per row but pipeline.yaml maps ${width} columns`,
        );
      }
    } else {
      problems.push(`model input "${name}" has shape ${formatType(t)}; expected [N, D] or [N]`);
    }
    if (typeof t.dims[0] === "number" && t.dims[0] !== -1) {
      problems.push(
        `model input "${name}" has a fixed batch size ${
          t.dims[0]
        }; export it with a dynamic first dimension`,
      );
    }
  }
  const plan = readPlan(info, model, problems);
  return problems.length || !plan ? { problems } : { problems, plan: { ...plan, ranks } };
}

function readPlan(
  info: ModelInfo,
  model: PipelineConfig["model"],
  problems: string[],
): Omit<ReadPlan, "ranks"> | undefined {
  const { name, returnedClass } = model.output;
  const output = info.outputs.find((o) => o.name === name);
  if (!output) {
    const names = info.outputs.map((o) => o.name).join(", ");
    problems.push(
      `model output "${name}" does not exist (its outputs: ${names}; set model.output.name)`,
    );
    return undefined;
  }
  const t = output.type;
  if (t.kind === "tensor") {
    if (t.elemType !== "float32" && t.elemType !== "float64") {
      problems.push(
        `model output "${name}" is ${
          formatType(t)
        }, not probabilities (a float tensor or a ZipMap)`,
      );
      return undefined;
    }
    if (typeof returnedClass === "string") {
      problems.push(
        `model.output.returned_class "${returnedClass}" is a label, but output "${name}" has no class labels (use a column index)`,
      );
      return undefined;
    }
    const cols = t.dims?.length === 2 ? t.dims[1] : t.dims?.length === 1 ? 1 : null;
    if (cols === 1) return { fetch: name, column: null };
    if (typeof cols === "number" && returnedClass >= cols) {
      problems.push(
        `model.output.returned_class ${returnedClass} is not a column of output "${name}" (${cols} columns)`,
      );
      return undefined;
    }
    return { fetch: name, column: returnedClass };
  }
  const zipMap = zipMapFor(info, name);
  if (!zipMap) {
    problems.push(`model output "${name}" is a ${formatType(t)}, not a probability tensor`);
    return undefined;
  }
  const labels = zipMapLabels(zipMap);
  let column: number;
  if (typeof returnedClass === "string") column = labels.map(String).indexOf(returnedClass);
  else if (labels.every((l) => typeof l === "number")) column = labels.indexOf(returnedClass);
  else column = returnedClass < labels.length ? returnedClass : -1;
  if (column < 0) {
    problems.push(
      `model.output.returned_class ${
        JSON.stringify(returnedClass)
      } is not one of the class labels of output "${name}" (${labels.join(", ")})`,
    );
    return undefined;
  }
  return { fetch: zipMap.inputs[0], column, zipMapOutput: name };
}

/** Reads a model file and checks it against the mapping, without starting a session. */
async function inspectModel(
  path: string,
  config: Pick<PipelineConfig, "model" | "events">,
): Promise<Inspection & { bytes: Uint8Array; plan?: ReadPlan }> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (error) {
    const state = error instanceof Deno.errors.NotFound ? "file not found" : String(error);
    throw new UserError(`Cannot use model "${displayPath(path)}": ${state}`, {
      hint: "train one with `deno task train`, or set model.path in pipeline.yaml",
      cause: error,
    });
  }
  let info: ModelInfo;
  try {
    info = readModelInfo(bytes);
  } catch (error) {
    throw new UserError(
      `Cannot use model "${displayPath(path)}": not an ONNX model (${(error as Error).message})`,
      { cause: error },
    );
  }
  const { problems, plan } = checkMapping(info, config.model);
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  const warnings: string[] = [];
  return {
    path,
    bytes,
    size: bytes.length,
    sha256,
    info,
    card: await readCard(path, sha256, (warning) => warnings.push(warning)),
    problems,
    warnings,
    plan,
  };
}

function problemsError(path: string, problems: readonly string[]): UserError {
  return new UserError(
    `Cannot use model "${displayPath(path)}": ${problems.length} problem(s): ${
      problems.join(" ; ")
    }`,
    {
      hint:
        "align model.inputs / model.output in pipeline.yaml with the model (see `deno task model inspect`)",
    },
  );
}

function createSession(bytes: Uint8Array, plan: ReadPlan): Promise<ort.InferenceSession> {
  const runnable = plan.zipMapOutput ? exposeZipMapInput(bytes, plan.zipMapOutput) : bytes;
  // One intra-op thread: with more, onnxruntime sums a tree ensemble's trees in another order
  // for batches under about 100 rows, so one event's score moved (up to 2e-7) with how Kafka
  // batched it, and a rescore could not give the consumer's scores. Speed is unchanged here.
  return ort.InferenceSession.create(runnable, { intraOpNumThreads: 1 });
}

/**
 * Inspects a model file and, when the mapping fits, also has onnxruntime load it: no
 * problems means the consumer can use it.
 */
export async function checkModel(
  path: string,
  config: Pick<PipelineConfig, "model" | "events">,
): Promise<Inspection> {
  const inspection = await inspectModel(path, config);
  const { bytes: _bytes, plan, ...report } = inspection;
  if (report.problems.length || !plan) return report;
  try {
    const session = await createSession(inspection.bytes, plan);
    await session.release();
    return report;
  } catch (error) {
    return { ...report, problems: [`onnxruntime cannot load it: ${errorText(error)}`] };
  }
}

/** Opens a model file checked against a mapping; every mismatch in one UserError (exit 2). */
export async function openReturnModel(
  path: string,
  config: Pick<PipelineConfig, "model" | "events">,
): Promise<ReturnModel> {
  const inspection = await inspectModel(path, config);
  const { plan } = inspection;
  if (inspection.problems.length || !plan) throw problemsError(path, inspection.problems);
  let session: ort.InferenceSession;
  try {
    session = await createSession(inspection.bytes, plan);
  } catch (error) {
    throw problemsError(path, [`onnxruntime cannot load it: ${errorText(error)}`]);
  }
  const version = `sha256:${inspection.sha256.slice(0, 16)}` +
    (inspection.card ? `+card:${inspection.card.version}` : "");
  const fields = config.events.fields;
  // Everything but the batch size is fixed at load time.
  const inputs = config.model.inputs.map((input) => ({
    input,
    row: plan.ranks[input.name] === 1 ? [] : [inputWidth(input)],
  }));
  return {
    version,
    path,
    warnings: inspection.warnings,
    async predict(events) {
      const n = events.length;
      if (n === 0) return new Float64Array(0);
      const feeds: Record<string, ort.Tensor> = {};
      for (const { input, row } of inputs) {
        feeds[input.name] = new ort.Tensor(input.type, encodeInput(events, input, fields), [
          n,
          ...row,
        ]);
      }
      const result = await session.run(feeds, [plan.fetch]);
      return probabilities(result[plan.fetch], n, plan.column);
    },
    async close() {
      await session.release();
    },
  };
}

/** Takes the returned-class column out of the output tensor; throws on anything not in [0, 1]. */
function probabilities(tensor: ort.Tensor | undefined, n: number, column: number | null) {
  if (!tensor || (tensor.type !== "float32" && tensor.type !== "float64")) {
    throw new Error(`Cannot score batch: the model returned ${tensor?.type ?? "nothing"}`);
  }
  const data = tensor.data as Float32Array | Float64Array;
  const width = data.length / n;
  if (!Number.isInteger(width) || tensor.dims[0] !== n) {
    throw new Error(`Cannot score batch: output shape [${tensor.dims}] for ${n} rows`);
  }
  const col = column ?? 0;
  if (col >= width) {
    throw new Error(`Cannot score batch: no column ${col} in output [${tensor.dims}]`);
  }
  const out = new Float64Array(n);
  for (let r = 0; r < n; r++) {
    const p = data[r * width + col];
    if (!(p >= 0 && p <= 1)) {
      throw new Error(`Cannot score batch: the model gave ${p} for row ${r}, not a probability`);
    }
    out[r] = p;
  }
  return out;
}

/** Loads the model of pipeline.yaml, checked against its mapping. */
export function loadModel(config: PipelineConfig): Promise<ReturnModel> {
  return openReturnModel(config.model.path, config);
}
