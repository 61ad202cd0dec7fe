/** Public face of this folder. */
export { uniqueName, writeConfig } from "./_config.ts";
export type { Target } from "./_config.ts";
export { KafkaTools, murmur2, partitionOfKey } from "./_kafka_tools.ts";
export type { ToolEndpoint, ToolRecord } from "./_kafka_tools.ts";
