/**
 * The group consumer behind the project's own batch types: kafkajs' eachBatch loop turned
 * into `handle(batch, context)` calls with bigint offsets, a keep-alive that gives up when
 * the partition is lost, and an explicit commit. Nothing of kafkajs leaves this file.
 */
import type { Consumer, EachBatchPayload, Kafka, KafkaMessage } from "kafkajs";
import { type KafkaCluster, kafkaOf } from "./_client.ts";

/** One header value; Kafka allows a key more than once. */
export type HeaderValue = string | Uint8Array;
export type Headers = Readonly<Record<string, HeaderValue | readonly HeaderValue[]>>;

/** One record of a partition as the consumer sees it. */
export interface KafkaRecord {
  readonly offset: bigint;
  readonly key: Uint8Array | null;
  readonly value: Uint8Array | null;
  readonly headers: Headers;
  /** Milliseconds since the epoch (create or log-append time, as the topic says). */
  readonly timestamp: number;
}

/** Consecutive records of one partition. */
export interface Batch {
  readonly topic: string;
  readonly partition: number;
  readonly records: readonly KafkaRecord[];
}

/** Thrown by `keepAlive()` once the batch can no longer be committed by this member. */
export class Revoked extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = "Revoked";
  }
}

/** What a batch handler may do with the group while it works on one batch. */
export interface BatchContext {
  /** Heartbeats when one is due; throws Revoked when the partition is lost or stopping. */
  keepAlive(): Promise<void>;
  /** False once the partition was revoked or the consumer is stopping. */
  stillOwned(): boolean;
  /**
   * Commits `nextOffset` to the group. Also done while stopping, so a clean stop leaves
   * nothing to redo; a failure is reported to the caller, who may ignore it (the database
   * holds the truth).
   */
  commit(nextOffset: bigint): Promise<void>;
  /**
   * Makes the partition's next fetch start at `offset`; the batch in hand is dropped (not
   * committed) and the records from `offset` on are delivered again.
   */
  rewind(offset: bigint): void;
}

/** Options of `runGroupConsumer()`. */
export interface GroupConsumerOptions {
  readonly groupId: string;
  readonly topic: string;
  /** Where a group without committed offsets starts. */
  readonly fromBeginning: boolean;
  /** Compressed bytes fetched per partition: bounds a batch. */
  readonly maxBytesPerPartition: number;
  readonly partitionsConsumedConcurrently: number;
  readonly sessionTimeoutMs: number;
  /**
   * Told the partitions of `topic` this member holds after each rebalance (sorted), with a
   * way to make a partition's next fetch start at another offset.
   */
  readonly onAssigned: (
    partitions: number[],
    seek: (partition: number, offset: bigint) => void,
  ) => void;
  /** A crash kafkajs restarts from (restarting true) or one that ends the consumer. */
  readonly onCrash: (error: unknown, restarting: boolean) => void;
  readonly handle: (batch: Batch, context: BatchContext) => Promise<void>;
}

/** A running group member. */
export interface GroupConsumer {
  /** Leaves the group after the batch in flight; a stop is idempotent. */
  stop(): Promise<void>;
}

/**
 * Joins the group and starts handing batches to `options.handle`. Offsets are committed only
 * by the handler (through its context), never automatically, and topics are never created.
 */
export async function runGroupConsumer(
  cluster: KafkaCluster,
  options: GroupConsumerOptions,
): Promise<GroupConsumer> {
  const consumer = createConsumer(kafkaOf(cluster), options);
  let stopping = false;
  const seek = (partition: number, offset: bigint) =>
    consumer.seek({ topic: options.topic, partition, offset: offset.toString() });
  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    options.onAssigned(
      [...(payload.memberAssignment[options.topic] ?? [])].sort((a, b) => a - b),
      seek,
    );
  });
  consumer.on(consumer.events.CRASH, ({ payload }) => {
    options.onCrash(payload.error, payload.restart);
  });
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [options.topic], fromBeginning: options.fromBeginning });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: options.partitionsConsumedConcurrently,
      eachBatch: async (payload) => {
        if (stopping || !payload.isRunning() || payload.isStale()) return;
        const { topic, partition, messages } = payload.batch;
        if (!messages.length) return;
        await options.handle(
          { topic, partition, records: messages.map(toRecord) },
          batchContext(
            payload,
            () => stopping,
            (offset) => seek(partition, offset),
          ),
        );
      },
    });
  } catch (error) {
    await consumer.disconnect().catch(() => {});
    throw error;
  }
  let stopped: Promise<void> | undefined;
  return {
    stop: () => {
      stopping = true;
      return stopped ??= consumer.disconnect();
    },
  };
}

function batchContext(
  payload: EachBatchPayload,
  stopping: () => boolean,
  seek: (offset: bigint) => void,
): BatchContext {
  const { topic, partition } = payload.batch;
  const stillOwned = () => !stopping() && payload.isRunning() && !payload.isStale();
  return {
    stillOwned,
    keepAlive: async () => {
      if (stopping()) throw new Revoked("the consumer is stopping");
      if (!stillOwned()) throw new Revoked("the partition is no longer assigned to this consumer");
      try {
        await payload.heartbeat();
      } catch (error) {
        const reason = error instanceof Error ? error.message : String(error);
        throw new Revoked(`the group is rebalancing (${reason})`);
      }
    },
    commit: async (nextOffset) => {
      // A stale batch belongs to another member now: its commit would move their position.
      if (payload.isStale()) return;
      payload.resolveOffset((nextOffset - 1n).toString());
      await payload.commitOffsetsIfNecessary({
        topics: [{ topic, partitions: [{ partition, offset: nextOffset.toString() }] }],
      });
    },
    rewind: (offset) => {
      if (stillOwned()) seek(offset);
    },
  };
}

function toRecord(message: KafkaMessage): KafkaRecord {
  const headers: Record<string, HeaderValue | HeaderValue[]> = {};
  for (const [name, value] of Object.entries(message.headers ?? {})) {
    if (value !== undefined) headers[name] = value as HeaderValue | HeaderValue[];
  }
  return {
    offset: BigInt(message.offset),
    key: message.key,
    value: message.value,
    headers,
    timestamp: Number(message.timestamp),
  };
}

/**
 * A group consumer that never creates topics. Several heartbeats per session timeout, so one
 * late beat never costs the partitions.
 */
function createConsumer(kafka: Kafka, options: GroupConsumerOptions): Consumer {
  const sessionTimeout = options.sessionTimeoutMs;
  return kafka.consumer({
    groupId: options.groupId,
    allowAutoTopicCreation: false,
    sessionTimeout,
    heartbeatInterval: Math.max(500, Math.floor(sessionTimeout / 10)),
    rebalanceTimeout: 60_000,
    maxWaitTimeInMs: 500,
    maxBytesPerPartition: options.maxBytesPerPartition,
    retry: { retries: 10, initialRetryTime: 300, maxRetryTime: 5000 },
  });
}
