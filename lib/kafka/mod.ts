/** Public face of this folder. */
export {
  batchCodec,
  brokerError,
  connectAdmin,
  createConsumer,
  createKafka,
  createProducer,
  createTopic,
  deleteTopic,
  groupOffsets,
  groupState,
  isConnectionError,
  kafkaErrorText,
  listTopicNames,
  PRODUCER_COMPRESSIONS,
  recreateTopic,
  topicExists,
  topicMaxMessageBytes,
  topicPartitions,
  topicWatermarks,
  waitTopicGone,
} from "./_client.ts";
export type {
  Admin,
  BatchCodec,
  Consumer,
  EachBatchPayload,
  KafkaMessage,
  Message,
  PartitionInfo,
  Producer,
  ProducerCompression,
} from "./_client.ts";
export { openDeadLetterSink } from "./_dead_letter.ts";
export type { DeadLetter, DeadLetterSink, DeadLetterTopics } from "./_dead_letter.ts";
export { Revoked, runGroupConsumer } from "./_consumer.ts";
export type {
  Batch,
  BatchContext,
  GroupConsumer,
  Headers,
  HeaderValue,
  KafkaRecord,
} from "./_consumer.ts";
