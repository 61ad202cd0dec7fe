/** The only importer of kafkajs: client, admin, producer and consumer factories. */
import {
  type Admin,
  type Consumer,
  Kafka,
  type KafkaConfig,
  type LogEntry,
  logLevel,
  type Producer,
} from "kafkajs";
import type { PipelineConfig } from "./config.ts";
import { UserError } from "./cli.ts";
import { log } from "./log.ts";

export type { Admin, Consumer, Producer };
export type { EachBatchPayload, IHeaders, KafkaMessage, Message } from "kafkajs";

type KafkaSettings = PipelineConfig["kafka"];

/** kafkajs log entries as one short line each; its own stack-heavy JSON is too noisy for users. */
function logCreator(level: logLevel) {
  return ({ namespace, log: entry }: LogEntry) => {
    if (level < logLevel.WARN) return;
    const { message, error } = entry as { message: string; error?: string };
    log(
      `kafka ${logLevel[level].toLowerCase()}: [${namespace}] ${message}${
        error ? `: ${error}` : ""
      }`,
    );
  };
}

/** A kafkajs client for the configured cluster; retries are bounded so failures surface fast. */
export function createKafka(
  settings: KafkaSettings,
  options: { retries?: number; debug?: boolean } = {},
): Kafka {
  const debug = options.debug ?? Boolean(Deno.env.get("PIPELINE_DEBUG"));
  const config: KafkaConfig = {
    clientId: settings.clientId,
    brokers: [...settings.brokers],
    connectionTimeout: settings.connectionTimeoutMs,
    requestTimeout: settings.requestTimeoutMs,
    retry: { retries: options.retries ?? 3, initialRetryTime: 200, maxRetryTime: 2000 },
    logLevel: debug ? logLevel.INFO : logLevel.NOTHING,
    logCreator: () => logCreator(debug ? logLevel.INFO : logLevel.NOTHING),
  };
  return new Kafka(config);
}

/** Turns a connection failure into one actionable line naming the bootstrap servers. */
export function brokerError(settings: KafkaSettings, error: unknown): UserError {
  const reason = error instanceof Error ? error.message : String(error);
  return new UserError(
    `Cannot reach Kafka at ${settings.brokers.join(",")}: ${reason}`,
    {
      hint: "check kafka.brokers in pipeline.yaml (or $KAFKA_BROKERS) and that the broker runs " +
        "(deno task services status)",
      cause: error,
    },
  );
}

/** Is this a failure to connect to the cluster (as opposed to a protocol error)? */
export function isConnectionError(error: unknown): boolean {
  const name = (error as { name?: string })?.name ?? "";
  const message = (error as { message?: string })?.message ?? "";
  return [
    "KafkaJSConnectionError",
    "KafkaJSNonRetriableError",
    "KafkaJSNumberOfRetriesExceeded",
    "KafkaJSRequestTimeoutError",
    "KafkaJSBrokerNotFound",
  ].includes(name) && /connect|ECONNREFUSED|ENOTFOUND|timed? ?out|brokers|Closed/i.test(
    message + String((error as { cause?: Error })?.cause?.message ?? ""),
  );
}

/** Connects an admin client, mapping connection failures to a UserError. */
export async function connectAdmin(settings: KafkaSettings, kafka = createKafka(settings)) {
  const admin = kafka.admin();
  try {
    await admin.connect();
  } catch (error) {
    throw brokerError(settings, error);
  }
  return admin;
}
