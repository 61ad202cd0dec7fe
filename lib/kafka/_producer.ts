/** Sending records: kafkajs' producer behind the project's own record type. */
import { Buffer } from "node:buffer";
import type { CompressionTypes, IHeaders, Message, Producer } from "kafkajs";
import { compressionType, type ProducerCompression } from "./_codecs.ts";

export { PRODUCER_COMPRESSIONS, type ProducerCompression } from "./_codecs.ts";

/** How every send of a producer is acknowledged and compressed. */
export interface ProducerOptions {
  /** "all": every in-sync replica has the records; "leader": the partition leader has them. */
  readonly acks: "all" | "leader";
  readonly compression: ProducerCompression;
}

/** One record to send. Bytes are sent as they are; strings as UTF-8. */
export interface EventRecord {
  readonly key: Uint8Array | string | null;
  readonly value: Uint8Array | string | null;
  readonly headers?: Readonly<Record<string, string | Uint8Array>>;
  /** Without it, Kafka's murmur2 partitioner picks the partition from the key. */
  readonly partition?: number;
  /** CreateTime in milliseconds since the epoch; default: when it is sent. */
  readonly timestamp?: number;
}

function bytes(value: Uint8Array | string): Buffer | string {
  // A view, not a copy: the producer only reads the bytes.
  return typeof value === "string"
    ? value
    : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

/** Only the fields Kafka stores: kafkajs would put any other field of a record on the wire. */
function toMessage(record: EventRecord): Message {
  const message: Message = {
    key: record.key === null ? null : bytes(record.key),
    value: record.value === null ? null : bytes(record.value),
  };
  if (record.headers) {
    const headers: IHeaders = {};
    for (const [name, value] of Object.entries(record.headers)) headers[name] = bytes(value);
    message.headers = headers;
  }
  if (record.partition !== undefined) message.partition = record.partition;
  if (record.timestamp !== undefined) message.timestamp = String(record.timestamp);
  return message;
}

let producerOf: (events: EventProducer) => Producer;

/** The kafkajs producer inside an EventProducer, for code of this folder that still needs it. */
export function kafkaProducerOf(events: EventProducer): Producer {
  return producerOf(events);
}

/**
 * A connected producer that never creates topics, with acks and compression applied to every
 * send. Obtain it from KafkaCluster.connectProducer().
 */
export class EventProducer {
  readonly #producer: Producer;
  readonly #acks: number;
  readonly #compression: CompressionTypes;

  static {
    producerOf = (events) => events.#producer;
  }

  /** Wraps a producer that is already connected. */
  constructor(producer: Producer, options: ProducerOptions) {
    this.#producer = producer;
    this.#acks = options.acks === "all" ? -1 : 1;
    this.#compression = compressionType(options.compression);
  }

  /** Sends records to a topic in one request per partition leader; resolves once acknowledged. */
  async send(topic: string, records: readonly EventRecord[]): Promise<void> {
    await this.#producer.send({
      topic,
      acks: this.#acks,
      compression: this.#compression,
      messages: records.map(toMessage),
    });
  }

  /** Disconnects the producer. */
  async close(): Promise<void> {
    await this.#producer.disconnect();
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
