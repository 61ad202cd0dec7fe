/**
 * The dead-letter topic: records that can never be ingested go there byte for byte, with
 * headers saying why and where they came from, so that the consumer can move on.
 */
import { Buffer } from "node:buffer";
import { type IHeaders, type Kafka, Partitioners, type Producer } from "kafkajs";
import type { KafkaRecord } from "./_consumer.ts";

/** One rejected record and why. */
export interface DeadLetter {
  readonly record: KafkaRecord;
  readonly reason: string;
  readonly field?: string;
}

/** The topic operations the sink needs (TopicAdmin has them). */
export interface DeadLetterTopics {
  topicExists(topic: string): Promise<boolean>;
  createTopic(options: {
    topic: string;
    partitions: number;
    replicationFactor: number;
    timeoutMs: number;
  }): Promise<boolean>;
  partitionCount(topic: string): Promise<number>;
}

/** Where a source topic's dead letters go. */
export interface DeadLetterSink {
  readonly topic: string;
  /** Sends and waits for every in-sync replica: only then may the offsets be stored. */
  send(source: { topic: string; partition: number }, letters: readonly DeadLetter[]): Promise<void>;
  close(): Promise<void>;
}

/**
 * Creates the dead-letter topic with the source topic's partition count if it is missing
 * (broker-side auto-creation is never relied on) and connects its producer.
 */
export async function openDeadLetterSink(
  kafka: Kafka,
  topics: DeadLetterTopics,
  options: {
    sourceTopic: string;
    deadLetterTopic: string;
    partitions: number;
    replicationFactor: number;
    timeoutMs: number;
    onCreated?: (message: string) => void;
  },
): Promise<DeadLetterSink> {
  const { deadLetterTopic } = options;
  if (!(await topics.topicExists(deadLetterTopic))) {
    // false: another consumer of the group created it at the same moment.
    const created = await topics.createTopic({
      topic: deadLetterTopic,
      partitions: options.partitions,
      replicationFactor: options.replicationFactor,
      timeoutMs: options.timeoutMs,
    });
    if (created) {
      options.onCreated?.(
        `Created dead-letter topic "${deadLetterTopic}" ` +
          `(${options.partitions} partition(s), like "${options.sourceTopic}")`,
      );
    }
  }
  const partitions = await topics.partitionCount(deadLetterTopic);
  const producer: Producer = kafka.producer({
    allowAutoTopicCreation: false,
    idempotent: false,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  await producer.connect();
  return {
    topic: deadLetterTopic,
    send: async (source, letters) => {
      if (!letters.length) return;
      const time = new Date();
      // Same partition as the source when it exists, so one partition's letters stay in order.
      const partition = source.partition < partitions ? source.partition : undefined;
      await producer.send({
        topic: deadLetterTopic,
        acks: -1,
        messages: letters.map((letter) => ({
          key: toBuffer(letter.record.key),
          value: toBuffer(letter.record.value),
          partition,
          headers: {
            ...letter.record.headers,
            ...deadLetterHeaders(letter, source, time),
          } as IHeaders,
        })),
      });
    },
    close: () => producer.disconnect(),
  };
}

function toBuffer(bytes: Uint8Array | null): Buffer | null {
  return bytes === null ? null : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** The dlq-* headers of one dead letter. */
function deadLetterHeaders(
  letter: DeadLetter,
  source: { topic: string; partition: number },
  time: Date,
): Record<string, string> {
  return {
    "dlq-reason": letter.reason,
    "dlq-field": letter.field ?? "",
    "dlq-source-topic": source.topic,
    "dlq-source-partition": String(source.partition),
    "dlq-source-offset": String(letter.record.offset),
    "dlq-time": time.toISOString(),
  };
}
