/**
 * The loaded config as the program uses it: what the spec yields, with paths made absolute,
 * topics and brokers resolved, and frozen; plus helpers that read it.
 */
import { dirname, isAbsolute, resolve } from "node:path";
import type { SpecConfig } from "./_pipeline_spec.ts";

/**
 * The whole pipeline configuration. Unlike the file, `producer.file` and the model paths are
 * absolute, `kafka.deadLetterTopic` is never empty and `kafka.brokers` has one broker each.
 */
export interface PipelineConfig extends SpecConfig {
  /** Absolute path of the file read. */
  readonly source: string;
}

/** Type, default and bounds of one event field. */
export type FieldConfig = PipelineConfig["events"]["fields"][string];
export type FieldType = FieldConfig["type"];
export type ModelInputConfig = PipelineConfig["model"]["inputs"][number];
export type FeatureConfig = ModelInputConfig["features"][number];
/** How one event field becomes tensor values. */
export type Encoding = FeatureConfig["encode"];
/** A value of pipeline.yaml that is a string, number or boolean. */
export type Scalar = NonNullable<FieldConfig["default"]>;

/** The frozen config of the file `file` (absolute) from its validated values. */
export function resolveConfig(config: SpecConfig, file: string): PipelineConfig {
  const base = dirname(file);
  const relative = (p: string) => isAbsolute(p) ? p : resolve(base, p);
  const { kafka, producer, model } = config;
  return deepFreeze({
    ...config,
    source: file,
    kafka: {
      ...kafka,
      // "a:9092,b:9092" from one environment variable means two brokers.
      brokers: kafka.brokers.flatMap((b) => b.split(",")).map((b) => b.trim()).filter(Boolean),
      deadLetterTopic: kafka.deadLetterTopic || `${kafka.topic}.dlq`,
    },
    producer: { ...producer, file: relative(producer.file) },
    model: {
      ...model,
      path: relative(model.path),
      ...(model.shadow && { shadow: { ...model.shadow, path: relative(model.shadow.path) } }),
    },
  });
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === "object") {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}

/**
 * The dead-letter topic of `topic`: kafka.dead_letter_topic, or "<topic>.dlq" when that key is
 * left empty, so that a derived dead-letter topic follows a topic given on the command line.
 */
export function deadLetterTopicOf(config: PipelineConfig, topic: string): string {
  const { topic: configured, deadLetterTopic } = config.kafka;
  return deadLetterTopic === `${configured}.dlq` ? `${topic}.dlq` : deadLetterTopic;
}

/** The URL with its password replaced by ****, safe to log. */
export function maskUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = "****";
    return parsed.toString();
  } catch {
    return url.replace(/\/\/([^:/@]*):[^@]*@/, "//$1:****@");
  }
}
