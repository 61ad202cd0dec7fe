/**
 * What an operator sees of a running consumer: the start-up banner, the per-event lines
 * (paused while the backlog is large), the summaries, the live status line on a terminal,
 * and the Prometheus metrics behind /metrics. The run reports what happened; this decides how
 * it is shown.
 */
import type { PipelineConfig } from "../config/mod.ts";
import { maskUrl } from "../config/mod.ts";
import { errorNumber, isTransientError } from "../db/mod.ts";
import { type ConsumerEvent, events, log, setStderrSink, StatusLine } from "../log/mod.ts";
import type { PipelineMetrics, RetryCause } from "../metrics/mod.ts";
import type { KafkaRecord } from "../kafka/mod.ts";
import type { Applied, Stage } from "./_applier.ts";
import type { ConsumeStats } from "./_reporter.ts";
import { batchEvents, summaryEvent } from "./_reporter.ts";

/** Options of an Observer. */
export interface ObserverOptions {
  /** Per-event lines at all (consumer.log_events, and no --quiet). */
  readonly eventLines: boolean;
  /** Per-event lines even with a large backlog (--events). */
  readonly alwaysEventLines: boolean;
  /** The status line: default whether stderr is a terminal. */
  readonly statusLine?: boolean;
  readonly metrics?: PipelineMetrics;
}

/** The consumer's output and metrics, fed by its run. */
export class Observer {
  readonly #config: PipelineConfig;
  readonly #options: ObserverOptions;
  readonly #status: StatusLine | undefined;
  #paused = false;
  /** The last lag measured, and how many messages had been handled then. */
  #lag: { total: number; handled: number } | undefined;
  #stats: ConsumeStats | undefined;

  constructor(config: PipelineConfig, options: ObserverOptions) {
    this.#config = config;
    this.#options = options;
    const terminal = options.statusLine ?? Deno.stderr.isTerminal();
    if (terminal) {
      this.#status = new StatusLine({ terminal: true });
      // Diagnostics scroll above the status line instead of garbling it.
      setStderrSink((line) => this.#status!.message(line));
    }
  }

  /** The start-up banner: where the consumer reads, writes and with which model. */
  banner(info: {
    topic: string;
    group: string;
    deadLetterTopic: string;
    modelVersion: string;
    http?: string;
  }): void {
    const c = this.#config;
    const fields = {
      config: c.source,
      brokers: c.kafka.brokers.join(","),
      topic: info.topic,
      group: info.group,
      dead_letter_topic: info.deadLetterTopic,
      database: maskUrl(c.database.url),
      model: c.model.path,
      model_version: info.modelVersion,
      max_fetch_bytes: c.consumer.maxFetchBytes,
      duplicates: c.consumer.duplicates,
      metrics: info.http,
    };
    log("Consumer settings:", fields);
    this.#options.metrics?.modelLoaded(info.modelVersion);
  }

  started(): void {
    this.#print([{ kind: "started" }]);
  }

  assigned(partitions: readonly number[]): void {
    this.#options.metrics?.partitionsAssigned(partitions);
  }

  /** An applied batch: its lines (unless paused), its metrics, the status line. */
  applied(
    partition: number,
    applied: Applied,
    records: readonly KafkaRecord[],
    times: { startedAt: number; committedAt: number },
    stats: ConsumeStats,
  ): void {
    this.#stats = stats;
    if (this.#options.eventLines && !this.#paused) {
      this.#print(batchEvents(partition, applied, this.#config.consumer.duplicates));
    }
    const { plan, inserted } = applied;
    this.#options.metrics?.batchApplied({
      partition,
      messages: records.map((r) => ({ timestamp: String(r.timestamp) })),
      ingested: inserted.length,
      duplicatesStored: plan.events.length - inserted.length,
      duplicatesInBatch: plan.repeats.length,
      alreadyApplied: plan.alreadyApplied.length,
      deadLetters: plan.deadLetters,
      ms: applied.ms,
      startedAt: times.startedAt,
      committedAt: times.committedAt,
    });
    this.#drawStatus();
  }

  /** A lag measurement: the metrics, the status line, and whether event lines pause. */
  lag(total: number, perPartition: ReadonlyMap<number, number>): void {
    this.#lag = { total, handled: this.#stats?.messages ?? 0 };
    this.#options.metrics?.lagMeasured(perPartition);
    this.#drawStatus();
    const limit = this.#config.consumer.quietBacklog;
    if (!this.#options.eventLines || this.#options.alwaysEventLines || limit === 0) return;
    if (!this.#paused && total > limit) {
      this.#paused = true;
      log(
        `Backlog of ${total} messages: per-event lines pause until it is below ${limit} ` +
          "(consumer.quiet_backlog; --events keeps them)",
      );
    } else if (this.#paused && total <= limit / 10) {
      this.#paused = false;
      log(`Backlog down to ${total} messages: per-event lines resume`);
    }
  }

  retried(error: unknown, stage: Stage): void {
    this.#options.metrics?.retried(retryCause(error, stage));
  }

  summary(stats: ConsumeStats, rate: number, lag: number | undefined, final = false): void {
    if (final) this.#status?.finish();
    this.#print([summaryEvent(stats, rate, lag, final)]);
  }

  /** Clears the status line and gives stderr back. */
  close(): void {
    this.#status?.finish();
    setStderrSink(undefined);
  }

  #print(list: readonly ConsumerEvent[]): void {
    if (!list.length) return;
    // stdout on the same terminal: clear the status line first; the next update redraws it.
    if (this.#status && Deno.stdout.isTerminal()) this.#status.finish();
    events(list);
  }

  #drawStatus(): void {
    const s = this.#stats;
    if (!this.#status || !s) return;
    // Between two measurements, what was handled since the last one is no longer behind.
    const lag = this.#lag && Math.max(0, this.#lag.total - (s.messages - this.#lag.handled));
    this.#status.update({ applied: s.messages, lag, deadLetters: s.deadLettered });
  }
}

/** The metrics' cause of a retried attempt. */
function retryCause(error: unknown, stage: Stage): RetryCause {
  if (stage === "model") return "model";
  if (stage === "dead-letter") return "kafka";
  const errno = errorNumber(error);
  if (errno === 1213) return "db_deadlock";
  if (errno === 1205) return "db_lock_timeout";
  return isTransientError(error) ? "db_connection" : "db_error";
}
