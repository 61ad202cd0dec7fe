/**
 * `deno task demo`: the guide's whole walk-through in one command: services up, migrate,
 * sample data, reset, consume while producing, then the guide's §8.2 checks. By default on a
 * topic, group and database of its own (_targets.ts); pipeline.yaml's only when asked.
 */
import { dirname } from "node:path";
import { maskUrl, type PipelineConfig } from "../../lib/config/mod.ts";
import { UserError } from "../../lib/errors/mod.ts";
import { debugLog, log, out } from "../../lib/log/mod.ts";
import { servicesDown, servicesStatus, servicesUp } from "../services/mod.ts";
import {
  dropDatabase,
  emptyTables,
  forgetStoredOffsets,
  guideChecks,
  openDatabase,
} from "../../lib/db/mod.ts";
import { writeEventsFile } from "../generator/mod.ts";
import { KafkaCluster, type TopicAdmin } from "../../lib/kafka/mod.ts";
import { produceFile, summarize } from "../../lib/producer/mod.ts";
import { consume } from "../../lib/consumer/mod.ts";
import { demoConfig, type DemoTargets, demoTargets, describeTargets } from "./_targets.ts";

export { DEMO_SUFFIX, demoConfig, demoTargets } from "./_targets.ts";
export type { DemoTargets } from "./_targets.ts";

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
  /** Run on pipeline.yaml's topic, group and database instead of the demo's own. */
  readonly useConfigured?: boolean;
  /** Remove the demo's own topics, group and database at the end (not with useConfigured). */
  readonly clean?: boolean;
}

/** Runs the demo; returns the exit code (1 when not every produced event was accounted for). */
export async function runDemo(base: PipelineConfig, options: DemoOptions = {}): Promise<number> {
  const step = (text: string) => log(`demo: ${text}`);
  if (options.clean && options.useConfigured) {
    throw new UserError("Cannot combine --clean with --use-configured", {
      hint: "--clean removes only the demo's own topic, group and database",
    });
  }
  const targets = demoTargets(base, options.useConfigured);
  const config = demoConfig(base, targets);
  const { topic, group, deadLetterTopic } = targets;
  for (const line of describeTargets(targets)) step(line);

  const before = await servicesStatus(base);
  const kafkaWasUp = before.find((s) => s.name === "kafka")?.up ?? false;
  await servicesUp(base);
  step("Kafka and MariaDB answer");

  const admin = await new KafkaCluster(config.kafka, { onLog: debugLog() }).connectAdmin();
  try {
    // Checked before anything changes: a live member would take partitions and their events.
    const { members } = await admin.groupState(group);
    if (members > 0) {
      throw new UserError(
        `Cannot run the demo with consumer group "${group}": ${members} consumer(s) are in it`,
        { hint: "stop them first, or run the demo without --use-configured" },
      );
    }
  } catch (error) {
    await admin.close();
    throw error;
  }

  try {
    const db = await openDatabase(config);
    try {
      step(`database ${maskUrl(targets.databaseUrl)} migrated`);
      if (options.keepData) {
        step("tables kept as they are (--keep-data): already stored events count as duplicates");
      } else {
        // The guide's §9.1 remedy for a rerun: empty the tables, reset the topic.
        await emptyTables(db);
        step(
          "emptied table_predictions, table_events, table_orders, table_customers (the guide's §9.1)",
        );
      }
      // The topic is reset below: offsets stored for the old one would mark new messages applied.
      const forgotten = await forgetStoredOffsets(db, topic);
      step(`forgot ${forgotten} consumed offset(s) stored for "${topic}"`);
    } finally {
      await db.close();
    }

    await resetTopics(admin, config, targets);
    step(
      `topic "${topic}" reset (${config.kafka.partitions} partition(s), empty), ` +
        `dead-letter topic "${deadLetterTopic}" removed, ` +
        (targets.owned
          ? `group "${group}" deleted`
          : `group "${group}" kept (Kafka dropped its offsets of the deleted topic only)`),
    );
  } finally {
    await admin.close();
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

  if (options.clean) {
    await removeOwned(config, targets);
    step(
      `removed topics "${topic}" and "${deadLetterTopic}", group "${group}" and database ` +
        `"${targets.database}" (--clean)`,
    );
  } else if (targets.owned) {
    step(
      `kept topic "${topic}" and database "${targets.database}" to look at; --clean removes them`,
    );
  }

  if (!kafkaWasUp && !options.keepServices) {
    step("stopping the Kafka broker the demo started (--keep-services leaves it running)");
    await servicesDown(base);
  }
  return handled === sent ? 0 : 1;
}

/**
 * Deletes and recreates the topic, deletes the dead-letter topic, and makes sure the group
 * starts from the beginning: the demo's own group is deleted; pipeline.yaml's group is never
 * deleted (that would drop its offsets on every other topic), Kafka having dropped its
 * offsets of the deleted topic already.
 */
async function resetTopics(admin: TopicAdmin, config: PipelineConfig, targets: DemoTargets) {
  const { topic, deadLetterTopic, group } = targets;
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
  if (targets.owned) {
    await admin.deleteGroup(group);
    return;
  }
  const left = await admin.groupOffsets(group, topic);
  if (left.size) {
    throw new UserError(
      `Cannot run the demo with consumer group "${group}": it still has offsets committed on ` +
        `the recreated topic "${topic}" (partitions ${[...left.keys()].join(", ")})`,
      { hint: "run the demo without --use-configured, which uses a group of its own" },
    );
  }
}

/** Removes the demo's own topics, group and database. */
async function removeOwned(config: PipelineConfig, targets: DemoTargets) {
  if (!targets.owned) throw new Error("Cannot remove pipeline.yaml's topic, group or database");
  const admin = await new KafkaCluster(config.kafka, { onLog: debugLog() }).connectAdmin();
  try {
    for (const name of [targets.topic, targets.deadLetterTopic]) {
      await admin.deleteTopic(name, config.kafka.requestTimeoutMs);
    }
    await admin.deleteGroup(targets.group);
  } finally {
    await admin.close();
  }
  await dropDatabase(targets.databaseUrl);
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
