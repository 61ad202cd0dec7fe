/** `deno task dlq`: what the dead-letter topic holds, and replaying letters once fixed. */
import { loadConfig } from "../lib/config/mod.ts";
import { ExitCode, numberFlag, parseFlags, runMain, UsageError } from "../lib/cli/mod.ts";
import { log, out, table } from "../lib/log/mod.ts";
import { letterStats, readLetters, replayLetters } from "../lib/dlq/mod.ts";

const help = `Reads the dead-letter topic of kafka.topic (kafka.dead_letter_topic, by default
<topic>.dlq): counts by reason and field, or sends letters back to their source topic.

USAGE:
  deno task dlq stats [OPTIONS]
  deno task dlq replay [--reason R] [--field F] [--limit N] [--dry-run] [OPTIONS]

COMMANDS:
  stats    letters by reason kind (with an example reason) and by field; oldest and newest
  replay   sends the chosen letters to the topic they came from, with their original key
           and headers and a dlq-replayed-from header; the consumer ingests them as any
           other record (an event already stored counts as a duplicate). Fix the cause first
           (pipeline.yaml, the database, the model), then replay.

OPTIONS:
  --topic TOPIC       source topic whose dead letters to read (default: kafka.topic)
  --reason R          replay only letters of this reason kind (wrong_type, out_of_range,
                      database_rejected, ...) or whose reason starts with R
  --field F           replay only letters about this field
  --limit N           replay at most N letters (oldest first per partition)
  --dry-run           say what would be replayed; send nothing
  --config PATH       pipeline.yaml to read (default: $PIPELINE_CONFIG or ./pipeline.yaml)
  -h, --help          show this help

EXIT CODES:
  0  done
  1  the broker failed while reading or sending
  2  usage or config error, broker unreachable, dead-letter topic missing`;

runMain(async () => {
  const { values, positionals } = parseFlags(Deno.args, {
    topic: { type: "string" },
    reason: { type: "string" },
    field: { type: "string" },
    limit: { type: "string" },
    "dry-run": { type: "boolean" },
  }, { allowPositionals: true });
  if (values.help) {
    out(help);
    return ExitCode.ok;
  }
  const [command, ...rest] = positionals;
  if (rest.length) throw new UsageError(`unexpected argument "${rest[0]}"`);
  if (command !== "stats" && command !== "replay") {
    throw new UsageError(
      command === undefined ? "missing command: stats or replay" : `unknown command "${command}"`,
    );
  }
  const replayOnly = ["reason", "field", "limit", "dry-run"] as const;
  if (command === "stats") {
    const given = replayOnly.find((k) => values[k] !== undefined);
    if (given) throw new UsageError(`--${given} applies to replay, not stats`);
  }
  const config = await loadConfig(values.config);
  if (command === "stats") {
    const letters = await readLetters(config, values.topic);
    const stats = letterStats(
      letters[0]?.sourceTopic ?? values.topic ?? config.kafka.topic,
      letters,
    );
    out(`dead letters: ${stats.total}${stats.standIns ? ` (${stats.standIns} stand-ins)` : ""}`);
    if (!stats.total) return ExitCode.ok;
    out("");
    const reasons = stats.byReason.map((r) => [String(r.count), r.kind, r.example]);
    for (const line of table([["COUNT", "REASON", "EXAMPLE"], ...reasons])) out(line);
    out("");
    const fields = stats.byField.map((f) => [String(f.count), f.field]);
    for (const line of table([["COUNT", "FIELD"], ...fields])) out(line);
    out("");
    for (const [name, l] of [["oldest", stats.oldest], ["newest", stats.newest]] as const) {
      if (!l) continue;
      out(
        `${name}: ${l.time || "?"} (partition ${l.partition}, offset ${l.offset}; from ` +
          `${l.sourceTopic}/${l.sourcePartition ?? "?"}/${l.sourceOffset || "?"})`,
      );
    }
    return ExitCode.ok;
  }
  const result = await replayLetters(config, {
    topic: values.topic,
    reason: values.reason,
    field: values.field,
    limit: numberFlag("limit", values.limit, { integer: true, min: 1 }),
    dryRun: values["dry-run"],
  });
  const verb = result.dryRun ? "would replay" : "replayed";
  const sent = result.dryRun ? result.matched - result.standIns : result.sent;
  const where = [...result.byTopic].map(([t, n]) => `${n} to ${t}`).join(", ");
  out(`${verb} ${sent} of ${result.matched} matching letter(s)${where ? `: ${where}` : ""}`);
  if (result.standIns) {
    log(
      `${result.standIns} matching letter(s) are stand-ins for records too large for ` +
        `"${result.topic}": read them from their source topic (see their value) instead`,
    );
  }
  return ExitCode.ok;
});
