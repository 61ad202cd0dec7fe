/**
 * The dead-letter topic: records that can never be ingested go there byte for byte, with
 * headers saying why and where they came from, so that the consumer can move on.
 */
import {
  type Admin,
  createTopic,
  type IHeaders,
  type KafkaMessage,
  type Producer,
  topicExists,
  topicPartitions,
} from "./_client.ts";
import type { PipelineConfig } from "../config/mod.ts";
import { log } from "../log/mod.ts";

/** One rejected record and why. */
export interface DeadLetter {
  readonly message: KafkaMessage;
  readonly reason: string;
  readonly field?: string;
}

/**
 * Creates the dead-letter topic with the source topic's partition count if it is missing.
 * Returns its partition count. Broker-side auto-creation is never relied on.
 */
export async function ensureDeadLetterTopic(
  admin: Admin,
  settings: PipelineConfig["kafka"],
  options: { topic: string; deadLetterTopic: string; partitions: number },
): Promise<number> {
  if (!(await topicExists(admin, options.deadLetterTopic))) {
    // false: another consumer of the group created it at the same moment.
    const created = await createTopic(admin, {
      topic: options.deadLetterTopic,
      partitions: options.partitions,
      replicationFactor: settings.replicationFactor,
      timeoutMs: settings.requestTimeoutMs,
    });
    if (created) {
      log(
        `Created dead-letter topic "${options.deadLetterTopic}" ` +
          `(${options.partitions} partition(s), like "${options.topic}")`,
      );
    }
  }
  const partitions = await topicPartitions(admin, [options.deadLetterTopic]);
  return partitions.get(options.deadLetterTopic)?.length ?? options.partitions;
}

/** The dlq-* headers of one dead letter. */
function deadLetterHeaders(
  letter: DeadLetter,
  source: { topic: string; partition: number },
  time: Date,
): IHeaders {
  return {
    "dlq-reason": letter.reason,
    "dlq-field": letter.field ?? "",
    "dlq-source-topic": source.topic,
    "dlq-source-partition": String(source.partition),
    "dlq-source-offset": letter.message.offset,
    "dlq-time": time.toISOString(),
  };
}

/**
 * Sends dead letters (original key and value, original headers kept) and waits for every
 * in-sync replica to acknowledge them: only then may their offsets be recorded as consumed.
 */
export async function sendDeadLetters(producer: Producer, options: {
  deadLetterTopic: string;
  deadLetterPartitions: number;
  source: { topic: string; partition: number };
  letters: readonly DeadLetter[];
  time: Date;
}): Promise<void> {
  if (!options.letters.length) return;
  const { source } = options;
  // Same partition as the source when it exists, so one partition's letters stay in order.
  const partition = source.partition < options.deadLetterPartitions ? source.partition : undefined;
  await producer.send({
    topic: options.deadLetterTopic,
    acks: -1,
    messages: options.letters.map((letter) => ({
      key: letter.message.key,
      value: letter.message.value,
      partition,
      headers: {
        ...(letter.message.headers ?? {}),
        ...deadLetterHeaders(letter, source, options.time),
      },
    })),
  });
}
