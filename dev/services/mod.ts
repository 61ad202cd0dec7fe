/**
 * The services the pipeline needs on a development machine or in CI: a Kafka broker (started
 * from the Maven jars of services/kafka/pom.xml when nothing answers) and MariaDB (started
 * with the system's mariadbd when nothing answers). Anything already answering is reused and
 * never stopped: `down` stops only a broker this project started.
 */
import type { PipelineConfig } from "../../lib/config/mod.ts";
import { reportError } from "../../lib/cli/mod.ts";
import { ensureKafka, kafkaStatus, stopBroker } from "./_kafka.ts";
import { ensureMariaDb, mariaDbStatus } from "./_mariadb.ts";
import type { ServiceStatus } from "./_net.ts";

export { randomClusterId } from "./_cluster_id.ts";
export { brokerProperties, kafkaLibs, kafkaPaths } from "./_kafka.ts";
export { bufferPoolFor } from "./_mariadb.ts";
export { type Endpoint, parseEndpoint, portAnswers, type ServiceStatus } from "./_net.ts";
export { makeTlsMaterial, startSecureKafka, startSecureMariaDb } from "./_secure.ts";
export type {
  Credentials,
  SecureKafka,
  SecureKafkaOptions,
  SecureMariaDb,
  SecureMariaDbOptions,
  TlsMaterial,
} from "./_secure.ts";

/** Options of servicesUp(). */
export interface UpOptions {
  /** How long each service may take to answer after being started. */
  readonly timeoutMs?: number;
}

/** Makes sure Kafka and MariaDB answer, starting what is missing and can be started here. */
export async function servicesUp(config: PipelineConfig, options: UpOptions = {}): Promise<void> {
  const timeoutMs = options.timeoutMs ?? 90_000;
  // Both may take seconds to start: start them side by side.
  const results = await Promise.allSettled([
    ensureKafka(config.kafka, timeoutMs),
    ensureMariaDb(config.database, timeoutMs),
  ]);
  const failed = results.filter((r) => r.status === "rejected").map((r) => r.reason);
  // Both can fail: say what is wrong with the first here, the caller reports the other.
  for (const error of failed.slice(0, -1)) reportError(error);
  if (failed.length) throw failed.at(-1);
}

/** Stops the broker for the configured address if, and only if, this project started it. */
export async function servicesDown(config: PipelineConfig): Promise<void> {
  await stopBroker(config.kafka);
}

/** What answers at the configured addresses. */
export async function servicesStatus(config: PipelineConfig): Promise<ServiceStatus[]> {
  return await Promise.all([kafkaStatus(config.kafka), mariaDbStatus(config.database)]);
}
