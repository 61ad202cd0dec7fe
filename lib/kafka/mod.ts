/**
 * Public face of this folder, the only code that knows the Kafka client library: a cluster
 * handle that hands out a topic admin and a producer, in the project's own types.
 */
export { brokerError, isConnectionError, KafkaCluster } from "./_client.ts";
export type { ClusterOptions, KafkaSettings } from "./_client.ts";
export type { PartitionInfo, TopicAdmin, TopicLayout, Watermarks } from "./_admin.ts";
export { PRODUCER_COMPRESSIONS } from "./_producer.ts";
export type {
  EventProducer,
  EventRecord,
  ProducerCompression,
  ProducerOptions,
} from "./_producer.ts";
export { type BatchCodec, batchCodec } from "./_codecs.ts";
export { openDeadLetterSink } from "./_dead_letter.ts";
export type { DeadLetter, DeadLetterSink } from "./_dead_letter.ts";
export { Revoked, runGroupConsumer } from "./_consumer.ts";
export type {
  Batch,
  BatchContext,
  GroupConsumer,
  Headers,
  HeaderValue,
  KafkaRecord,
} from "./_consumer.ts";
export { readTopic } from "./_reader.ts";
export type { ReadOptions } from "./_reader.ts";
