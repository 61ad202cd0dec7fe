/** Use cases of `deno task admin`: list, describe, create, delete and reset topics. */
import { deadLetterTopicOf, maskUrl, type PipelineConfig } from "../config/mod.ts";
import { errorText, ExitCode, UserError } from "../errors/mod.ts";
import { debugLog, log, out, table, warn } from "../log/mod.ts";
import { errorCode, errorNumber, openDatabase } from "../db/mod.ts";
import { forgetStoredOffsets } from "../db/mod.ts";
import {
  brokerError,
  isConnectionError,
  KafkaCluster,
  type PartitionInfo,
  type TopicAdmin,
} from "../kafka/mod.ts";

/** What the user asked `admin` to do, flags already merged with pipeline.yaml. */
export type AdminRequest =
  | { command: "list"; all: boolean }
  | { command: "describe"; topic: string; group: string }
  | {
    command: "create";
    topic: string;
    partitions: number;
    replicationFactor: number;
    ifNotExists: boolean;
    withDlq: boolean;
  }
  | { command: "delete"; topic: string; ifExists: boolean; withDlq: boolean }
  | {
    command: "reset";
    topic: string;
    partitions: number;
    replicationFactor: number;
    withDlq: boolean;
    timeoutMs: number;
  };

/** Time allowed for the broker to finish a deletion or elect leaders, unless --timeout-ms. */
export const defaultWaitMs = 30_000;

/** Runs one admin command against the configured cluster; returns the exit code. */
export async function runAdmin(config: PipelineConfig, request: AdminRequest): Promise<number> {
  // Two retries keep an unreachable broker's failure well under 15 s with the default timeouts.
  const cluster = new KafkaCluster(config.kafka, { retries: 2, onLog: debugLog() });
  const admin = await cluster.connectAdmin();
  try {
    switch (request.command) {
      case "list":
        return await listTopics(admin, request.all);
      case "describe":
        return await describeTopic(admin, config, request.topic, request.group);
      case "create":
        return await createTopics(admin, config, request);
      case "delete":
        return await deleteTopics(admin, config, request);
      case "reset":
        return await resetTopics(admin, config, request);
    }
  } catch (error) {
    if (isConnectionError(error)) throw brokerError(config.kafka, error);
    throw error;
  } finally {
    await admin.close().catch(() => {});
  }
}

async function listTopics(admin: TopicAdmin, all: boolean): Promise<number> {
  // Internal topics (__consumer_offsets, __transaction_state, ...) start with "__".
  const names = (await admin.topicNames()).filter((name) => all || !name.startsWith("__"));
  const partitions = await admin.partitions(names);
  const rows = names.map((name) => {
    const parts = partitions.get(name) ?? [];
    return [name, String(parts.length), String(replicationOf(parts))];
  });
  for (const line of table([["TOPIC", "PARTITIONS", "REPLICATION"], ...rows])) out(line);
  if (!names.length) log("no topics (internal topics are hidden; --all shows them)");
  return ExitCode.ok;
}

async function describeTopic(
  admin: TopicAdmin,
  config: PipelineConfig,
  topic: string,
  group: string,
): Promise<number> {
  if (!(await admin.topicExists(topic))) throw missingTopic("describe", topic, config);
  const partitions = (await admin.partitions([topic])).get(topic) ?? [];
  const marks = new Map((await admin.watermarks(topic)).map((w) => [w.partition, w]));
  const committed = await admin.groupOffsets(group, topic);
  const state = await admin.groupState(group);

  out(`topic: ${topic}`);
  out(`partitions: ${partitions.length}`);
  out(`replication: ${replicationOf(partitions)}`);
  out(`group: ${group} (state ${state.state}, ${state.members} member(s))`);
  out("");
  const rows = [[
    "PARTITION",
    "LEADER",
    "REPLICAS",
    "ISR",
    "LOW",
    "HIGH",
    "MESSAGES",
    "COMMITTED",
    "LAG",
  ]];
  let messages = 0n;
  let lag = 0n;
  let anyCommitted = false;
  for (const p of partitions) {
    const { low, high } = marks.get(p.partition) ?? { low: 0n, high: 0n };
    const offset = committed.get(p.partition);
    // Lag counts from the committed offset; a commit below the low watermark (old records
    // deleted) can only resume at the low watermark.
    const partitionLag = offset === undefined ? undefined : high - (offset > low ? offset : low);
    messages += high - low;
    if (partitionLag !== undefined) {
      lag += partitionLag;
      anyCommitted = true;
    }
    rows.push([
      String(p.partition),
      p.leader >= 0 ? String(p.leader) : "none",
      p.replicas.join(","),
      p.isr.join(","),
      String(low),
      String(high),
      String(high - low),
      offset === undefined ? "-" : String(offset),
      partitionLag === undefined ? "-" : String(partitionLag),
    ]);
  }
  rows.push(["total", "", "", "", "", "", String(messages), "", anyCommitted ? String(lag) : "-"]);
  for (const line of table(rows)) out(line);
  out("");

  const dlq = deadLetterTopicOf(config, topic);
  if (dlq !== topic && await admin.topicExists(dlq)) {
    const dlqMarks = await admin.watermarks(dlq);
    const count = dlqMarks.reduce((sum, w) => sum + (w.high - w.low), 0n);
    out(`dead-letter topic: ${dlq} (${dlqMarks.length} partition(s), ${count} message(s))`);
  } else if (dlq !== topic) {
    out(`dead-letter topic: ${dlq} (does not exist)`);
  }
  if (!anyCommitted) {
    log(`note: group "${group}" has no committed offset on "${topic}" (LAG "-")`);
  }
  return ExitCode.ok;
}

async function createTopics(
  admin: TopicAdmin,
  config: PipelineConfig,
  request: Extract<AdminRequest, { command: "create" }>,
): Promise<number> {
  const { partitions, replicationFactor } = request;
  for (const topic of targets(config, request)) {
    const created = await admin.createTopic({
      topic,
      partitions,
      replicationFactor,
      timeoutMs: defaultWaitMs,
    }).catch((error) => refusal(admin, error));
    if (created) {
      log(`created topic "${topic}" (${layoutText(partitions, replicationFactor)})`);
      continue;
    }
    const existing = (await admin.partitions([topic])).get(topic) ?? [];
    const layout = layoutText(existing.length, replicationOf(existing));
    if (!request.ifNotExists) {
      throw new UserError(`Cannot create topic "${topic}": it already exists (${layout})`, {
        exitCode: ExitCode.failure,
        hint: "pass --if-not-exists to accept it, or run `deno task admin reset` to empty it",
      });
    }
    log(`topic "${topic}" already exists (${layout}); nothing to do`);
  }
  return ExitCode.ok;
}

async function deleteTopics(
  admin: TopicAdmin,
  config: PipelineConfig,
  request: Extract<AdminRequest, { command: "delete" }>,
): Promise<number> {
  let code: number = ExitCode.ok;
  for (const topic of targets(config, request)) {
    if (await admin.deleteTopic(topic, defaultWaitMs)) {
      log(`deleted topic "${topic}"`);
      if (topic === request.topic && !(await forgetOffsets(config, topic))) {
        code = ExitCode.failure;
      }
    } else if (request.ifExists) {
      log(`topic "${topic}" does not exist; nothing to do`);
    } else {
      throw missingTopic("delete", topic, config, "pass --if-exists to accept a missing topic");
    }
  }
  return code;
}

/**
 * Kafka drops committed offsets with a deleted topic; the offsets the consumer stores in the
 * database must go too, or a re-created topic's first messages would look already applied.
 * Returns false (after a warning saying what to do) when the database cannot be reached.
 */
async function forgetOffsets(config: PipelineConfig, topic: string): Promise<boolean> {
  try {
    const db = await openDatabase(config, {
      migrate: false,
      create: false,
      connectTimeoutMs: 5000,
    });
    try {
      const count = await forgetStoredOffsets(db, topic);
      log(`forgot ${count} consumed offset(s) stored for "${topic}" in ${db.target.display}`);
    } finally {
      await db.close();
    }
    return true;
  } catch (error) {
    // No database or no table yet: nothing was ever consumed into it.
    if (errorCode(error) === "ER_BAD_DB_ERROR" || errorNumber(error) === 1146) return true;
    const reason = error instanceof UserError ? error.message : errorText(error);
    warn(
      `the consumed offsets stored for "${topic}" in ${maskUrl(config.database.url)} were not ` +
        `forgotten (${reason}); before consuming again run: DELETE FROM pipeline_offsets WHERE ` +
        `topic = '${topic}';`,
    );
    return false;
  }
}

async function resetTopics(
  admin: TopicAdmin,
  config: PipelineConfig,
  request: Extract<AdminRequest, { command: "reset" }>,
): Promise<number> {
  const started = performance.now();
  let code: number = ExitCode.ok;
  // Deleting first and failing to recreate would leave no topic at all: check what can fail.
  const brokers = await admin.brokerCount();
  if (request.replicationFactor > brokers) {
    throw new UserError(
      `Cannot reset topic "${request.topic}": replication ${request.replicationFactor} needs ` +
        `${request.replicationFactor} brokers, the cluster has ${brokers}`,
      { exitCode: ExitCode.failure, hint: "lower --replication or kafka.replication_factor" },
    );
  }
  for (const topic of targets(config, request)) {
    const before = (await admin.topicExists(topic))
      ? (await admin.partitions([topic])).get(topic) ?? []
      : [];
    // The main topic takes the configured layout; the dead-letter topic keeps its own.
    const keepOld = topic !== request.topic && before.length > 0;
    const partitions = keepOld ? before.length : request.partitions;
    const replicationFactor = keepOld ? replicationOf(before) : request.replicationFactor;
    if (await admin.deleteTopic(topic, request.timeoutMs)) {
      log(`deleted topic "${topic}"; waiting until the broker has removed it`);
      await admin.waitTopicGone(topic, request.timeoutMs);
      if (topic === request.topic && !(await forgetOffsets(config, topic))) {
        code = ExitCode.failure;
      }
    } else {
      log(`topic "${topic}" did not exist`);
    }
    await admin.recreateTopic({
      topic,
      partitions,
      replicationFactor,
      timeoutMs: request.timeoutMs,
    }).catch((error) => refusal(admin, error));
    log(`created topic "${topic}" (${layoutText(partitions, replicationFactor)}), leaders elected`);
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  log(`reset done in ${seconds} s`);
  const dlq = deadLetterTopicOf(config, request.topic);
  if (!request.withDlq && dlq !== request.topic) {
    log(
      (await admin.topicExists(dlq))
        ? `dead-letter topic "${dlq}" kept (--with-dlq resets it too)`
        : `dead-letter topic "${dlq}" does not exist (the consumer creates it when it starts)`,
    );
  }
  log(
    "note: the stored events and predictions were kept: events re-sent with known event_ids " +
      "are skipped as duplicates (use new event_ids or empty the tables).",
  );
  return code;
}

/** Throws the broker's refusal to create a topic as a one-line error (exit 1) with a hint. */
async function refusal(admin: TopicAdmin, error: unknown): Promise<never> {
  if (!(error instanceof Error) || !error.message.startsWith("Cannot create topic")) throw error;
  let hint: string | undefined;
  if (error.message.includes("INVALID_REPLICATION_FACTOR")) {
    const brokers = await admin.brokerCount().catch(() => undefined);
    if (brokers) hint = `the cluster has ${brokers} broker(s): --replication cannot be larger`;
  }
  throw new UserError(error.message, { exitCode: ExitCode.failure, hint, cause: error });
}

/** The topic, plus the dead-letter topic when asked for. */
function targets(config: PipelineConfig, request: { topic: string; withDlq: boolean }): string[] {
  const dlq = deadLetterTopicOf(config, request.topic);
  return request.withDlq && dlq !== request.topic ? [request.topic, dlq] : [request.topic];
}

function missingTopic(
  verb: string,
  topic: string,
  config: PipelineConfig,
  hint?: string,
): UserError {
  return new UserError(`Cannot ${verb} topic "${topic}": it does not exist`, {
    exitCode: ExitCode.failure,
    hint: hint ??
      `check the topic name (--name, kafka.topic in pipeline.yaml or $KAFKA_TOPIC) and the ` +
        `brokers (${config.kafka.brokers.join(",")}); \`deno task admin list\` shows the topics`,
  });
}

function replicationOf(partitions: readonly PartitionInfo[]): number {
  return partitions.length ? Math.max(...partitions.map((p) => p.replicas.length)) : 0;
}

function layoutText(partitions: number, replication: number): string {
  return `${partitions} partition(s), replication ${replication}`;
}
