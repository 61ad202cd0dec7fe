/**
 * `deno task check`: everything that can stop the pipeline, checked in one go before anything
 * runs: pipeline.yaml, the models against their mappings, the live database schema against
 * what the pipeline writes (and pending migrations), the topic, the dead-letter topic and
 * the broker's message-size limits against the consumer's. Reads only. `--dry-run FILE` runs
 * a file through the consumer's steps without writing (see _dry_run.ts).
 */
import { displayPath, errorText } from "../errors/mod.ts";
import { ConfigError, loadConfig, maskUrl, type PipelineConfig } from "../config/mod.ts";
import { errorCode, liveSchema, migrationStatus, openDatabase, pipelineSchema } from "../db/mod.ts";
import { KafkaCluster, type TopicAdmin } from "../kafka/mod.ts";
import { formatBytes } from "../log/mod.ts";
import { checkModel, histogramLines, type ModelSpec } from "../model/mod.ts";
import { compareSchemas, type Finding } from "./_schema.ts";
import type { DryRunReport } from "./_dry_run.ts";

export { dryRun } from "./_dry_run.ts";
export type { DryRunReport } from "./_dry_run.ts";
export { compareSchemas } from "./_schema.ts";
export type { Finding } from "./_schema.ts";

/** Runs every check, telling `report` each finding as it comes; returns the problem count. */
export async function runCheck(
  configPath: string | undefined,
  report: (finding: Finding) => void,
): Promise<number> {
  let problems = 0;
  const tell = (finding: Finding) => {
    if (finding.level === "problem") problems++;
    report(finding);
  };
  let config: PipelineConfig;
  try {
    config = await loadConfig(configPath);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    // Nothing else can be judged without a config: each of its problems on a line.
    for (const line of error.message.split("\n").slice(1)) {
      tell({ level: "problem", area: "config", text: line.trim() });
    }
    return problems;
  }
  const fields = Object.keys(config.events.fields).length;
  tell({
    level: "ok",
    area: "config",
    text:
      `${displayPath(config.source)}: ${fields} event field(s), ${config.events.required.length} ` +
      `required, duplicates: ${config.consumer.duplicates}`,
  });
  await checkOneModel(config.model, config, "model", tell);
  if (config.model.shadow) await checkOneModel(config.model.shadow, config, "shadow model", tell);
  await checkDatabase(config, tell);
  await checkKafka(config, tell);
  return problems;
}

async function checkOneModel(
  spec: ModelSpec,
  config: PipelineConfig,
  area: string,
  tell: (finding: Finding) => void,
): Promise<void> {
  const where = area === "model" ? "model" : "model.shadow";
  try {
    const inspection = await checkModel(spec.path, { model: spec, events: config.events });
    for (const warning of inspection.warnings) tell({ level: "note", area, text: warning });
    for (const p of inspection.problems) tell({ level: "problem", area, text: p });
    if (!inspection.problems.length) {
      const version = `sha256:${inspection.sha256.slice(0, 16)}` +
        (inspection.card ? `+card:${inspection.card.version}` : "");
      tell({
        level: "ok",
        area,
        text: `${displayPath(spec.path)} (${version}) fits ${where}.inputs and ${where}.output`,
      });
    }
  } catch (error) {
    tell({ level: "problem", area, text: errorText(error) });
  }
}

async function checkDatabase(config: PipelineConfig, tell: (f: Finding) => void): Promise<void> {
  const area = "database";
  const url = maskUrl(config.database.url);
  let db;
  try {
    db = await openDatabase(config, {
      create: false,
      migrate: false,
      retry: { retryForMs: 0 },
      connectTimeoutMs: 5000,
    });
  } catch (error) {
    const text = errorCode(error) === "ER_BAD_DB_ERROR"
      ? `${url} does not exist: deno task migrate creates it (the consumer too, at start)`
      : errorText(error);
    tell({ level: "problem", area, text });
    return;
  }
  try {
    const migrations = await migrationStatus(db);
    const pending = migrations.filter((m) => !m.applied);
    if (pending.length) {
      tell({
        level: "problem",
        area,
        text: `${pending.length} migration(s) pending (${pending.map((m) => m.tag).join(", ")}): ` +
          "run deno task migrate (the consumer applies them at start); the schema is compared " +
          "once they are applied",
      });
      return;
    }
    const expected = pipelineSchema(config.database.keyType);
    const findings = compareSchemas(expected, await liveSchema(db), config.events.fields);
    for (const f of findings) tell(f);
    if (!findings.some((f) => f.level === "problem")) {
      tell({
        level: "ok",
        area,
        text: `${url}: ${migrations.length} migration(s) applied; ${expected.tables.length} ` +
          `tables, ${expected.columns.length} columns and ${expected.foreignKeys.length} foreign ` +
          "keys as the pipeline writes them",
      });
    }
  } catch (error) {
    tell({ level: "problem", area, text: `Cannot read the schema of ${url}: ${errorText(error)}` });
  } finally {
    await db.close();
  }
}

async function checkKafka(config: PipelineConfig, tell: (f: Finding) => void): Promise<void> {
  let admin: TopicAdmin;
  try {
    admin = await new KafkaCluster(config.kafka).connectAdmin(8000);
  } catch (error) {
    tell({ level: "problem", area: "kafka", text: errorText(error) });
    return;
  }
  try {
    const { topic, deadLetterTopic } = config.kafka;
    const limit = config.consumer.maxMessageBytes;
    if (!(await admin.topicExists(topic))) {
      tell({
        level: "problem",
        area: "topic",
        text: `"${topic}" does not exist: create it with deno task admin create (the consumer ` +
          "never creates it)",
      });
      return;
    }
    const info = (await admin.partitions([topic])).get(topic) ?? [];
    const partitions = info.length;
    const leaderless = info.filter((p) => p.leader < 0).length;
    const topicMax = (await admin.topicConfig(topic)).maxMessageBytes;
    tell(
      leaderless
        ? {
          level: "problem",
          area: "topic",
          text: `"${topic}": ${leaderless} partition(s) without a leader`,
        }
        : {
          level: "ok",
          area: "topic",
          text: `"${topic}" exists, ${partitions} partition(s), max.message.bytes ${topicMax}`,
        },
    );
    if (topicMax < limit) {
      tell({
        level: "problem",
        area: "message size",
        text:
          `the broker takes records of "${topic}" up to ${topicMax} bytes (max.message.bytes) ` +
          `but consumer.max_message_bytes is ${limit}: events between the two would be refused ` +
          `when produced; set consumer.max_message_bytes to ${topicMax} or less, or raise the ` +
          "topic's max.message.bytes",
      });
    } else {
      tell({
        level: "ok",
        area: "message size",
        text: `consumer.max_message_bytes ${limit} <= max.message.bytes ${topicMax} of "${topic}"`,
      });
    }
    if (!(await admin.topicExists(deadLetterTopic))) {
      tell({
        level: "note",
        area: "dead-letter topic",
        text: `"${deadLetterTopic}" does not exist yet: the consumer creates it with ` +
          `${partitions} partition(s) at start`,
      });
      return;
    }
    const dlqPartitions = (await admin.partitions([deadLetterTopic])).get(deadLetterTopic)
      ?.length ?? 0;
    const dlqMax = (await admin.topicConfig(deadLetterTopic)).maxMessageBytes;
    if (dlqMax < topicMax) {
      tell({
        level: "problem",
        area: "dead-letter topic",
        text: `"${deadLetterTopic}" takes records up to ${dlqMax} bytes but "${topic}" up to ` +
          `${topicMax}: a rejected record larger than ${dlqMax} bytes would be replaced by a ` +
          "stand-in without its bytes; raise its max.message.bytes",
      });
    } else {
      tell({
        level: "ok",
        area: "dead-letter topic",
        text:
          `"${deadLetterTopic}" exists, ${dlqPartitions} partition(s), max.message.bytes ${dlqMax}`,
      });
    }
    if (dlqPartitions < partitions) {
      tell({
        level: "note",
        area: "dead-letter topic",
        text: `"${deadLetterTopic}" has ${dlqPartitions} partition(s), "${topic}" ${partitions}: ` +
          "letters of the other partitions are spread, not kept in their partition's order",
      });
    }
  } catch (error) {
    tell({ level: "problem", area: "kafka", text: errorText(error) });
  } finally {
    await admin.close().catch(() => {});
  }
}

/** One line per finding: `ok       model: ...`, `problem  topic: ...`. */
export function findingLine(f: Finding): string {
  return `${f.level.padEnd(8)} ${f.area}: ${f.text}`;
}

/** The lines of a dry run's report. */
export function dryRunLines(r: DryRunReport, configSource: string): string[] {
  const n = (x: number) => x.toLocaleString("en-US");
  const width = Math.max(
    ...[r.lines, r.fresh, r.duplicatesInFile, r.alreadyStored, r.deadLettered].map((x) =>
      n(x).length
    ),
  );
  const row = (label: string, count: number, note = "") =>
    `  ${label.padEnd(26)} ${n(count).padStart(width)}${note ? `  ${note}` : ""}`;
  const keep = r.duplicates === "skip"
    ? "the first one is kept (consumer.duplicates: skip)"
    : "the last one wins (consumer.duplicates: update)";
  const lines = [
    `dry run of ${displayPath(r.file)} with ${displayPath(configSource)}: nothing is written`,
    row("lines", r.lines, `${formatBytes(r.bytes)}, ${n(r.blank)} blank (not sent)`),
    row("new events", r.fresh, "would be inserted"),
    row("duplicates within the file", r.duplicatesInFile, keep),
    row(
      "already stored",
      r.alreadyStored,
      `${
        r.duplicates === "skip" ? "would be skipped" : "would be overwritten"
      }; database ${r.database}`,
    ),
    row("dead-lettered", r.deadLettered, r.deadLettered ? "reasons below" : ""),
  ];
  if (r.reasons.size) {
    lines.push("dead-letter reasons (what the consumer gives, with the first line of each):");
    const sorted = [...r.reasons].sort((a, b) => b[1].count - a[1].count);
    const label = Math.max(...sorted.map(([k]) => k.length));
    for (const [key, { count, line, reason }] of sorted) {
      lines.push(`  ${key.padEnd(label)} ${n(count).padStart(width)}  line ${line}: ${reason}`);
    }
    if (r.producerSkips) {
      lines.push(
        `  (deno task produce would not even send ${n(r.producerSkips)} of these lines: it ` +
          "skips what does not decode to a JSON object within the limits, or lacks a required key)",
      );
    }
  }
  if (r.defaults.size) {
    lines.push("defaults applied (records without the field, or with null):");
    const sorted = [...r.defaults].sort((a, b) => b[1].count - a[1].count);
    const label = Math.max(...sorted.map(([k, v]) => `${k} = ${v.value}`.length));
    for (const [field, { count, value }] of sorted) {
      lines.push(`  ${`${field} = ${value}`.padEnd(label)} ${n(count).padStart(width)}`);
    }
  } else lines.push("defaults applied: none");
  lines.push(
    `return probability of the ${n(r.scored)} event(s) that would be written (model ` +
      `${r.modelVersion}), mean ${r.meanProbability.toFixed(3)}:`,
  );
  lines.push(...histogramLines([{ label: "events", counts: r.histogram }]));
  return lines;
}
