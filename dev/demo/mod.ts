/**
 * `deno task demo`: the guide's whole walk-through in one command, on the topic and the
 * database of pipeline.yaml: services up, migrate, sample data, reset, consume while
 * producing, then the guide's §8.2 checks.
 */
import { dirname } from "node:path";
import { maskUrl, type PipelineConfig } from "../../lib/config/mod.ts";
import { debugLog, log, out } from "../../lib/log/mod.ts";
import { servicesDown, servicesStatus, servicesUp } from "../services/mod.ts";
import { emptyTables, forgetStoredOffsets, guideChecks, openDatabase } from "../../lib/db/mod.ts";
import { writeEventsFile } from "../generator/mod.ts";
import { KafkaCluster } from "../../lib/kafka/mod.ts";
import { produceFile, summarize } from "../../lib/producer/mod.ts";
import { consume, consumeSettings } from "../../lib/consumer/mod.ts";

/** Options of runDemo(). */
export interface DemoOptions {
  /** Keep the tables' rows: the rerun then shows the guide's §9.1 (every event a duplicate). */
  readonly keepData?: boolean;
  /** Leave running a broker the demo had to start. */
  readonly keepServices?: boolean;
  /** Print one line per event, as `deno task consume` does. */
  readonly verbose?: boolean;
  /** Events generated when the sample file is missing. */
  readonly events?: number;
}

/** Runs the demo; returns the exit code (1 when not every produced event was accounted for). */
export async function runDemo(config: PipelineConfig, options: DemoOptions = {}): Promise<number> {
  const step = (text: string) => log(`demo: ${text}`);
  const { topic, group, deadLetterTopic } = consumeSettings(config, {});

  const before = await servicesStatus(config);
  const kafkaWasUp = before.find((s) => s.name === "kafka")?.up ?? false;
  await servicesUp(config);
  step("Kafka and MariaDB answer");

  const db = await openDatabase(config);
  try {
    step(`database ${maskUrl(config.database.url)} migrated`);
    if (options.keepData) {
      step("tables kept as they are (--keep-data): already stored events count as duplicates");
    } else {
      // The guide's §9.1 remedy for a rerun: empty the tables, reset the topic.
      await emptyTables(db);
      step(
        "emptied table_predictions, table_events, table_orders, table_customers (the guide's §9.1)",
      );
    }
    // The topic is reset below: offsets stored for the old one would mark new messages as applied.
    const forgotten = await forgetStoredOffsets(db, topic);
    step(`forgot ${forgotten} consumed offset(s) stored for "${topic}"`);
  } finally {
    await db.close();
  }

  const file = config.producer.file;
  try {
    await Deno.stat(file);
    step(`sample file ${file} exists; using it`);
  } catch {
    await Deno.mkdir(dirname(file), { recursive: true });
    const stats = await writeEventsFile(file, { events: options.events ?? 2000, seed: 42 });
    step(`generated ${file}: ${stats.events} events (seed 42)`);
  }

  const admin = await new KafkaCluster(config.kafka, { onLog: debugLog() }).connectAdmin();
  try {
    for (const name of [topic, deadLetterTopic]) {
      if (await admin.deleteTopic(name, config.kafka.requestTimeoutMs)) {
        await admin.waitTopicGone(name, 30_000);
      }
    }
    await admin.recreateTopic({
      topic,
      partitions: config.kafka.partitions,
      replicationFactor: config.kafka.replicationFactor,
      timeoutMs: 30_000,
    });
    // Offsets committed for the old topic must not steer the new one.
    await admin.deleteGroup(group).catch(() => {});
    step(
      `topic "${topic}" reset (${config.kafka.partitions} partition(s), empty), ` +
        `dead-letter topic "${deadLetterTopic}" removed, group "${group}" offsets cleared`,
    );
  } finally {
    await admin.close();
  }

  step("starting the consumer, then the producer");
  let resolveProduced!: (sent: number) => void;
  const produced = new Promise<number>((resolve) => resolveProduced = resolve);
  const consuming = consume(config, {
    quiet: !options.verbose,
    untilIdleMs: 2000,
    idleNotBefore: produced,
  });
  let sent = 0;
  try {
    const result = await produceFile(config, {
      file,
      topic,
      compression: config.producer.compression,
    });
    sent = result.sent;
    for (const line of summarize(result, topic)) step(line);
  } finally {
    resolveProduced(sent);
  }
  const stats = await consuming;
  const handled = stats.messages;
  step(
    `consumer drained the topic: ${stats.ingested} ingested, ${stats.duplicates} duplicate(s), ` +
      `${stats.deadLettered} dead-lettered, of ${sent} sent`,
  );

  const check = await openDatabase(config, { migrate: false });
  try {
    const { counts, latest } = await guideChecks(check);
    out("");
    out("-- The guide's §8.2 checks");
    for (const { query, count } of counts) out(`${query.padEnd(40)} ${count}`);
    out("");
    out(latest.query);
    out(table(latest.rows));
  } finally {
    await check.close();
  }

  if (!kafkaWasUp && !options.keepServices) {
    step("stopping the Kafka broker the demo started (--keep-services leaves it running)");
    await servicesDown(config);
  }
  return handled === sent ? 0 : 1;
}

function table(rows: Record<string, unknown>[]): string {
  if (!rows.length) return "(no rows)";
  const columns = Object.keys(rows[0]);
  const cells = rows.map((row) =>
    columns.map((c) => typeof row[c] === "number" ? (row[c] as number).toFixed(6) : String(row[c]))
  );
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((r) => r[i].length)));
  const line = (values: string[]) =>
    values.map((v, i) => v.padEnd(widths[i])).join(" | ").trimEnd();
  return [line(columns), widths.map((w) => "-".repeat(w)).join("-+-"), ...cells.map(line)]
    .join("\n");
}
