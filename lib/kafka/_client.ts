/** The cluster handle (the only owner of kafkajs' client), its logging and the error helpers. */
import process from "node:process";
import {
  type Admin,
  Kafka,
  type KafkaConfig,
  type LogEntry,
  logLevel,
  Partitioners,
} from "kafkajs";
import type { PipelineConfig } from "../config/mod.ts";
import { errorText, UserError } from "../errors/mod.ts";
import { TopicAdmin } from "./_admin.ts";
import { registerCodecs } from "./_codecs.ts";
import { EventProducer, type ProducerOptions } from "./_producer.ts";
import { maskPassword, saslOptions, securityProblem, tlsOptions } from "./_security.ts";

/** The `kafka` section of pipeline.yaml. */
export type KafkaSettings = PipelineConfig["kafka"];

/** Options of `new KafkaCluster()`. */
export interface ClusterOptions {
  /** Retries of a failed request (default 3): bounded, so that failures surface fast. */
  readonly retries?: number;
  /** Receives the client's own log lines (errors, warnings, information); default: none. */
  readonly onLog?: (line: string) => void;
}

/** kafkajs log entries as one short line each; its own stack-heavy JSON is too noisy for users. */
function logCreator(onLog: (line: string) => void) {
  return () => ({ namespace, label, log: entry }: LogEntry) => {
    const { message, error } = entry as { message: string; error?: string };
    onLog(`kafka ${label.toLowerCase()}: [${namespace}] ${message}${error ? `: ${error}` : ""}`);
  };
}

let kafkaOfCluster: (cluster: KafkaCluster) => Kafka;

/** The kafkajs client of a cluster, for this folder's consumer loop; not part of mod.ts. */
export function kafkaOf(cluster: KafkaCluster): Kafka {
  return kafkaOfCluster(cluster);
}

/** The configured Kafka cluster: hands out connected admin clients and producers. */
export class KafkaCluster {
  readonly #settings: KafkaSettings;
  readonly #config: KafkaConfig;
  readonly #kafka: Kafka;

  static {
    kafkaOfCluster = (cluster) => cluster.#kafka;
  }

  /** Reads kafka.tls's PEM files: a missing or unusable one is a UserError naming its key. */
  constructor(settings: KafkaSettings, options: ClusterOptions = {}) {
    filterKafkajsTimerWarning();
    // Topics written by other producers may hold snappy, lz4 or zstd batches.
    registerCodecs();
    this.#settings = settings;
    this.#config = {
      clientId: settings.clientId,
      brokers: [...settings.brokers],
      connectionTimeout: settings.connectionTimeoutMs,
      requestTimeout: settings.requestTimeoutMs,
      retry: { retries: options.retries ?? 3, initialRetryTime: 200, maxRetryTime: 2000 },
      logLevel: options.onLog ? logLevel.INFO : logLevel.NOTHING,
      logCreator: options.onLog ? logCreator(options.onLog) : () => () => {},
      // The admin, the producers and the consumer all come from this one client.
      ssl: tlsOptions(settings),
      // A rejected login is final in kafkajs (never retried): it fails within a round trip.
      sasl: saslOptions(settings),
    };
    this.#kafka = new Kafka(this.#config);
  }

  /**
   * Connects an admin client and checks that the cluster answers a metadata request within
   * `deadlineMs`; any failure becomes one brokerError line. A TLS or SASL mistake fails
   * within a round trip, without the retries.
   */
  async connectAdmin(deadlineMs = 12_000): Promise<TopicAdmin> {
    // A port that accepts connections but never answers lets kafkajs' connect() resolve after
    // its request timeout; only the first real request fails, with a bare "Broker not connected".
    // A SASL listener, too, accepts a connection without a login and closes it at that request.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${deadlineMs} ms`)), deadlineMs);
    });
    const answers = (client: Admin) =>
      Promise.race([client.connect().then(() => client.describeCluster()), deadline]);
    // kafkajs retries TLS failures like any connection error, backing off for seconds; they
    // fail alike every time, so one attempt without retries finds them first.
    const probe = new Kafka({ ...this.#config, retry: { ...this.#config.retry, retries: 0 } })
      .admin();
    const admin = this.#kafka.admin();
    try {
      try {
        await answers(probe);
      } catch (error) {
        if (securityProblem(this.#settings, error)) throw error;
      } finally {
        probe.disconnect().catch(() => {});
      }
      await answers(admin);
    } catch (error) {
      admin.disconnect().catch(() => {});
      throw brokerError(this.#settings, error);
    } finally {
      clearTimeout(timer);
    }
    return new TopicAdmin(admin);
  }

  /**
   * Connects a producer that never creates topics and sends with `options` every time.
   * Idempotence stays off: kafkajs marks it experimental and it forces one request in flight.
   */
  async connectProducer(options: ProducerOptions): Promise<EventProducer> {
    const producer = this.#kafka.producer({
      allowAutoTopicCreation: false,
      idempotent: false,
      // Kafka's own murmur2 partitioner: the same key lands where Java clients would put it.
      createPartitioner: Partitioners.DefaultPartitioner,
    });
    await producer.connect().catch((error) => {
      throw brokerError(this.#settings, error);
    });
    return new EventProducer(producer, options);
  }
}

/**
 * Turns a connection failure into one actionable line naming the bootstrap servers: what a
 * TLS or SASL failure means and the key that fixes it, else where to check the broker. The
 * SASL password never appears.
 */
export function brokerError(settings: KafkaSettings, error: unknown): UserError {
  const where = settings.brokers.join(",");
  const security = securityProblem(settings, error);
  // One line on purpose: the fix is part of the message, not a second "hint:" line.
  const message = security
    ? `Cannot connect to Kafka at ${where}: ${security}`
    : `Cannot reach Kafka at ${where}: ${errorText(error)} (check kafka.brokers in ` +
      "pipeline.yaml or $KAFKA_BROKERS, and that the broker runs: deno task services status)";
  return new UserError(maskPassword(settings, message), { cause: error });
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

let timerWarningFiltered = false;

/**
 * kafkajs 2.2.4 computes `throttledUntil - Date.now()` with `throttledUntil = -1` after every
 * response (RequestQueue.scheduleCheckPendingRequests), so the Node timers Deno emulates print a
 * TimeoutNegativeWarning on every run although the timer is clamped to 1 ms exactly as kafkajs
 * expects. Only that warning from that function is dropped; every other warning still prints.
 */
function filterKafkajsTimerWarning(): void {
  if (timerWarningFiltered) return;
  timerWarningFiltered = true;
  for (const listener of process.listeners("warning")) {
    process.removeListener("warning", listener);
    process.on("warning", (warning: Error) => {
      const fromKafkajsQueue = warning.name === "TimeoutNegativeWarning" &&
        (warning.stack ?? "").includes("scheduleCheckPendingRequests");
      if (!fromKafkajsQueue) listener(warning);
    });
  }
}
