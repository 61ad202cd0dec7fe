/**
 * With kafka/_codecs.ts, the only importer of kafkajs: client, admin, producer and consumer
 * factories.
 */
import { setTimeout as sleep } from "node:timers/promises";
import {
  type Admin,
  type Consumer,
  Kafka,
  type KafkaConfig,
  type LogEntry,
  logLevel,
  type Producer,
} from "kafkajs";
import { ConfigResourceTypes, Partitioners } from "kafkajs";
import process from "node:process";
import type { PipelineConfig } from "../config/mod.ts";
import { UserError } from "../errors/mod.ts";
import { log } from "../log/mod.ts";
import { compressionType, type ProducerCompression, registerCodecs } from "./_codecs.ts";

export { type BatchCodec, batchCodec, PRODUCER_COMPRESSIONS } from "./_codecs.ts";
export type { Admin, Consumer, Producer, ProducerCompression };
export type { EachBatchPayload, IHeaders, KafkaMessage, Message } from "kafkajs";

type KafkaSettings = PipelineConfig["kafka"];

/** kafkajs log entries as one short line each; its own stack-heavy JSON is too noisy for users. */
function logCreator(level: logLevel) {
  return ({ namespace, log: entry }: LogEntry) => {
    if (level < logLevel.WARN) return;
    const { message, error } = entry as { message: string; error?: string };
    log(
      `kafka ${logLevel[level].toLowerCase()}: [${namespace}] ${message}${
        error ? `: ${error}` : ""
      }`,
    );
  };
}

/** A kafkajs client for the configured cluster; retries are bounded so failures surface fast. */
export function createKafka(
  settings: KafkaSettings,
  options: { retries?: number; debug?: boolean } = {},
): Kafka {
  filterKafkajsTimerWarning();
  // Before the first fetch: a batch in a codec kafkajs lacks would kill the consumer.
  registerCodecs();
  const debug = options.debug ?? Boolean(Deno.env.get("PIPELINE_DEBUG"));
  const config: KafkaConfig = {
    clientId: settings.clientId,
    brokers: [...settings.brokers],
    connectionTimeout: settings.connectionTimeoutMs,
    requestTimeout: settings.requestTimeoutMs,
    retry: { retries: options.retries ?? 3, initialRetryTime: 200, maxRetryTime: 2000 },
    logLevel: debug ? logLevel.INFO : logLevel.NOTHING,
    logCreator: () => logCreator(debug ? logLevel.INFO : logLevel.NOTHING),
  };
  return new Kafka(config);
}

/** Turns a connection failure into one actionable line naming the bootstrap servers. */
export function brokerError(settings: KafkaSettings, error: unknown): UserError {
  const reason = error instanceof Error ? error.message : String(error);
  // One line on purpose: the fix is part of the message, not a second "hint:" line.
  return new UserError(
    `Cannot reach Kafka at ${settings.brokers.join(",")}: ${reason} (check kafka.brokers in ` +
      "pipeline.yaml or $KAFKA_BROKERS, and that the broker runs: deno task services status)",
    { cause: error },
  );
}

/** Is this a failure to connect to the cluster (as opposed to a protocol error)? */
export function isConnectionError(error: unknown): boolean {
  const name = (error as { name?: string })?.name ?? "";
  const message = (error as { message?: string })?.message ?? "";
  return [
    "KafkaJSConnectionError",
    "KafkaJSNonRetriableError",
    "KafkaJSNumberOfRetriesExceeded",
    "KafkaJSRequestTimeoutError",
    "KafkaJSBrokerNotFound",
  ].includes(name) && /connect|ECONNREFUSED|ENOTFOUND|timed? ?out|brokers|Closed/i.test(
    message + String((error as { cause?: Error })?.cause?.message ?? ""),
  );
}

/**
 * Connects an admin client and checks that the cluster answers a metadata request within
 * `deadlineMs`; any failure becomes one brokerError line.
 */
export async function connectAdmin(
  settings: KafkaSettings,
  kafka = createKafka(settings),
  deadlineMs = 12_000,
) {
  const admin = kafka.admin();
  // A port that accepts connections but never answers lets kafkajs' connect() resolve after
  // its request timeout; only the first real request fails, with a bare "Broker not connected".
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${deadlineMs} ms`)), deadlineMs);
  });
  try {
    await Promise.race([admin.connect().then(() => admin.describeCluster()), deadline]);
  } catch (error) {
    admin.disconnect().catch(() => {});
    throw brokerError(settings, error);
  } finally {
    clearTimeout(timer);
  }
  return admin;
}

// ---------------------------------------------------------------------------------------------
// Admin helpers: topics, watermarks, group offsets.

/** One partition of a topic as the broker reports it. */
export interface PartitionInfo {
  readonly partition: number;
  /** Broker id of the leader, -1 when there is none. */
  readonly leader: number;
  readonly replicas: readonly number[];
  readonly isr: readonly number[];
}

/** Low and high watermarks of one partition. */
export interface Watermarks {
  readonly partition: number;
  readonly low: bigint;
  readonly high: bigint;
}

/** The broker's error code name (e.g. "TOPIC_ALREADY_EXISTS") and message of a kafkajs error. */
export function kafkaErrorText(error: unknown): string {
  const inner = (error as { errors?: unknown[] })?.errors;
  if (Array.isArray(inner) && inner.length) return inner.map(kafkaErrorText).join("; ");
  const { type, message } = error as { type?: string; message?: string };
  const text = message ?? String(error);
  return type && !text.includes(type) ? `${type}: ${text}` : text;
}

/** Error code names found in a kafkajs error, its aggregated errors and causes. */
function errorTypes(error: unknown): string[] {
  const found: string[] = [];
  const visit = (e: unknown, depth: number) => {
    if (!e || typeof e !== "object" || depth > 4) return;
    const { type, errors, cause, originalError } = e as {
      type?: string;
      errors?: unknown[];
      cause?: unknown;
      originalError?: unknown;
    };
    if (type) found.push(type);
    for (const inner of errors ?? []) visit(inner, depth + 1);
    visit(cause, depth + 1);
    visit(originalError, depth + 1);
  };
  visit(error, 0);
  return found;
}

/** Topic names known to the cluster (internal ones included). */
export async function listTopicNames(admin: Admin): Promise<string[]> {
  return (await admin.listTopics()).sort();
}

/** Does the cluster know this topic? Reads fresh metadata, never creates the topic. */
export async function topicExists(admin: Admin, topic: string): Promise<boolean> {
  return (await admin.listTopics()).includes(topic);
}

/** Partitions of existing topics; ask only for topics known to exist (see topicExists). */
export async function topicPartitions(
  admin: Admin,
  topics: readonly string[],
): Promise<Map<string, PartitionInfo[]>> {
  const result = new Map<string, PartitionInfo[]>();
  if (!topics.length) return result;
  const metadata = await admin.fetchTopicMetadata({ topics: [...topics] });
  for (const { name, partitions } of metadata.topics) {
    result.set(
      name,
      partitions
        .map((p) => ({
          partition: p.partitionId,
          leader: p.leader,
          replicas: [...p.replicas].sort((a, b) => a - b),
          isr: [...p.isr].sort((a, b) => a - b),
        }))
        .sort((a, b) => a.partition - b.partition),
    );
  }
  return result;
}

/**
 * Creates a topic and waits until every partition has a leader.
 * Returns false when the topic already exists (kafkajs reports that as `false`, not an error).
 */
export async function createTopic(admin: Admin, options: {
  topic: string;
  partitions: number;
  replicationFactor: number;
  timeoutMs: number;
}): Promise<boolean> {
  const { topic, partitions, replicationFactor, timeoutMs } = options;
  let created: boolean;
  try {
    created = await admin.createTopics({
      topics: [{ topic, numPartitions: partitions, replicationFactor }],
      waitForLeaders: true,
      timeout: timeoutMs,
    });
  } catch (error) {
    if (errorTypes(error).includes("TOPIC_ALREADY_EXISTS")) return false;
    throw new Error(`Cannot create topic "${topic}": ${kafkaErrorText(error)}`, { cause: error });
  }
  if (created) await waitForLeaders(admin, topic, timeoutMs);
  return created;
}

/** Polls metadata until every partition of the topic has a leader, or throws after timeoutMs. */
async function waitForLeaders(admin: Admin, topic: string, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const partitions = (await admin.listTopics()).includes(topic)
      ? (await topicPartitions(admin, [topic])).get(topic) ?? []
      : [];
    if (partitions.length && partitions.every((p) => p.leader >= 0)) return;
    if (Date.now() >= deadline) {
      throw new Error(
        `Cannot create topic "${topic}": partitions still have no leader after ${timeoutMs} ms`,
      );
    }
    await sleep(200);
  }
}

/** Deletes a topic; returns false when it does not exist. Deletion completes asynchronously. */
export async function deleteTopic(
  admin: Admin,
  topic: string,
  timeoutMs: number,
): Promise<boolean> {
  // kafkajs retries UNKNOWN_TOPIC_OR_PARTITION for a while before failing: check first.
  if (!(await topicExists(admin, topic))) return false;
  try {
    await admin.deleteTopics({ topics: [topic], timeout: timeoutMs });
  } catch (error) {
    if (errorTypes(error).includes("UNKNOWN_TOPIC_OR_PARTITION")) return false;
    throw new Error(`Cannot delete topic "${topic}": ${kafkaErrorText(error)}`, { cause: error });
  }
  return true;
}

/** Polls metadata until the broker no longer lists the topic, or throws after timeoutMs. */
export async function waitTopicGone(admin: Admin, topic: string, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs;
  while (await topicExists(admin, topic)) {
    if (Date.now() >= deadline) {
      throw new Error(
        `Cannot delete topic "${topic}": the broker still lists it after ${timeoutMs} ms`,
      );
    }
    await sleep(200);
  }
}

/**
 * Creates a topic that was just deleted: the broker may still be removing the old one and
 * answer TOPIC_ALREADY_EXISTS for a short while, so creation is retried until timeoutMs.
 */
export async function recreateTopic(admin: Admin, options: {
  topic: string;
  partitions: number;
  replicationFactor: number;
  timeoutMs: number;
}): Promise<void> {
  const deadline = Date.now() + options.timeoutMs;
  while (!(await createTopic(admin, options))) {
    if (Date.now() >= deadline) {
      throw new Error(
        `Cannot create topic "${options.topic}": the broker still reports it as existing ` +
          `after ${options.timeoutMs} ms`,
      );
    }
    await sleep(250);
  }
}

/** Low/high watermarks of every partition of an existing topic. */
export async function topicWatermarks(admin: Admin, topic: string): Promise<Watermarks[]> {
  const offsets = await admin.fetchTopicOffsets(topic);
  return offsets
    .map((o) => ({ partition: o.partition, low: BigInt(o.low), high: BigInt(o.high) }))
    .sort((a, b) => a.partition - b.partition);
}

/** Committed offsets of a consumer group on a topic; partitions without a commit are absent. */
export async function groupOffsets(
  admin: Admin,
  groupId: string,
  topic: string,
): Promise<Map<number, bigint>> {
  const result = new Map<number, bigint>();
  const responses = await whileCoordinatorMoves(() =>
    admin.fetchOffsets({ groupId, topics: [topic] })
  );
  for (const { partitions } of responses) {
    for (const { partition, offset } of partitions) {
      if (Number(offset) >= 0) result.set(partition, BigInt(offset));
    }
  }
  return result;
}

// kafkajs' names for the broker's error codes 14, 15 and 16.
const coordinatorMoving = [
  "GROUP_LOAD_IN_PROGRESS",
  "GROUP_COORDINATOR_NOT_AVAILABLE",
  "NOT_COORDINATOR_FOR_GROUP",
];

/**
 * Retries a group request while the group's coordinator is being created or moved: on a fresh
 * broker the first lookup creates __consumer_offsets, and kafkajs' admin does not retry
 * NOT_COORDINATOR by itself.
 */
async function whileCoordinatorMoves<T>(request: () => Promise<T>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (let delay = 100;; delay = Math.min(delay * 2, 2000)) {
    try {
      return await request();
    } catch (error) {
      const moving = errorTypes(error).some((type) => coordinatorMoving.includes(type));
      if (!moving || Date.now() + delay > deadline) throw error;
      await sleep(delay);
    }
  }
}

/** State and member count of a consumer group ("Dead" with 0 members when unknown). */
export async function groupState(
  admin: Admin,
  groupId: string,
): Promise<{ state: string; members: number }> {
  const { groups } = await whileCoordinatorMoves(() => admin.describeGroups([groupId]));
  const group = groups.find((g) => g.groupId === groupId);
  return { state: group?.state ?? "Dead", members: group?.members.length ?? 0 };
}

let timerWarningFiltered = false;

/**
 * kafkajs 2.2.4 computes `throttledUntil - Date.now()` with `throttledUntil = -1` after every
 * response (RequestQueue.scheduleCheckPendingRequests), so the Node timers Deno emulates print a
 * TimeoutNegativeWarning on every run although the timer is clamped to 1 ms exactly as kafkajs
 * expects. Only that warning from that function is dropped; every other warning still prints.
 */
function filterKafkajsTimerWarning(): void {
  if (timerWarningFiltered) return;
  timerWarningFiltered = true;
  for (const listener of process.listeners("warning")) {
    process.removeListener("warning", listener);
    process.on("warning", (warning: Error) => {
      const fromKafkajsQueue = warning.name === "TimeoutNegativeWarning" &&
        (warning.stack ?? "").includes("scheduleCheckPendingRequests");
      if (!fromKafkajsQueue) listener(warning);
    });
  }
}

/**
 * A group consumer that never creates topics. Offsets are committed by the caller only
 * (run it with autoCommit: false) once the batch's database transaction has committed.
 */
export function createConsumer(
  kafka: Kafka,
  options: { groupId: string; sessionTimeoutMs?: number; maxBytesPerPartition?: number },
): Consumer {
  const sessionTimeout = options.sessionTimeoutMs ?? 10_000;
  return kafka.consumer({
    groupId: options.groupId,
    allowAutoTopicCreation: false,
    sessionTimeout,
    // Several heartbeats per session timeout, so one late beat never costs the partitions.
    heartbeatInterval: Math.max(1000, Math.floor(sessionTimeout / 10)),
    rebalanceTimeout: 60_000,
    maxWaitTimeInMs: 500,
    // Compressed bytes: with gzip, 1 MiB holds about 10,000 JSON events (kafkajs' default).
    maxBytesPerPartition: options.maxBytesPerPartition ?? 1_048_576,
    retry: { retries: 10, initialRetryTime: 300, maxRetryTime: 5000 },
  });
}

/**
 * A producer that never creates topics, with acks and compression applied to every send.
 * Idempotence stays off: kafkajs marks it experimental and it forces one request in flight.
 */
export function createProducer(kafka: Kafka, options: {
  acks: "all" | "leader";
  compression: ProducerCompression;
}): Producer {
  const producer = kafka.producer({
    allowAutoTopicCreation: false,
    idempotent: false,
    // Kafka's own murmur2 partitioner: the same key lands where Java clients would put it.
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  const defaults = {
    acks: options.acks === "all" ? -1 : 1,
    compression: compressionType(options.compression),
  };
  return {
    ...producer,
    send: (record) => producer.send({ ...defaults, ...record }),
    sendBatch: (batch) => producer.sendBatch({ ...defaults, ...batch }),
  };
}

/** The largest record batch the broker accepts on a topic: its max.message.bytes. */
export async function topicMaxMessageBytes(admin: Admin, topic: string): Promise<number> {
  const { resources } = await admin.describeConfigs({
    resources: [{
      type: ConfigResourceTypes.TOPIC,
      name: topic,
      configNames: ["max.message.bytes"],
    }],
    includeSynonyms: false,
  });
  const value = resources[0]?.configEntries.find((e) => e.configName === "max.message.bytes");
  const bytes = Number(value?.configValue);
  if (!Number.isFinite(bytes) || bytes <= 0) {
    throw new Error(`Cannot read max.message.bytes of topic "${topic}"`);
  }
  return bytes;
}
