/** `deno task consume`: Kafka -> validation -> model -> MySQL/MariaDB, exactly-once effects. */
import { loadConfig } from "./lib/config/mod.ts";
import { ExitCode, numberFlag, parseFlags, runMain, UsageError } from "./lib/cli/mod.ts";
import { log, out, setLogFormat } from "./lib/log/mod.ts";
import { consume } from "./lib/consumer/mod.ts";

const help =
  `Consumes order events from Kafka, scores them with the ONNX model and stores events and
predictions in MySQL/MariaDB: one model run and one transaction per batch, offsets stored in
the same transaction (exactly-once effects). Bad records go to the dead-letter topic.

USAGE:
  deno task consume [OPTIONS]

OPTIONS:
  --config PATH          pipeline.yaml to read (default: $PIPELINE_CONFIG or ./pipeline.yaml)
  --group GROUP          consumer group (default: kafka.consumer_group)
  --topic TOPIC          topic (default: kafka.topic)
  --from-beginning       a group without committed offsets starts at the oldest message (default)
  --no-from-beginning    a group without committed offsets starts with new messages only
  --until-idle [MS]      exit 0 once no assigned partition has had lag for MS ms (default 3000)
  --max-events N         exit 0 after handling N messages
  --quiet                no per-event lines (summaries still print)
  --events               per-event lines even while the backlog is large (consumer.quiet_backlog)
  --log-format FORMAT    text (default) or json: one JSON object per line (consumer.log_format)
  -h, --help             show this help

OUTPUT:
  stdout  [OK] Consumer started. Waiting for messages...
          [OK] event_id=... ingested | return_proba=0.123
          [SKIP] event_id=... duplicate
          [DLQ] offset=... partition=... field=... reason=...
          [SUMMARY] ingested=... duplicates=... dead_lettered=... rate=... events/s lag=...
  stderr  diagnostics: group assignment, retries, dead-letter topic creation, errors

MODEL SWAP:
  A new file at model.path (written elsewhere and renamed into place) is loaded and checked
  while the current model scores; it takes over between two batches. SIGHUP reloads it at
  once. A file that does not fit pipeline.yaml keeps the current model (logged once).
  With model.shadow, a second model scores every written event into table_shadow_predictions.

EXIT CODES:
  0  stopped (SIGINT/SIGTERM, --until-idle, --max-events)
  1  runtime failure
  2  usage or config error; Kafka, topic, database or model unusable at start`;

/** `--until-idle` takes an optional value: give it an explicit one for parseArgs. */
function normalizeArgs(args: string[]): string[] {
  const result: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--until-idle") {
      const next = args[i + 1];
      if (next !== undefined && /^\d+$/.test(next)) {
        result.push(`--until-idle=${next}`);
        i++;
      } else result.push("--until-idle=3000");
    } else result.push(args[i]);
  }
  return result;
}

runMain(async () => {
  const { values } = parseFlags(normalizeArgs(Deno.args), {
    group: { type: "string" },
    topic: { type: "string" },
    "from-beginning": { type: "boolean" },
    "no-from-beginning": { type: "boolean" },
    "until-idle": { type: "string" },
    "max-events": { type: "string" },
    quiet: { type: "boolean" },
    events: { type: "boolean" },
    "log-format": { type: "string" },
  });
  if (values.help) {
    out(help);
    return ExitCode.ok;
  }
  const untilIdleMs = numberFlag("until-idle", values["until-idle"], { integer: true });
  const maxEvents = numberFlag("max-events", values["max-events"], { integer: true, min: 1 });
  const format = values["log-format"];
  if (format !== undefined && format !== "text" && format !== "json") {
    throw new UsageError(`--log-format expects text or json, got "${format}"`);
  }
  const config = await loadConfig(values.config);
  setLogFormat(format ?? config.consumer.logFormat);

  const stop = new AbortController();
  let firstSignalAt: number | undefined;
  const onSignal = () => {
    if (firstSignalAt === undefined) {
      firstSignalAt = Date.now();
      log("Stopping: finishing the batch in flight (signal again to exit at once)");
      stop.abort();
      // Ctrl-C under `deno task` delivers SIGINT twice (the terminal's, and the one the task
      // runner forwards): only a signal well after the first is a deliberate second one.
    } else if (Date.now() - firstSignalAt > 1000) Deno.exit(ExitCode.failure);
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  // SIGHUP reads model.path (and model.shadow.path) again, as a change to the file does.
  const reloadModel = new EventTarget();
  Deno.addSignalListener("SIGHUP", () => reloadModel.dispatchEvent(new Event("reload")));

  await consume(config, {
    group: values.group,
    topic: values.topic,
    fromBeginning: !values["no-from-beginning"],
    untilIdleMs,
    maxEvents,
    quiet: values.quiet,
    events: values.events,
    signal: stop.signal,
    reloadModel,
  });
  return ExitCode.ok;
});
