/** `deno task produce`: sends a JSON Lines file of order events to Kafka. */
import { ExitCode, numberFlag, parseFlags, runMain, UsageError } from "./lib/cli/mod.ts";
import { loadConfig } from "./lib/config/mod.ts";
import { PRODUCER_COMPRESSIONS, type ProducerCompression } from "./lib/kafka/mod.ts";
import { displayPath, log, out } from "./lib/log/mod.ts";
import { exitCodeOf, produceFile, summarize } from "./lib/producer/mod.ts";

const HELP = `Sends a JSON Lines file to Kafka: one message per line, key = event_id.

USAGE
  deno task produce [OPTIONS]

OPTIONS
  --file PATH           JSON Lines file, "-" for stdin (default: producer.file)
  --topic NAME          topic to send to; it must exist (default: kafka.topic)
  --limit N             send at most N messages
  --rate N              send at most N messages per second
  --no-key              send messages without a key (default key: event_id)
  --strict              stop at the first bad line; lines before it are sent
  --compression C       none or gzip (default: producer.compression)
  --config PATH         pipeline config (default ./pipeline.yaml or $PIPELINE_CONFIG)
  -h, --help            show this help

Lines that are not a JSON object or lack a key of events.required are reported with their
line number on stderr, counted and not sent. Blank lines, CRLF and a UTF-8 BOM are accepted.

EXIT CODES
  0  every line was sent and acknowledged (acks from producer.acks)
  1  some lines were skipped, --strict stopped, or a send failed
  2  bad usage or config, broker unreachable, topic missing`;

async function main(): Promise<number> {
  const { values } = parseFlags(Deno.args, {
    file: { type: "string" },
    topic: { type: "string" },
    limit: { type: "string" },
    rate: { type: "string" },
    "no-key": { type: "boolean" },
    strict: { type: "boolean" },
    compression: { type: "string" },
  });
  if (values.help) {
    out(HELP);
    return ExitCode.ok;
  }
  const limit = numberFlag("limit", values.limit, { integer: true });
  const rate = numberFlag("rate", values.rate);
  if (rate === 0) throw new UsageError('--rate expects a number > 0, got "0"');
  const compression = values.compression;
  if (
    compression !== undefined &&
    !(PRODUCER_COMPRESSIONS as readonly string[]).includes(compression)
  ) {
    throw new UsageError(
      `--compression expects one of ${PRODUCER_COMPRESSIONS.join(", ")}, got "${compression}" ` +
        "(snappy, lz4 and zstd need codec packages the Kafka client does not ship)",
    );
  }
  const config = await loadConfig(values.config);
  const file = values.file ?? config.producer.file;

  const topic = values.topic ?? config.kafka.topic;
  const result = await produceFile(config, {
    file,
    displayName: file === "-" ? "stdin" : displayPath(file),
    topic,
    limit,
    rate,
    key: !values["no-key"],
    strict: values.strict ?? false,
    compression: (compression ?? config.producer.compression) as ProducerCompression,
  });
  for (const line of summarize(result, topic)) log(line);
  if (result.failure) log(`error: ${result.failure}`);
  return exitCodeOf(result);
}

if (import.meta.main) runMain(main);
