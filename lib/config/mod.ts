/** Public face of this folder. */
export {
  ConfigError,
  deadLetterTopicOf,
  defaultConfigPath,
  loadConfig,
  maskUrl,
  parseConfig,
} from "./_load.ts";
export type { FeatureConfig, FieldConfig, ModelInputConfig, PipelineConfig } from "./_load.ts";
export { configReference, readSection, replaceSection } from "./_reference.ts";
export { COLUMN_FIELDS, ID_LENGTH, LABEL_LENGTH } from "./_columns.ts";
