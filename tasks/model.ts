/** `deno task model inspect [PATH]`: what an ONNX model declares and whether pipeline.yaml fits it. */
import { relative, resolve } from "node:path";
import { ExitCode, parseFlags, runMain, UsageError } from "../lib/cli/mod.ts";
import { loadConfig } from "../lib/config/mod.ts";
import { out, warn } from "../lib/log/mod.ts";
import { checkModel } from "../lib/model/mod.ts";
import { formatType, zipMapFor, zipMapLabels } from "../lib/model/onnx/mod.ts";

const HELP = `Shows an ONNX model's inputs, outputs, opsets and model card, and checks it
against the model section of pipeline.yaml.

USAGE
  deno task model inspect [PATH] [OPTIONS]

ARGUMENTS
  PATH           the .onnx file (default: model.path in pipeline.yaml)

OPTIONS
  --config PATH  pipeline.yaml holding the mapping to check (default ./pipeline.yaml)
  -h, --help     show this help

Exit codes: 0 the model fits pipeline.yaml, 2 a mismatch (each one listed) or a usage error.`;

async function main(): Promise<number> {
  const { values, positionals } = parseFlags(Deno.args, {}, { allowPositionals: true });
  if (values.help) {
    out(HELP);
    return ExitCode.ok;
  }
  const [command, path, ...extra] = positionals;
  if (command !== "inspect") {
    throw new UsageError(command ? `unknown command "${command}"` : "missing command (inspect)");
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

if (import.meta.main) runMain(main);
