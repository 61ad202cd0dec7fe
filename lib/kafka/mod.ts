/** Public face of this folder. */
export {
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
  topicPartitions,
  topicWatermarks,
  waitTopicGone,
} from "./_client.ts";
export type {
  Admin,
  Consumer,
  EachBatchPayload,
  KafkaMessage,
  Message,
  PartitionInfo,
  Producer,
} from "./_client.ts";
export { ensureDeadLetterTopic, sendDeadLetters } from "./_dead_letter.ts";
export type { DeadLetter } from "./_dead_letter.ts";
