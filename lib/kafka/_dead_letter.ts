/**
 * The dead-letter topic: records that can never be ingested go there byte for byte, with
 * headers saying why and where they came from, so that the consumer can move on.
 */
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import { gzipSync } from "node:zlib";
import { CompressionTypes, type IHeaders, Partitioners, type Producer } from "kafkajs";
import type { TopicAdmin } from "./_admin.ts";
import { type KafkaCluster, kafkaOf } from "./_client.ts";
import type { KafkaRecord } from "./_consumer.ts";

/** One rejected record and why. */
export interface DeadLetter {
  readonly record: KafkaRecord;
  readonly reason: string;
  readonly field?: string;
}

/** Where a source topic's dead letters go. */
export interface DeadLetterSink {
  readonly topic: string;
  /** Sends and waits for every in-sync replica: only then may the offsets be stored. */
  send(source: { topic: string; partition: number }, letters: readonly DeadLetter[]): Promise<void>;
  close(): Promise<void>;
}

/** Room left in a record batch for its own header and each record's framing. */
const BATCH_OVERHEAD = 512;
const RECORD_OVERHEAD = 64;

/**
 * Creates the dead-letter topic with the source topic's partition count if it is missing
 * (broker-side auto-creation is never relied on) and connects its producer. Letters are
 * sent gzip'ed, in requests that fit the topic's max.message.bytes; a letter too large even
 * alone and compressed is replaced by a stand-in that says what it was.
 */
export async function openDeadLetterSink(
  cluster: KafkaCluster,
  topics: TopicAdmin,
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
  const ensure = async () => {
    if (await topics.topicExists(deadLetterTopic)) return;
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
  };
  await ensure();
  const partitionCount = async () =>
    (await topics.partitions([deadLetterTopic])).get(deadLetterTopic)?.length ?? 1;
  const maxMessageBytes = async () => (await topics.topicConfig(deadLetterTopic)).maxMessageBytes;
  let partitions = await partitionCount();
  let limit = await maxMessageBytes();
  const producer: Producer = kafkaOf(cluster).producer({
    allowAutoTopicCreation: false,
    idempotent: false,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  await producer.connect();

  const sendAll = async (
    source: { topic: string; partition: number },
    letters: readonly DeadLetter[],
  ) => {
    const time = new Date();
    // Same partition as the source when it exists, so one partition's letters stay in order.
    const partition = source.partition < partitions ? source.partition : undefined;
    const messages = letters.map((letter) =>
      fitted(toMessage(letter, source, time, partition), letter, source, limit)
    );
    for (const chunk of chunks(messages, limit)) {
      await producer.send({
        topic: deadLetterTopic,
        acks: -1,
        compression: CompressionTypes.GZIP,
        messages: chunk.map((m) => m.message),
      });
    }
  };

  return {
    topic: deadLetterTopic,
    send: async (source, letters) => {
      if (!letters.length) return;
      try {
        await sendAll(source, letters);
      } catch (error) {
        if (!missingTopic(error)) throw error;
        // Deleted under a running consumer: it is this consumer's own topic, so it comes back.
        await ensure();
        partitions = await partitionCount();
        limit = await maxMessageBytes();
        options.onCreated?.(`Dead-letter topic "${deadLetterTopic}" was missing: re-created it`);
        throw new Error(
          `Cannot send to dead-letter topic "${deadLetterTopic}": it was missing and has been ` +
            "re-created; sending again",
          { cause: error },
        );
      }
    },
    close: () => producer.disconnect(),
  };
}

interface Sized {
  readonly message: {
    key: Buffer | null;
    value: Buffer | null;
    partition?: number;
    headers: IHeaders;
  };
  /** Its size uncompressed, as the broker would count it without compression. */
  readonly bytes: number;
}

function toMessage(
  letter: DeadLetter,
  source: { topic: string; partition: number },
  time: Date,
  partition: number | undefined,
): Sized {
  const headers = { ...letter.record.headers, ...deadLetterHeaders(letter, source, time) };
  const message = {
    key: toBuffer(letter.record.key),
    value: toBuffer(letter.record.value),
    partition,
    headers: headers as IHeaders,
  };
  return { message, bytes: sizeOf(message) };
}

function sizeOf(message: Sized["message"]): number {
  let bytes = RECORD_OVERHEAD + (message.key?.length ?? 0) + (message.value?.length ?? 0);
  for (const [name, value] of Object.entries(message.headers)) {
    for (const v of [value ?? []].flat()) bytes += name.length + 8 + byteLength(v);
  }
  return bytes;
}

function byteLength(value: string | Buffer): number {
  return typeof value === "string" ? Buffer.byteLength(value) : value.length;
}

/**
 * The letter as it can be sent: itself when it fits a batch uncompressed, or compressed on its
 * own; else a stand-in naming its size and sha256, with the original headers.
 */
function fitted(
  sized: Sized,
  letter: DeadLetter,
  source: { topic: string; partition: number },
  limit: number,
): Sized {
  const room = limit - BATCH_OVERHEAD;
  if (sized.bytes <= room) return sized;
  const value = sized.message.value ?? Buffer.alloc(0);
  const compressed = gzipSync(value).length + sized.bytes - value.length;
  if (compressed <= room) return { message: sized.message, bytes: compressed };
  const standIn = Buffer.from(JSON.stringify({
    dead_letter_stand_in: true,
    reason: letter.reason,
    original_bytes: value.length,
    original_sha256: createHash("sha256").update(value).digest("hex"),
    source_topic: source.topic,
    source_partition: source.partition,
    source_offset: String(letter.record.offset),
    note: `the record does not fit the dead-letter topic (max.message.bytes ${limit}) even ` +
      "compressed; read it from the source topic at this offset while it is retained",
  }));
  const marker = { ...deadLetterHeaders(letter, source, new Date()), "dlq-stand-in": "true" };
  const full = {
    ...sized.message,
    value: standIn,
    headers: { ...sized.message.headers, ...marker } as IHeaders,
  };
  // A key or original headers too large for a batch are left out: the stand-in always fits.
  const chosen = sizeOf(full) <= room ? full : { ...full, key: null, headers: marker };
  return { message: chosen, bytes: sizeOf(chosen) };
}

/** Messages in requests whose uncompressed size fits one record batch. */
function* chunks(messages: readonly Sized[], limit: number): Generator<Sized[]> {
  let chunk: Sized[] = [];
  let bytes = BATCH_OVERHEAD;
  for (const m of messages) {
    if (chunk.length && bytes + m.bytes > limit) {
      yield chunk;
      chunk = [];
      bytes = BATCH_OVERHEAD;
    }
    chunk.push(m);
    bytes += m.bytes;
  }
  if (chunk.length) yield chunk;
}

/** Whether a send failed because the topic (or its partition) does not exist. */
function missingTopic(error: unknown): boolean {
  const text = String((error as Error)?.message ?? "") +
    JSON.stringify((error as { type?: string })?.type ?? "");
  return /UNKNOWN_TOPIC_OR_PARTITION|does not host this topic-partition|not host this topic/i
    .test(text) ||
    ((error as { cause?: unknown })?.cause !== undefined &&
      missingTopic((error as { cause?: unknown }).cause));
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
