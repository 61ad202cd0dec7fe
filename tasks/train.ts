/** `deno task train`: trains the default return model and writes it with its model card. */
import { relative, resolve } from "node:path";
import { numberFlag, parseFlags, runMain, UsageError } from "../lib/cli/mod.ts";
import { loadConfig } from "../lib/config/mod.ts";
import { log, out } from "../lib/log/mod.ts";
import { trainModel } from "../training/mod.ts";

const HELP = `Trains the return-probability model (logistic regression, or boosted trees) and
writes it as ONNX, with a model card (<name>.card.json) holding its held-out metrics.

USAGE
  deno task train [OPTIONS]

OPTIONS
  --data PATH        labelled JSON Lines (order_is_returned true/false on each line);
                     without it, events are generated in memory (lib/generate.ts)
  --events N         generated events (default 50000; ignored with --data)
  --seed S           seed of the generator and of the train/test split (default 42)
  --out PATH         model file to write (default: model.path in pipeline.yaml)
  --algorithm A      gbdt (gradient-boosted trees, default) or logistic
  --l2 X             L2 penalty: on the standardised weights (logistic, default 0.0001)
                     or on the leaf values (gbdt, default 1)
  --trees N          gbdt: number of trees (default 150)
  --depth N          gbdt: depth of each tree (default 2)
  --learning-rate X  gbdt: shrinkage of each tree (default 0.2)
  --test-fraction F  share of events held out for the metrics (default 0.2)
  --version V        version written into the model card (default 1)
  --config PATH      pipeline.yaml whose model section defines the features
  -h, --help         show this help

The features are the columns of model.inputs[0] in pipeline.yaml (one float32 or float64
input), encoded by the code that serving uses. Exit codes: 0 ok, 1 failure, 2 usage/config.`;

async function main(): Promise<number> {
  const { values } = parseFlags(Deno.args, {
    data: { type: "string" },
    events: { type: "string" },
    seed: { type: "string" },
    out: { type: "string" },
    algorithm: { type: "string" },
    l2: { type: "string" },
    trees: { type: "string" },
    depth: { type: "string" },
    "learning-rate": { type: "string" },
    "test-fraction": { type: "string" },
    version: { type: "string" },
  });
  if (values.help) {
    out(HELP);
    return 0;
  }
  const events = numberFlag("events", values.events, { integer: true, min: 10 }) ?? 50_000;
  const seed = numberFlag("seed", values.seed, { integer: true }) ?? 42;
  const algorithm = values.algorithm ?? "gbdt";
  if (algorithm !== "logistic" && algorithm !== "gbdt") {
    throw new UsageError(`--algorithm expects logistic or gbdt, got "${algorithm}"`);
  }
  const l2 = numberFlag("l2", values.l2) ?? (algorithm === "gbdt" ? 1 : 1e-4);
  const trees = numberFlag("trees", values.trees, { integer: true, min: 1 }) ?? 150;
  const depth = numberFlag("depth", values.depth, { integer: true, min: 1 }) ?? 2;
  const learningRate = numberFlag("learning-rate", values["learning-rate"]) ?? 0.2;
  const testFraction = numberFlag("test-fraction", values["test-fraction"]) ?? 0.2;
  const config = await loadConfig(values.config);
  const started = performance.now();
  const result = await trainModel({
    config,
    data: values.data,
    events,
    seed,
    out: values.out ? resolve(values.out) : config.model.path,
    algorithm,
    l2,
    trees,
    depth: Math.min(depth, 12),
    learningRate,
    testFraction: Math.min(Math.max(testFraction, 0.01), 0.9),
    version: values.version ?? "1",
  });
  const m = result.card.metrics as Record<string, number>;
  const truth = m.true_probability_roc_auc !== undefined
    ? ` (true probabilities: ${m.true_probability_roc_auc})`
    : "";
  log(
    `trained in ${((performance.now() - started) / 1000).toFixed(1)}s: ROC AUC ${m.roc_auc}` +
      `${truth}, log loss ${m.log_loss}, ECE ${m.ece}`,
  );
  out(relative(Deno.cwd(), result.modelPath));
  out(relative(Deno.cwd(), result.cardPath));
  return 0;
}

if (import.meta.main) runMain(main);
