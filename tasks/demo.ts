/**
 * `deno task demo`: services, migration, sample data, consumer + producer, the guide's checks,
 * on a topic, group and database of its own unless --use-configured.
 */
import { loadConfig } from "../lib/config/mod.ts";
import { ExitCode, numberFlag, parseFlags, runMain } from "../lib/cli/mod.ts";
import { out } from "../lib/log/mod.ts";
import { runDemo } from "../dev/demo/mod.ts";

const help = `Runs the guide's walk-through end to end: starts Kafka/MariaDB if they do not answer,
migrates the database, generates the sample file (producer.file) if it is missing, empties the
four tables and resets the topic (the guide's §9.1), starts the consumer, produces the sample,
waits until all of it is consumed, prints the guide's §8.2 counts and the 10 latest
predictions, and stops what it started.

It runs on names of its own, derived from pipeline.yaml's and printed at start: topic
<kafka.topic>_demo, consumer group <kafka.consumer_group>_demo, database <database>_demo.
Only these are emptied or deleted; pipeline.yaml's topic, group and database are untouched.

USAGE:
  deno task demo [OPTIONS]

OPTIONS:
  --config PATH       pipeline.yaml to read (default: $PIPELINE_CONFIG or ./pipeline.yaml)
  --use-configured    run on pipeline.yaml's topic, group and database instead: empties its
                      four tables and resets its topic; the group is never deleted (Kafka
                      drops its offsets of the reset topic only)
  --clean             remove the demo's own topics, group and database at the end
  --keep-data         do not empty the tables (a rerun then shows every event as a duplicate)
  --keep-services     leave running a Kafka broker the demo had to start
  --verbose           print the consumer's per-event lines
  --events N          events to generate when the sample file is missing (default 2000)
  -h, --help          show this help

EXIT CODES:
  0  every produced message was ingested, skipped as a duplicate or dead-lettered
  1  some were not accounted for
  2  usage or config error; services, database, topic or model unusable`;

runMain(async () => {
  const { values } = parseFlags(Deno.args, {
    "use-configured": { type: "boolean" },
    clean: { type: "boolean" },
    "keep-data": { type: "boolean" },
    "keep-services": { type: "boolean" },
    verbose: { type: "boolean" },
    events: { type: "string" },
  });
  if (values.help) {
    out(help);
    return ExitCode.ok;
  }
  const events = numberFlag("events", values.events, { integer: true, min: 1 });
  const config = await loadConfig(values.config);
  return await runDemo(config, {
    useConfigured: values["use-configured"],
    clean: values.clean,
    keepData: values["keep-data"],
    keepServices: values["keep-services"],
    verbose: values.verbose,
    events,
  });
});
