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
