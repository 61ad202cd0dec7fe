/**
 * `deno task model inspect [PATH]`: what an ONNX model declares and whether pipeline.yaml fits
 * it. `deno task model compare`: the live model against the shadow model on stored events.
 */
import { relative, resolve } from "node:path";
import { ExitCode, numberFlag, parseFlags, runMain, timeFlag, UsageError } from "../lib/cli/mod.ts";
import { loadConfig, type PipelineConfig } from "../lib/config/mod.ts";
import { errorNumber, openDatabase, readComparedPredictions } from "../lib/db/mod.ts";
import { UserError } from "../lib/errors/mod.ts";
import { log, out, warn } from "../lib/log/mod.ts";
import {
  calibrationLines,
  checkModel,
  ComparisonBuilder,
  comparisonLines,
  type ReliabilityBin,
} from "../lib/model/mod.ts";
import { formatType, zipMapFor, zipMapLabels } from "../lib/model/onnx/mod.ts";

const HELP = `Inspects a model file, or compares the live model with the shadow model.

USAGE
  deno task model inspect [PATH] [OPTIONS]
  deno task model compare [OPTIONS]

inspect: a model's inputs, outputs, opsets and model card (its held-out calibration with
bars), checked against the model section of pipeline.yaml.
  PATH             the .onnx file (default: model.path in pipeline.yaml)

compare: on stored events scored by both models (table_predictions, and
table_shadow_predictions written when model.shadow is set), with order_is_returned as the
outcome: ROC AUC, log loss and calibration of each model and their difference, and how
often they disagree by more than a threshold. Reads only.
  --threshold X    a disagreement is |shadow - live| > X (default 0.1)
  --since TIME     only events with event_time >= TIME (ISO 8601)
  --until TIME     only events with event_time < TIME

OPTIONS
  --config PATH    pipeline.yaml (default ./pipeline.yaml)
  -h, --help       show this help

Exit codes: 0 ok (inspect: the model fits pipeline.yaml), 1 nothing to compare,
2 a mismatch (each one listed), a usage or config error, or an unreachable database.`;

async function main(): Promise<number> {
  const { values, positionals } = parseFlags(Deno.args, {
    threshold: { type: "string" },
    since: { type: "string" },
    until: { type: "string" },
  }, { allowPositionals: true });
  if (values.help) {
    out(HELP);
    return ExitCode.ok;
  }
  const [command, path, ...extra] = positionals;
  if (command === "compare") {
    if (path) throw new UsageError(`unexpected argument "${path}"`);
    const threshold = numberFlag("threshold", values.threshold) ?? 0.1;
    if (threshold > 1) throw new UsageError(`--threshold expects a number from 0 to 1`);
    const since = timeFlag("since", values.since);
    const until = timeFlag("until", values.until);
    return compare(await loadConfig(values.config), { threshold, since, until });
  }
  if (command !== "inspect") {
    throw new UsageError(
      command ? `unknown command "${command}"` : "missing command (inspect or compare)",
    );
  }
  for (const flag of ["threshold", "since", "until"] as const) {
    if (values[flag] !== undefined) throw new UsageError(`--${flag} is for compare only`);
  }
  if (extra.length) throw new UsageError(`unexpected argument "${extra[0]}"`);
  const config = await loadConfig(values.config);
  const file = path ? resolve(path) : config.model.path;
  const report = await checkModel(file, config);
  const { info } = report;
  out(`model:    ${relative(Deno.cwd(), file) || file}`);
  out(`size:     ${report.size} bytes, sha256 ${report.sha256}`);
  out(`format:   ONNX IR ${info.irVersion}${info.producer ? `, from ${info.producer}` : ""}`);
  out(`opsets:   ${info.opsets.map((o) => `${o.domain || "ai.onnx"} ${o.version}`).join(", ")}`);
  out("inputs:");
  for (const v of info.inputs) out(`  ${v.name}: ${formatType(v.type)}`);
  out("outputs:");
  for (const v of info.outputs) {
    const zipMap = zipMapFor(info, v.name);
    const note = zipMap
      ? ` (ZipMap of "${zipMap.inputs[0]}", labels ${zipMapLabels(zipMap).join(", ")})`
      : "";
    out(`  ${v.name}: ${formatType(v.type)}${note}`);
  }
  if (report.card) {
    const m = (report.card.metrics ?? {}) as Record<string, unknown>;
    const metrics = ["roc_auc", "log_loss", "ece", "true_probability_roc_auc"]
      .filter((k) => m[k] !== undefined).map((k) => `${k} ${m[k]}`).join(", ");
    out(`card:     ${report.card.name} version ${report.card.version}`);
    if (metrics) out(`metrics:  ${metrics}`);
    const bins = m.reliability as ReliabilityBin[] | undefined;
    if (Array.isArray(bins) && bins.length) {
      out("calibration (held-out events of the card):");
      for (const line of calibrationLines(bins)) out(line);
    }
  } else {
    out("card:     none");
  }
  for (const warning of report.warnings) warn(warning);
  const source = relative(Deno.cwd(), config.source) || config.source;
  if (!report.problems.length) {
    out(`check:    ok, ${source} fits this model`);
    return ExitCode.ok;
  }
  out(`check:    ${report.problems.length} problem(s) against ${source}`);
  for (const p of report.problems) out(`  - ${p}`);
  return ExitCode.usage;
}

/** Events per page read from the database. */
const PAGE = 5000;

async function compare(
  config: PipelineConfig,
  options: { threshold: number; since?: Date; until?: Date },
): Promise<number> {
  const db = await openDatabase(config, { migrate: false, create: false });
  const builder = new ComparisonBuilder(options.threshold);
  try {
    log(`database ${db.target.display}`);
    let after: string | undefined;
    do {
      const page = await readComparedPredictions(db, { ...options, after, limit: PAGE })
        .catch((error) => {
          if (errorNumber(error) !== 1146) throw error; // ER_NO_SUCH_TABLE
          throw new UserError(`Cannot compare: table_shadow_predictions does not exist`, {
            hint: "run deno task migrate (the consumer also does at start)",
          });
        });
      builder.add(page.rows);
      after = page.next;
    } while (after !== undefined);
  } finally {
    await db.close();
  }
  if (!builder.events) {
    throw new UserError("Cannot compare: no stored event has both a live and a shadow score", {
      exitCode: ExitCode.failure,
      hint: "set model.shadow in pipeline.yaml and let the consumer ingest events (docs/model.md)",
    });
  }
  for (const line of comparisonLines(builder.build())) out(line);
  return ExitCode.ok;
}

if (import.meta.main) runMain(main);
