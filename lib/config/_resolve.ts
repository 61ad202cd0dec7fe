/**
 * The loaded config as the program uses it: what the spec yields, with paths made absolute,
 * topics and brokers resolved, and frozen; plus helpers that read it.
 */
import { dirname, isAbsolute, resolve } from "node:path";
import type { SpecConfig } from "./_pipeline_spec.ts";

/**
 * TLS settings of a client once resolved; its file paths are absolute, and no CA file means
 * the system's CAs. `serverName` is Kafka's only.
 */
export type TlsConfig = Exclude<NonNullable<SpecConfig["kafka"]["tls"]>, boolean>;

/** A section whose `tls` (false, true or settings in the file) is absent or settings. */
type WithTls<S extends { readonly tls?: unknown }> = Omit<S, "tls"> & {
  /** Absent: plaintext. */
  readonly tls?: TlsConfig;
};

/** SASL login to Kafka. */
export type SaslConfig = NonNullable<SpecConfig["kafka"]["sasl"]>;

/**
 * The whole pipeline configuration. Unlike the file, `producer.file`, `model.path` and the
 * TLS files are absolute, `kafka.deadLetterTopic` is never empty, `kafka.brokers` has one
 * broker each and `tls` is absent (no TLS) or settings.
 */
export interface PipelineConfig extends Omit<SpecConfig, "kafka" | "database"> {
  /** Absolute path of the file read. */
  readonly source: string;
  readonly kafka: WithTls<SpecConfig["kafka"]>;
  readonly database: WithTls<SpecConfig["database"]>;
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
  const { kafka, database, producer, model } = config;
  // false means no TLS, true the system's CAs; the files are relative to this file.
  const tls = (value: SpecConfig["kafka"]["tls"]): { tls?: TlsConfig } => {
    if (!value) return {};
    if (value === true) return { tls: { rejectUnauthorized: true } };
    const { caFile, certFile, keyFile } = value;
    return {
      tls: {
        ...value,
        ...(caFile !== undefined && { caFile: relative(caFile) }),
        ...(certFile !== undefined && { certFile: relative(certFile) }),
        ...(keyFile !== undefined && { keyFile: relative(keyFile) }),
      },
    };
  };
  const { tls: _kafkaTls, ...kafkaRest } = kafka;
  const { tls: _databaseTls, ...databaseRest } = database;
  return deepFreeze({
    ...config,
    source: file,
    kafka: {
      ...kafkaRest,
      // "a:9092,b:9092" from one environment variable means two brokers.
      brokers: kafka.brokers.flatMap((b) => b.split(",")).map((b) => b.trim()).filter(Boolean),
      deadLetterTopic: kafka.deadLetterTopic || `${kafka.topic}.dlq`,
      ...tls(kafka.tls),
    },
    database: { ...databaseRest, ...tls(database.tls) },
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
