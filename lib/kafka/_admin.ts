/** Topic and group administration over kafkajs' admin client, in the project's own types. */
import { setTimeout as sleep } from "node:timers/promises";
import { type Admin, ConfigResourceTypes } from "kafkajs";
import { errorChain, errorText, retry } from "../errors/mod.ts";

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

/** A topic to create, and how long the broker may take to elect its leaders. */
export interface TopicLayout {
  readonly topic: string;
  readonly partitions: number;
  readonly replicationFactor: number;
  readonly timeoutMs: number;
}

/** Does the error, or one it wraps, carry one of these broker error code names? */
function hasErrorType(error: unknown, types: readonly string[]): boolean {
  return errorChain(error).some((e) => typeof e.type === "string" && types.includes(e.type));
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
function whileCoordinatorMoves<T>(request: () => Promise<T>, timeoutMs = 15_000): Promise<T> {
  return retry(request, {
    initialDelayMs: 100,
    maxDelayMs: 2000,
    retryForMs: timeoutMs,
    retryable: (error) => hasErrorType(error, coordinatorMoving),
  });
}

let adminOf: (topics: TopicAdmin) => Admin;

/** The kafkajs admin inside a TopicAdmin, for code of this folder that still needs it. */
export function kafkaAdminOf(topics: TopicAdmin): Admin {
  return adminOf(topics);
}

/** A connected admin client: topics, watermarks, consumer groups. Obtain it from KafkaCluster. */
export class TopicAdmin {
  readonly #admin: Admin;

  static {
    adminOf = (topics) => topics.#admin;
  }

  /** Wraps an admin client that is already connected. */
  constructor(admin: Admin) {
    this.#admin = admin;
  }

  /** Topic names known to the cluster (internal ones included), sorted. */
  async topicNames(): Promise<string[]> {
    return (await this.#admin.listTopics()).sort();
  }

  /** Does the cluster know this topic? Reads fresh metadata, never creates the topic. */
  async topicExists(topic: string): Promise<boolean> {
    return (await this.#admin.listTopics()).includes(topic);
  }

  /** Partitions of existing topics; ask only for topics known to exist (see topicExists). */
  async partitions(topics: readonly string[]): Promise<Map<string, PartitionInfo[]>> {
    const result = new Map<string, PartitionInfo[]>();
    if (!topics.length) return result;
    const metadata = await this.#admin.fetchTopicMetadata({ topics: [...topics] });
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
  async createTopic(layout: TopicLayout): Promise<boolean> {
    const { topic, partitions, replicationFactor, timeoutMs } = layout;
    let created: boolean;
    try {
      created = await this.#admin.createTopics({
        topics: [{ topic, numPartitions: partitions, replicationFactor }],
        waitForLeaders: true,
        timeout: timeoutMs,
      });
    } catch (error) {
      if (hasErrorType(error, ["TOPIC_ALREADY_EXISTS"])) return false;
      throw new Error(`Cannot create topic "${topic}": ${errorText(error)}`, { cause: error });
    }
    if (created) await this.#waitForLeaders(topic, timeoutMs);
    return created;
  }

  /** Polls metadata until every partition of the topic has a leader, or throws after timeoutMs. */
  async #waitForLeaders(topic: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const partitions = (await this.topicExists(topic))
        ? (await this.partitions([topic])).get(topic) ?? []
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

  /**
   * Creates a topic that was just deleted: the broker may still be removing the old one and
   * answer TOPIC_ALREADY_EXISTS for a short while, so creation is retried until timeoutMs.
   */
  async recreateTopic(layout: TopicLayout): Promise<void> {
    const deadline = Date.now() + layout.timeoutMs;
    while (!(await this.createTopic(layout))) {
      if (Date.now() >= deadline) {
        throw new Error(
          `Cannot create topic "${layout.topic}": the broker still reports it as existing ` +
            `after ${layout.timeoutMs} ms`,
        );
      }
      await sleep(250);
    }
  }

  /** Deletes a topic; returns false when it does not exist. Deletion completes asynchronously. */
  async deleteTopic(topic: string, timeoutMs: number): Promise<boolean> {
    // kafkajs retries UNKNOWN_TOPIC_OR_PARTITION for a while before failing: check first.
    if (!(await this.topicExists(topic))) return false;
    try {
      await this.#admin.deleteTopics({ topics: [topic], timeout: timeoutMs });
    } catch (error) {
      if (hasErrorType(error, ["UNKNOWN_TOPIC_OR_PARTITION"])) return false;
      throw new Error(`Cannot delete topic "${topic}": ${errorText(error)}`, { cause: error });
    }
    return true;
  }

  /** Polls metadata until the broker no longer lists the topic, or throws after timeoutMs. */
  async waitTopicGone(topic: string, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (await this.topicExists(topic)) {
      if (Date.now() >= deadline) {
        throw new Error(
          `Cannot delete topic "${topic}": the broker still lists it after ${timeoutMs} ms`,
        );
      }
      await sleep(200);
    }
  }

  /** Low/high watermarks of every partition of an existing topic. */
  async watermarks(topic: string): Promise<Watermarks[]> {
    const offsets = await this.#admin.fetchTopicOffsets(topic);
    return offsets
      .map((o) => ({ partition: o.partition, low: BigInt(o.low), high: BigInt(o.high) }))
      .sort((a, b) => a.partition - b.partition);
  }

  /** The topic's effective max.message.bytes: the largest record batch the broker accepts. */
  async topicConfig(topic: string): Promise<{ maxMessageBytes: number }> {
    const what = `Cannot read max.message.bytes of topic "${topic}"`;
    const { resources } = await this.#admin.describeConfigs({
      resources: [{
        type: ConfigResourceTypes.TOPIC,
        name: topic,
        configNames: ["max.message.bytes"],
      }],
      includeSynonyms: false,
    }).catch((error) => {
      throw new Error(`${what}: ${errorText(error)}`, { cause: error });
    });
    const entry = resources[0]?.configEntries.find((e) => e.configName === "max.message.bytes");
    const maxMessageBytes = Number(entry?.configValue);
    if (!Number.isSafeInteger(maxMessageBytes) || maxMessageBytes <= 0) {
      throw new Error(
        `${what}: the broker answered ${JSON.stringify(entry?.configValue ?? null)}`,
      );
    }
    return { maxMessageBytes };
  }

  /** Committed offsets of a consumer group on a topic; partitions without a commit are absent. */
  async groupOffsets(groupId: string, topic: string): Promise<Map<number, bigint>> {
    const result = new Map<number, bigint>();
    const responses = await whileCoordinatorMoves(() =>
      this.#admin.fetchOffsets({ groupId, topics: [topic] })
    );
    for (const { partitions } of responses) {
      for (const { partition, offset } of partitions) {
        if (Number(offset) >= 0) result.set(partition, BigInt(offset));
      }
    }
    return result;
  }

  /** State and member count of a consumer group ("Dead" with 0 members when unknown). */
  async groupState(groupId: string): Promise<{ state: string; members: number }> {
    const { groups } = await whileCoordinatorMoves(() => this.#admin.describeGroups([groupId]));
    const group = groups.find((g) => g.groupId === groupId);
    return { state: group?.state ?? "Dead", members: group?.members.length ?? 0 };
  }

  /**
   * Deletes a consumer group and its committed offsets on every topic; returns false when the
   * group does not exist. A group with live members is refused by the broker (an error).
   */
  async deleteGroup(groupId: string): Promise<boolean> {
    try {
      await whileCoordinatorMoves(() => this.#admin.deleteGroups([groupId]));
    } catch (error) {
      // kafkajs reports each group's own error apart, in `groups`.
      const failures = errorChain(error)
        .flatMap((e) => (e as { groups?: { error?: unknown }[] }).groups ?? [])
        .map((g) => g.error);
      if (failures.length && failures.every((f) => hasErrorType(f, ["GROUP_ID_NOT_FOUND"]))) {
        return false;
      }
      const reason = failures.length ? failures.map(errorText).join("; ") : errorText(error);
      throw new Error(`Cannot delete consumer group "${groupId}": ${reason}`, { cause: error });
    }
    return true;
  }

  /** Number of brokers in the cluster. */
  async brokerCount(): Promise<number> {
    return (await this.#admin.describeCluster()).brokers.length;
  }

  /** Disconnects the admin client. */
  async close(): Promise<void> {
    await this.#admin.disconnect();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
