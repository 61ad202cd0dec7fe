/**
 * The consumer's metrics, all defined here under the `pipeline_` prefix, behind a typed API:
 * the consumer says what happened (`batchApplied`, `retried`, `lagMeasured`...) and never
 * handles metric names or label values itself. Every label has a closed set of values, so the
 * number of series stays bounded whatever the messages contain.
 */
import { registerProcessMetrics } from "./_process.ts";
import { Registry } from "./_registry.ts";
import { DEAD_LETTER_REASONS, deadLetterReason } from "../events/mod.ts";

export { DEAD_LETTER_REASONS, deadLetterReason };
export type { DeadLetterReason } from "../events/mod.ts";

/** Why a batch (or a database transaction inside it) was tried again. */
export const RETRY_CAUSES = [
  /** ER_LOCK_DEADLOCK */
  "db_deadlock",
  /** ER_LOCK_WAIT_TIMEOUT */
  "db_lock_timeout",
  /** connection refused, lost or killed: the database restarting */
  "db_connection",
  /** any other database failure */
  "db_error",
  /** the dead-letter send or another broker request failed */
  "kafka",
  /** the model failed to score a batch */
  "model",
  "other",
] as const;
export type RetryCause = typeof RETRY_CAUSES[number];

/** Where a batch's time goes. */
export const STAGES = ["validate", "model", "db", "kafka"] as const;
export type Stage = typeof STAGES[number];

/** One batch once its database transaction and its Kafka commit are done. */
export interface AppliedBatch {
  readonly partition: number;
  /** Every message of the batch; `timestamp` is Kafka's (milliseconds since the epoch, as text). */
  readonly messages: readonly { readonly timestamp: string }[];
  /** Rows inserted. */
  readonly ingested: number;
  /** event_ids already in the table (skipped, or updated with `duplicates: update`). */
  readonly duplicatesStored: number;
  /** Repeats of an event_id within the batch. */
  readonly duplicatesInBatch: number;
  /** Redelivered messages whose effects were already stored. */
  readonly alreadyApplied: number;
  /** The dead letters' validator reasons, free text; only their kind becomes a label. */
  readonly deadLetters: readonly { readonly reason: string }[];
  /** Milliseconds per stage (the consumer's BatchReport.ms). */
  readonly ms: Readonly<Record<Stage, number>>;
  /** Date.now() when the batch started. */
  readonly startedAt: number;
  /** Date.now() when the database transaction committed: end-to-end latency is measured to it. */
  readonly committedAt: number;
  /** Date.now() when everything was done, Kafka commit included; default: now. */
  readonly finishedAt?: number;
}

const SIZE_BUCKETS = [1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];
const BATCH_SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const STAGE_SECONDS = [
  0.0005,
  0.001,
  0.0025,
  0.005,
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
];
// A backlog replayed from the beginning of a topic is hours old: buckets reach an hour.
const LATENCY_SECONDS = [
  0.01,
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  2.5,
  5,
  10,
  30,
  60,
  300,
  900,
  3600,
];

/** Creates the consumer's metric set (with the process metrics) in a registry of its own. */
export function createPipelineMetrics(options: { process?: boolean } = {}): PipelineMetrics {
  return new PipelineMetrics(options.process ?? true);
}

/** The consumer's metrics. Each method is cheap: call it where the event happens. */
export class PipelineMetrics {
  readonly registry = new Registry();
  readonly #ingested;
  readonly #duplicates;
  readonly #alreadyApplied;
  readonly #deadLetters;
  readonly #retries;
  readonly #batchSize;
  readonly #batchSeconds;
  readonly #stageSeconds;
  readonly #latency;
  readonly #lag;
  readonly #assigned;
  readonly #model;
  readonly #swaps;
  readonly #lagPartitions = new Set<number>();

  constructor(processMetrics = true) {
    const r = this.registry;
    this.#ingested = r.counter({
      name: "pipeline_events_ingested_total",
      help: "Events inserted into the events table.",
    });
    this.#duplicates = r.counter({
      name: "pipeline_events_duplicate_total",
      help: "Events whose event_id was already stored (found_in=table) or repeated within " +
        "its batch (found_in=batch).",
      labels: ["found_in"],
    });
    this.#alreadyApplied = r.counter({
      name: "pipeline_events_already_applied_total",
      help: "Redelivered messages whose effects were already stored (skipped by offset).",
    });
    this.#deadLetters = r.counter({
      name: "pipeline_dead_letters_total",
      help: "Records sent to the dead-letter topic, by kind of validation failure.",
      labels: ["reason"],
    });
    this.#retries = r.counter({
      name: "pipeline_retries_total",
      help: "Attempts to apply a batch or run its transaction that failed and were retried.",
      labels: ["cause"],
    });
    this.#batchSize = r.histogram({
      name: "pipeline_batch_size_events",
      help: "Messages per applied batch.",
      buckets: SIZE_BUCKETS,
    });
    this.#batchSeconds = r.histogram({
      name: "pipeline_batch_duration_seconds",
      help: "Wall time of an applied batch, retries and Kafka commit included.",
      buckets: BATCH_SECONDS,
    });
    this.#stageSeconds = r.histogram({
      name: "pipeline_stage_duration_seconds",
      help: "Time an applied batch spent per stage (validate, model, db, kafka).",
      labels: ["stage"],
      buckets: STAGE_SECONDS,
    });
    this.#latency = r.histogram({
      name: "pipeline_end_to_end_latency_seconds",
      help: "From a message's Kafka timestamp to the commit of its batch's transaction.",
      buckets: LATENCY_SECONDS,
    });
    this.#lag = r.gauge({
      name: "pipeline_consumer_lag_messages",
      help: "Messages not yet applied, per assigned partition.",
      labels: ["partition"],
    });
    this.#assigned = r.gauge({
      name: "pipeline_assigned_partitions",
      help: "Partitions assigned to this consumer.",
    });
    this.#model = r.info({
      name: "pipeline_model_info",
      help: "The model scoring events: its version.",
      labels: ["version"],
    });
    this.#swaps = r.counter({
      name: "pipeline_model_swaps_total",
      help: "Times a new model version replaced the running one.",
    });
    // Series that exist from the start, so that rate() sees their first increase.
    for (const found_in of ["table", "batch"]) this.#duplicates.init({ found_in });
    for (const reason of DEAD_LETTER_REASONS) this.#deadLetters.init({ reason });
    for (const cause of RETRY_CAUSES) this.#retries.init({ cause });
    this.#assigned.set(0);
    if (processMetrics) registerProcessMetrics(r);
  }

  /** Counts one applied batch: its outcomes, size, durations and end-to-end latencies. */
  batchApplied(batch: AppliedBatch): void {
    this.#ingested.inc(batch.ingested);
    this.#duplicates.inc(batch.duplicatesStored, { found_in: "table" });
    this.#duplicates.inc(batch.duplicatesInBatch, { found_in: "batch" });
    this.#alreadyApplied.inc(batch.alreadyApplied);
    for (const letter of batch.deadLetters) {
      this.#deadLetters.inc(1, { reason: deadLetterReason(letter.reason) });
    }
    this.#batchSize.observe(batch.messages.length);
    const finishedAt = batch.finishedAt ?? Date.now();
    this.#batchSeconds.observe(Math.max(finishedAt - batch.startedAt, 0) / 1000);
    for (const stage of STAGES) this.#stageSeconds.observe(batch.ms[stage] / 1000, { stage });
    const latencies: number[] = [];
    for (const message of batch.messages) {
      const sent = Number(message.timestamp);
      // A producer's clock ahead of ours would give a negative latency: count it as zero.
      if (Number.isFinite(sent)) latencies.push(Math.max(batch.committedAt - sent, 0) / 1000);
    }
    this.#latency.observeAll(latencies);
  }

  /** Counts one retry; an unknown cause counts as "other" so the label set stays closed. */
  retried(cause: RetryCause): void {
    this.#retries.inc(1, { cause: RETRY_CAUSES.includes(cause) ? cause : "other" });
  }

  /** The lag of every assigned partition; partitions left out lose their series. */
  lagMeasured(lag: ReadonlyMap<number, number | bigint>): void {
    this.#lag.reset();
    this.#lagPartitions.clear();
    for (const [partition, value] of lag) {
      this.#lag.set(Number(value), { partition });
      this.#lagPartitions.add(partition);
    }
  }

  /** The partitions assigned after a rebalance. */
  partitionsAssigned(partitions: readonly number[]): void {
    this.#assigned.set(partitions.length);
    // Lag series of partitions now owned by another member would go stale.
    for (const partition of this.#lagPartitions) {
      if (partitions.includes(partition)) continue;
      this.#lag.remove({ partition });
      this.#lagPartitions.delete(partition);
    }
  }

  /** The model in use at start. */
  modelLoaded(version: string): void {
    this.#model.set({ version });
  }

  /** A new model version replaced the running one. */
  modelSwapped(version: string): void {
    this.#model.set({ version });
    this.#swaps.inc();
  }

  /** The text exposition of every metric. */
  render(): string {
    return this.registry.render();
  }
}
