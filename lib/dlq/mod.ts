/**
 * The dead-letter workflow: what the dead-letter topic holds (counts by reason and field,
 * oldest and newest), and replaying chosen letters to their source topic once the cause is
 * fixed, with their original key and headers plus a replay marker, so that they go through
 * the consumer's normal path (a replayed event already stored is a duplicate as usual).
 */
import { deadLetterTopicOf, type PipelineConfig } from "../config/mod.ts";
import { UserError } from "../errors/mod.ts";
import { deadLetterReason } from "../events/mod.ts";
import {
  type EventRecord,
  type HeaderValue,
  KafkaCluster,
  type KafkaRecord,
  readTopic,
} from "../kafka/mod.ts";
import { debugLog } from "../log/mod.ts";

/** One dead letter as its headers describe it. */
export interface Letter {
  readonly partition: number;
  readonly offset: bigint;
  readonly reason: string;
  /** The reason's kind (`wrong_type`, `database_rejected`, ...): a closed set. */
  readonly kind: string;
  readonly field: string;
  readonly sourceTopic: string;
  readonly sourcePartition: number | undefined;
  readonly sourceOffset: string;
  readonly time: string;
  /** A stand-in for a record too large for the dead-letter topic: it cannot be replayed. */
  readonly standIn: boolean;
  readonly record: KafkaRecord;
}

/** What `dlq stats` prints. */
export interface Stats {
  readonly topic: string;
  readonly total: number;
  /** Kind -> count and one reason as an example, most frequent first. */
  readonly byReason: readonly { kind: string; count: number; example: string }[];
  readonly byField: readonly { field: string; count: number }[];
  readonly oldest?: Letter;
  readonly newest?: Letter;
  readonly standIns: number;
}

/** Which letters to replay. */
export interface ReplayFilter {
  /** A reason kind (`wrong_type`) or the beginning of the reason text. */
  readonly reason?: string;
  readonly field?: string;
  readonly limit?: number;
}

/** What a replay did (or, with dryRun, would do). */
export interface ReplayResult {
  readonly topic: string;
  readonly matched: number;
  readonly sent: number;
  /** Letters that matched but are stand-ins: their record is not in the dead-letter topic. */
  readonly standIns: number;
  /** Target topic -> letters sent there. */
  readonly byTopic: ReadonlyMap<string, number>;
  readonly dryRun: boolean;
}

const decoder = new TextDecoder();

function header(record: KafkaRecord, name: string): string {
  const value = record.headers[name];
  const one = Array.isArray(value) ? value[value.length - 1] : value as HeaderValue | undefined;
  if (one === undefined) return "";
  return typeof one === "string" ? one : decoder.decode(one);
}

function toLetter(partition: number, record: KafkaRecord, defaultTopic: string): Letter {
  const reason = header(record, "dlq-reason");
  const sourcePartition = header(record, "dlq-source-partition");
  return {
    partition,
    offset: record.offset,
    reason,
    kind: deadLetterReason(reason),
    field: header(record, "dlq-field"),
    sourceTopic: header(record, "dlq-source-topic") || defaultTopic,
    sourcePartition: sourcePartition === "" ? undefined : Number(sourcePartition),
    sourceOffset: header(record, "dlq-source-offset"),
    time: header(record, "dlq-time"),
    standIn: header(record, "dlq-stand-in") === "true",
    record,
  };
}

/** Every letter of the configured topic's dead-letter topic, in partition and offset order. */
export async function readLetters(config: PipelineConfig, topic?: string): Promise<Letter[]> {
  const source = topic ?? config.kafka.topic;
  const dlq = deadLetterTopicOf(config, source);
  const cluster = new KafkaCluster(config.kafka, { onLog: debugLog() });
  await using admin = await cluster.connectAdmin();
  if (!(await admin.topicExists(dlq))) {
    throw new UserError(`Cannot read dead-letter topic "${dlq}": it does not exist`, {
      hint: "the consumer creates it when it starts; check kafka.dead_letter_topic",
    });
  }
  const letters: Letter[] = [];
  await readTopic(cluster, admin, dlq, (batch) => {
    for (const record of batch.records) letters.push(toLetter(batch.partition, record, source));
  });
  return letters.sort((a, b) => a.partition - b.partition || Number(a.offset - b.offset));
}

/** Counts by reason kind and by field, oldest and newest. */
export function letterStats(topic: string, letters: readonly Letter[]): Stats {
  const reasons = new Map<string, { count: number; example: string }>();
  const fields = new Map<string, number>();
  let oldest: Letter | undefined;
  let newest: Letter | undefined;
  for (const l of letters) {
    const r = reasons.get(l.kind) ?? { count: 0, example: l.reason };
    r.count++;
    reasons.set(l.kind, r);
    const field = l.field || "(none)";
    fields.set(field, (fields.get(field) ?? 0) + 1);
    if (!oldest || l.time < oldest.time) oldest = l;
    if (!newest || l.time > newest.time) newest = l;
  }
  return {
    topic,
    total: letters.length,
    byReason: [...reasons].map(([kind, r]) => ({ kind, ...r })).sort((a, b) => b.count - a.count),
    byField: [...fields].map(([field, count]) => ({ field, count }))
      .sort((a, b) => b.count - a.count),
    oldest,
    newest,
    standIns: letters.filter((l) => l.standIn).length,
  };
}

/** Whether a letter is one the filter asks for. */
export function matches(letter: Letter, filter: ReplayFilter): boolean {
  if (filter.reason !== undefined) {
    if (letter.kind !== filter.reason && !letter.reason.startsWith(filter.reason)) return false;
  }
  if (filter.field !== undefined && letter.field !== filter.field) return false;
  return true;
}

/**
 * Sends the chosen letters back to their source topic (same partition when it still
 * exists), original key and headers without the dlq-* ones, plus `dlq-replayed-from`.
 */
export async function replayLetters(
  config: PipelineConfig,
  options: ReplayFilter & { dryRun?: boolean; topic?: string },
): Promise<ReplayResult> {
  const dlq = deadLetterTopicOf(config, options.topic ?? config.kafka.topic);
  const letters = await readLetters(config, options.topic);
  let chosen = letters.filter((l) => matches(l, options));
  if (options.limit !== undefined) chosen = chosen.slice(0, options.limit);
  const replayable = chosen.filter((l) => !l.standIn);
  const byTopic = new Map<string, EventRecord[]>();
  const time = new Date().toISOString();
  for (const l of replayable) {
    const headers: Record<string, string | Uint8Array> = {};
    for (const [name, value] of Object.entries(l.record.headers)) {
      if (name.startsWith("dlq-")) continue;
      headers[name] = Array.isArray(value) ? value[value.length - 1] : value as HeaderValue;
    }
    headers["dlq-replayed-from"] = `${dlq}/${l.partition}/${l.offset}`;
    headers["dlq-replay-time"] = time;
    const list = byTopic.get(l.sourceTopic) ?? [];
    list.push({ key: l.record.key, value: l.record.value, headers });
    byTopic.set(l.sourceTopic, list);
  }
  const counts = new Map([...byTopic].map(([topic, records]) => [topic, records.length]));
  const result = {
    topic: dlq,
    matched: chosen.length,
    sent: options.dryRun ? 0 : replayable.length,
    standIns: chosen.length - replayable.length,
    byTopic: counts,
    dryRun: options.dryRun ?? false,
  };
  if (options.dryRun || !replayable.length) return result;
  const cluster = new KafkaCluster(config.kafka, { onLog: debugLog() });
  await using producer = await cluster.connectProducer({
    acks: "all",
    compression: config.producer.compression,
  });
  for (const [topic, records] of byTopic) {
    for (let i = 0; i < records.length; i += 500) {
      await producer.send(topic, records.slice(i, i + 500));
    }
  }
  return result;
}
