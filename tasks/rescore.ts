/** `deno task rescore`: stored events scored again with a model, resumable, exact counts. */
import { resolve } from "node:path";
import { ExitCode, numberFlag, parseFlags, runMain, timeFlag, UsageError } from "../lib/cli/mod.ts";
import { loadConfig } from "../lib/config/mod.ts";
import { CountProgress, log, out, warn } from "../lib/log/mod.ts";
import { rescore, rescoreExitCode, rescoreLines } from "../lib/rescore/mod.ts";

const HELP = `Scores the events stored in the database again with a model and upserts
table_predictions with its version: after a swap, the orders already stored get the new
model's score without replaying Kafka. Events are read in event_id order (columns and
extra_fields, validated as the consumer validates them) and written in batches, each in one
transaction with the run's position: a run that is killed resumes where it stopped when the
same command runs again.

USAGE
  deno task rescore [OPTIONS]

OPTIONS
  --model PATH      the .onnx file to score with (default: model.path); it must fit the
                    model section of pipeline.yaml, which feeds it
  --since TIME      only events with event_time >= TIME (ISO 8601, e.g. 2026-01-31)
  --until TIME      only events with event_time < TIME
  --dry-run         read and score, write nothing; print how the scores would change
  --batch-size N    events per batch and transaction (default 1000)
  --config PATH     pipeline.yaml (default: $PIPELINE_CONFIG or ./pipeline.yaml)
  -h, --help        show this help

OUTPUT
  stdout  rescored N of M event(s) with <version>: C changed, U unchanged, X unscorable
  stderr  progress, resumption, warnings

EXIT CODES
  0 every event rescored, 1 some events could not be scored (listed) or a runtime failure,
  2 usage or config error, model unusable, database unreachable`;

async function main(): Promise<number> {
  const { values } = parseFlags(Deno.args, {
    model: { type: "string" },
    since: { type: "string" },
    until: { type: "string" },
    "dry-run": { type: "boolean" },
    "batch-size": { type: "string" },
  });
  if (values.help) {
    out(HELP);
    return ExitCode.ok;
  }
  const since = timeFlag("since", values.since);
  const until = timeFlag("until", values.until);
  if (since && until && since >= until) throw new UsageError("--since must be before --until");
  const batchSize = numberFlag("batch-size", values["batch-size"], { integer: true, min: 1 });
  const config = await loadConfig(values.config);
  let progress: CountProgress | undefined;
  const result = await rescore(config, {
    modelPath: values.model ? resolve(values.model) : undefined,
    since,
    until,
    dryRun: values["dry-run"],
    batchSize,
  }, {
    info: log,
    warn,
    progress: ({ done, total, changed, start }) => {
      progress ??= new CountProgress({ total, unit: "events" });
      progress.update(done, `${changed.toLocaleString("en-US")} changed`, { start });
    },
  });
  progress?.finish();
  for (const line of rescoreLines(result)) out(line);
  return rescoreExitCode(result);
}

if (import.meta.main) runMain(main);
