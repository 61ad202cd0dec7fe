/** Public face of this folder. */
export { ConfigError, defaultConfigPath, loadConfig, parseConfig } from "./_load.ts";
export type { ConfigProblem } from "./_yaml.ts";
export { deadLetterTopicOf, maskUrl } from "./_resolve.ts";
export type {
  FeatureConfig,
  FieldConfig,
  ModelInputConfig,
  PipelineConfig,
  SaslConfig,
  TlsConfig,
} from "./_resolve.ts";
export { readTlsFiles } from "./_tls.ts";
export type { TlsFileProblem, TlsFiles } from "./_tls.ts";
export { configReference, readSection, replaceSection } from "./_reference.ts";
export { COLUMN_FIELDS, ID_LENGTH, LABEL_LENGTH, UUID_PATTERN } from "./_columns.ts";
export { pipelineSpec } from "./_pipeline_spec.ts";
