/** `deno task admin`: list, describe, create, delete and reset the pipeline's Kafka topics. */
import { loadConfig } from "./lib/config/mod.ts";
import { numberFlag, parseFlags, runMain, UsageError } from "./lib/cli/mod.ts";
import { out } from "./lib/log/mod.ts";
import { type AdminRequest, defaultWaitMs, runAdmin } from "./lib/admin/mod.ts";

const common =
  `  --config PATH       pipeline.yaml to read (default: $PIPELINE_CONFIG or ./pipeline.yaml)
  -h, --help          show this help`;

const exitCodes = `EXIT CODES:
  0  done (also: --if-not-exists / --if-exists found nothing to do)
  1  the broker refused: topic already exists (create), topic missing (delete, describe),
     timeout while the broker removes or recreates a topic; or the topic was deleted but
     the database was unreachable, so its stored offsets are still there (see the warning)
  2  usage or config error, or Kafka unreachable`;

const help: Record<string, string> = {
  main: `Administers the pipeline's Kafka topics (names and layout from pipeline.yaml).

USAGE:
  deno task admin <COMMAND> [OPTIONS]

COMMANDS:
  list       topics and their partition counts
  describe   partitions, leaders, replicas, watermarks, consumer group offsets and lag
  create     create the topic with the configured partitions and replication
  delete     delete the topic
  reset      delete the topic, wait until it is gone, recreate it empty

OPTIONS:
${common}

Run \`deno task admin <COMMAND> --help\` for the options of a command.

${exitCodes}`,
  list: `Lists topics with their partition count and replication (internal topics hidden).

USAGE:
  deno task admin list [OPTIONS]

OPTIONS:
  --all               also show internal topics such as __consumer_offsets
${common}

${exitCodes}`,
  describe: `Describes a topic: partitions, leaders, replicas/ISR, low/high watermarks, the consumer
group's committed offsets and lag per partition with totals, and the dead-letter topic.

USAGE:
  deno task admin describe [OPTIONS]

OPTIONS:
  --name TOPIC        topic (default: kafka.topic)
  --group GROUP       consumer group (default: kafka.consumer_group)
${common}

${exitCodes}`,
  create: `Creates the topic and waits until every partition has a leader.

USAGE:
  deno task admin create [OPTIONS]

OPTIONS:
  --name TOPIC        topic (default: kafka.topic)
  --partitions N      partitions (default: kafka.partitions)
  --replication N     replication factor (default: kafka.replication_factor)
  --if-not-exists     an existing topic is not an error (exit 0, nothing changed)
  --with-dlq          also create the dead-letter topic (kafka.dead_letter_topic)
${common}

${exitCodes}`,
  delete: `Deletes the topic (its messages are lost). Stored events and predictions are kept;
the consumed offsets stored for the topic in the database are forgotten, as Kafka forgets
its committed offsets.

USAGE:
  deno task admin delete [OPTIONS]

OPTIONS:
  --name TOPIC        topic (default: kafka.topic)
  --if-exists         a missing topic is not an error (exit 0, nothing changed)
  --with-dlq          also delete the dead-letter topic (kafka.dead_letter_topic)
${common}

${exitCodes}`,
  reset: `Empties the topic in one step: deletes it, waits until the broker has removed it,
recreates it with the configured partitions and replication and waits for leaders.
A missing topic is simply created. Stored events and predictions are kept (re-sent events
are skipped as duplicates); the consumed offsets stored for the topic in the database are
forgotten, as Kafka forgets its committed offsets.

USAGE:
  deno task admin reset [OPTIONS]

OPTIONS:
  --name TOPIC        topic (default: kafka.topic)
  --partitions N      partitions (default: kafka.partitions)
  --replication N     replication factor (default: kafka.replication_factor)
  --with-dlq          also reset the dead-letter topic (default: it is kept, it holds the
                      evidence of rejected records)
  --timeout-ms MS     how long to wait for the broker at each step (default: ${defaultWaitMs})
${common}

${exitCodes}`,
};

const commandFlags = {
  list: { all: { type: "boolean" } },
  describe: { name: { type: "string" }, group: { type: "string" } },
  create: {
    name: { type: "string" },
    partitions: { type: "string" },
    replication: { type: "string" },
    "if-not-exists": { type: "boolean" },
    "with-dlq": { type: "boolean" },
  },
  delete: {
    name: { type: "string" },
    "if-exists": { type: "boolean" },
    "with-dlq": { type: "boolean" },
  },
  reset: {
    name: { type: "string" },
    partitions: { type: "string" },
    replication: { type: "string" },
    "with-dlq": { type: "boolean" },
    "timeout-ms": { type: "string" },
  },
} as const;

type Command = keyof typeof commandFlags;

async function main(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  if (command === undefined || command === "--help" || command === "-h") {
    if (command === undefined) {
      throw new UsageError("missing command (list, describe, create, delete, reset)");
    }
    out(help.main);
    return 0;
  }
  if (!(command in commandFlags)) {
    throw new UsageError(
      `unknown command "${command}" (expected list, describe, create, delete or reset)`,
    );
  }
  const { values } = parseFlags(rest, commandFlags[command as Command]);
  const flags = values as Record<string, string | boolean | undefined>;
  if (flags.help) {
    out(help[command]);
    return 0;
  }
  const config = await loadConfig(flags.config as string | undefined);
  const topic = (flags.name as string | undefined) ?? config.kafka.topic;
  if (!topic.trim()) throw new UsageError("--name must not be empty");
  const layout = () => ({
    partitions: numberFlag("partitions", flags.partitions as string | undefined, {
      integer: true,
      min: 1,
    }) ?? config.kafka.partitions,
    replicationFactor: numberFlag("replication", flags.replication as string | undefined, {
      integer: true,
      min: 1,
    }) ?? config.kafka.replicationFactor,
  });
  const withDlq = Boolean(flags["with-dlq"]);
  let request: AdminRequest;
  switch (command as Command) {
    case "list":
      request = { command: "list", all: Boolean(flags.all) };
      break;
    case "describe":
      request = {
        command: "describe",
        topic,
        group: (flags.group as string | undefined) ?? config.kafka.consumerGroup,
      };
      break;
    case "create":
      request = {
        command: "create",
        topic,
        ...layout(),
        ifNotExists: Boolean(flags["if-not-exists"]),
        withDlq,
      };
      break;
    case "delete":
      request = { command: "delete", topic, ifExists: Boolean(flags["if-exists"]), withDlq };
      break;
    case "reset":
      request = {
        command: "reset",
        topic,
        ...layout(),
        withDlq,
        timeoutMs: numberFlag("timeout-ms", flags["timeout-ms"] as string | undefined, {
          integer: true,
          min: 1,
        }) ?? defaultWaitMs,
      };
      break;
  }
  return await runAdmin(config, request);
}

if (import.meta.main) runMain(() => main(Deno.args));
