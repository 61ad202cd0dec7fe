/**
 * One run of the consumer: the group member, its batch handler, its monitor and its
 * counters. consume() in mod.ts opens what it needs and hands it over.
 */
import type { PipelineConfig } from "../config/mod.ts";
import { errorChain, errorText } from "../errors/mod.ts";
import { log, warn } from "../log/mod.ts";
import {
  type Batch,
  type BatchContext,
  brokerError,
  type DeadLetterSink,
  type KafkaCluster,
  type KafkaRecord,
  Revoked,
  runGroupConsumer,
  type TopicAdmin,
} from "../kafka/mod.ts";
import { type Database, isDataError, OffsetMoved, storedOffsets } from "../db/mod.ts";
import { partitionStore } from "./_store.ts";
import type { ModelHolder, ModelLease, ShadowScorer } from "../model/mod.ts";
import {
  applyBatch,
  Behind,
  type FailureKind,
  type Ports,
  retryWarning,
  type Stage,
} from "./_applier.ts";
import { checkRecords, trustedOffset } from "./_planner.ts";
import { Monitor } from "./_monitor.ts";
import type { Observer } from "./_observer.ts";
import { type ConsumeStats, count, emptyStats } from "./_reporter.ts";
import type { StageTimes } from "./_applier.ts";

/** What `deno task consume` can change on top of pipeline.yaml. */
export interface ConsumeOptions {
  readonly group?: string;
  readonly topic?: string;
  /** Where a group without committed offsets starts; default true. */
  readonly fromBeginning?: boolean;
  /** Return once every assigned partition has had no lag for this long. */
  readonly untilIdleMs?: number;
  /** Idleness is only watched once this settles (e.g. a producer feeding the topic finished). */
  readonly idleNotBefore?: Promise<unknown>;
  /** No per-event lines (summaries still print). */
  readonly quiet?: boolean;
  /** Per-event lines even while the backlog is large. */
  readonly events?: boolean;
  /** Return after handling this many messages. */
  readonly maxEvents?: number;
  /** Aborting stops consumption cleanly (the batch in flight finishes or is abandoned). */
  readonly signal?: AbortSignal;
  /** Upper bound on the shutdown after a stop was asked for; default 10 s. */
  readonly stopTimeoutMs?: number;
  /** Told about each applied batch: where its time went (the benchmark uses it). */
  readonly onBatch?: (report: BatchReport) => void;
  /** Any event dispatched here reloads model.path and model.shadow.path now (SIGHUP). */
  readonly reloadModel?: EventTarget;
}

/** One applied batch: its messages, milliseconds per stage and when its transaction committed. */
export interface BatchReport {
  readonly partition: number;
  readonly messages: readonly KafkaRecord[];
  readonly startedAt: number;
  /** Date.now() once the database transaction has committed. */
  readonly committedAt: number;
  readonly ms: StageTimes;
}

/** What a run works with, opened by consume(). */
export interface Parts {
  readonly topic: string;
  readonly group: string;
  readonly admin: TopicAdmin;
  readonly db: Database;
  readonly model: ModelHolder;
  readonly shadow?: ShadowScorer;
  readonly sink: DeadLetterSink;
}

/**
 * What a retry can fix. The model failing on a batch, or the database refusing a value or a
 * row, is permanent for those records; anything else (connections, locks, the broker) waits.
 */
function classifyFailure(error: unknown, stage: Stage): FailureKind {
  if (stage === "model") return "permanent";
  if (stage !== "database") return "transient";
  if (errorChain(error).some((e) => e instanceof OffsetMoved)) return "replan";
  return isDataError(error) ? "permanent" : "transient";
}

/** One run: the group member, its batch handler, its monitor and its counters. */
export class Run {
  readonly #stats = emptyStats();
  readonly #monitor: Monitor;
  /** Whether the group was joined (for /readyz). */
  joined = false;
  /** Stored offsets found beyond the end of their partition: left by an older topic. */
  readonly #staleStored = new Map<number, bigint>();
  /** A stored offset below the partition's log start: the records in between are gone. */
  readonly #gone = new Map<number, bigint>();
  /** The stored offset a partition was last sent back to (said once). */
  readonly #told = new Map<number, bigint>();
  #stopping = false;
  readonly #finished = Promise.withResolvers<void>();

  constructor(
    private readonly config: PipelineConfig,
    private readonly options: ConsumeOptions,
    private readonly parts: Parts,
    private readonly observer: Observer,
  ) {
    // A rejection before anyone awaits it must not count as unhandled.
    this.#finished.promise.catch(() => {});
    const { admin, db, topic, group } = parts;
    this.#monitor = new Monitor({
      watermarks: () => admin.watermarks(topic),
      committed: () => admin.groupOffsets(group, topic),
      stored: () => this.#storedOffsets(db),
    }, {
      fromBeginning: options.fromBeginning ?? true,
      summaryIntervalMs: config.consumer.summaryIntervalMs,
      onSummary: (rate, lag) => observer.summary(this.#stats, rate, lag),
      lagIntervalMs: 1000,
      onLag: (total, perPartition) => observer.lag(total, perPartition),
      untilIdleMs: options.untilIdleMs,
      idleNotBefore: options.idleNotBefore,
      onIdle: () => this.#finish(),
      onError: warn,
    }, () => this.#stats.messages);
  }

  #finish(error?: unknown): void {
    if (error) this.#finished.reject(error);
    else this.#finished.resolve();
  }

  async start(cluster: KafkaCluster): Promise<ConsumeStats> {
    const { topic, group } = this.parts;
    const started = Date.now();
    if (this.options.signal?.aborted) return this.#stats;
    const onAbort = () => this.#finish();
    this.options.signal?.addEventListener("abort", onAbort, { once: true });
    await this.#findStaleOffsets();

    let announced = false;
    const member = await runGroupConsumer(cluster, {
      groupId: group,
      topic,
      fromBeginning: this.options.fromBeginning ?? true,
      maxBytesPerPartition: this.config.consumer.maxFetchBytes,
      partitionsConsumedConcurrently: this.config.consumer.partitionsConsumedConcurrently,
      sessionTimeoutMs: this.config.kafka.sessionTimeoutMs,
      onAssigned: (partitions, seek) => {
        this.joined = true;
        void this.#resumeFromDatabase(partitions, seek);
        this.#monitor.assigned(partitions);
        this.observer.assigned(partitions);
        const which = partitions.length
          ? partitions.join(",")
          : "none (more consumers than partitions)";
        log(`Joined group "${group}" on "${topic}": partition(s) ${which}`);
        if (!announced) this.observer.started();
        announced = true;
      },
      onCrash: (error, restarting) => {
        if (restarting) warn(`Consumer restarting after: ${errorText(error)}`);
        else this.#finish(error);
      },
      handle: (batch, context) => this.#handle(batch, context),
    }).catch((error) => {
      throw brokerError(this.config.kafka, error);
    });
    try {
      this.#monitor.start();
      await this.#finished.promise;
    } finally {
      this.#monitor.stop();
      this.options.signal?.removeEventListener("abort", onAbort);
      await this.#stop(member);
    }
    this.#stats.elapsedMs = Date.now() - started;
    const lag = await this.#monitor.lag().catch(() => undefined);
    this.observer.summary(this.#stats, this.#monitor.busyRate(), lag, true);
    return this.#stats;
  }

  /**
   * The database holds the truth: where its stored offset is below the group's committed
   * one, the records in between were never stored (a database restored from a backup, a
   * failover to a replica that lagged, commits lost in a crash) and are read again. Kafka's
   * offset being ahead is otherwise invisible: no batch would come to show it.
   */
  async #resumeFromDatabase(
    partitions: readonly number[],
    seek: (partition: number, offset: bigint) => void,
  ): Promise<void> {
    if (!partitions.length) return;
    const { admin, db, group, topic } = this.parts;
    try {
      const [stored, committed, marks] = await Promise.all([
        this.#storedOffsets(db),
        admin.groupOffsets(group, topic),
        admin.watermarks(topic),
      ]);
      for (const partition of partitions) {
        const next = trustedOffset(stored.get(partition), this.#staleStored.get(partition));
        const mark = marks.find((m) => m.partition === partition);
        if (next === undefined || !mark) continue;
        const position = committed.get(partition) ??
          (this.options.fromBeginning ?? true ? mark.low : mark.high);
        if (next < position) seek(partition, this.#behind(partition, next, position, mark.low));
      }
    } catch {
      // Only a shortcut: a batch that starts past the stored offset is caught all the same.
    }
  }

  /**
   * Says what a stored offset below a partition's position means and returns where to read
   * from: the stored offset, or the log start when retention deleted the records before it.
   */
  #behind(partition: number, stored: bigint, position: bigint, low: bigint): bigint {
    const from = stored < low ? low : stored;
    if (this.#told.get(partition) !== stored) {
      this.#told.set(partition, stored);
      warn(
        `Partition ${partition}: the database's stored offset is ${stored} but Kafka's ` +
          `position is ${position}: records ${stored}..${position - 1n} were never stored (a ` +
          "database restored from a backup, or commits lost in a crash); " +
          (stored < low
            ? `records ${stored}..${low - 1n} are no longer in the topic (deleted by its ` +
              `retention) and are lost; reading again from offset ${low}`
            : `reading them again from offset ${stored}`),
      );
    }
    if (stored < low) this.#gone.set(partition, stored);
    return from;
  }

  #storedOffsets(db: Database): Promise<Map<number, bigint>> {
    return storedOffsets(db, this.parts.group, this.parts.topic);
  }

  /**
   * A stored offset beyond the partition's end was written for a topic since deleted and
   * re-created: trusting it would skip the new messages as already applied.
   */
  async #findStaleOffsets(): Promise<void> {
    const { admin, db, topic } = this.parts;
    const [stored, marks] = await Promise.all([
      this.#storedOffsets(db),
      admin.watermarks(topic),
    ]);
    for (const mark of marks) {
      const next = stored.get(mark.partition);
      if (next === undefined || next <= mark.high) continue;
      this.#staleStored.set(mark.partition, next);
      warn(
        `Ignoring stored offset ${next} of partition ${mark.partition}: the partition ends at ` +
          `${mark.high}, so "${topic}" was re-created without \`deno task admin reset\`, which ` +
          "also forgets the stored offsets",
      );
    }
  }

  /** Leaves the group within stopTimeoutMs: a batch in flight is finished or abandoned. */
  async #stop(member: { stop(): Promise<void> }): Promise<void> {
    this.#stopping = true;
    const timeout = this.options.stopTimeoutMs ?? 10_000;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const expired = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), timeout);
    });
    const result = await Promise.race([
      member.stop().then(() => "ok" as const, (error) => {
        warn(`Cannot disconnect the consumer cleanly: ${errorText(error)}`);
        return "ok" as const;
      }),
      expired,
    ]);
    clearTimeout(timer);
    if (result === "timeout") {
      warn(`Stopped waiting for the batch in flight after ${timeout} ms; it was not committed`);
    }
  }

  async #handle(batch: Batch, context: BatchContext): Promise<void> {
    if (this.#stopping) return;
    let records = batch.records;
    const { maxEvents } = this.options;
    if (maxEvents !== undefined) {
      const left = maxEvents - this.#stats.messages;
      if (left <= 0) return;
      records = records.slice(0, left);
    }
    const started = this.#monitor.batchStarted();
    let next: bigint | undefined;
    try {
      next = await this.#apply(batch.partition, records, context);
    } finally {
      this.#monitor.batchEnded(started, batch.partition, next);
    }
    if (maxEvents !== undefined && this.#stats.messages >= maxEvents) this.#finish();
  }

  async #apply(
    partition: number,
    records: readonly KafkaRecord[],
    context: BatchContext,
  ): Promise<bigint | undefined> {
    const startedAt = Date.now();
    const validating = performance.now();
    const checked = checkRecords(records, this.config, new Date());
    const validateMs = performance.now() - validating;
    const first = records[0].offset;
    const last = records[records.length - 1].offset;
    const duplicates = this.config.consumer.duplicates;
    // One model for the whole batch, every attempt of it: a swap waits for the next batch.
    const scorer = this.parts.model.acquire()!;
    let applied;
    try {
      applied = await applyBatch(
        checked,
        this.#ports(partition, context, { first, last }, scorer),
        {
          duplicates,
          validateMs,
          classify: classifyFailure,
          acceptBehind: this.#gone.get(partition),
        },
      );
    } catch (error) {
      if (error instanceof Behind) {
        const low = (await this.parts.admin.watermarks(this.parts.topic).catch(() => []))
          .find((m) => m.partition === partition)?.low ?? 0n;
        context.rewind(this.#behind(partition, error.stored, first, low));
        return undefined;
      }
      if (!(error instanceof Revoked)) throw error;
      log(
        `Abandoned batch of partition ${partition} at offset ${first}: ${error.message}; ` +
          "it will be redelivered",
      );
      return undefined;
    } finally {
      scorer.release();
    }
    this.#gone.delete(partition);
    this.#told.delete(partition);
    const committedAt = Date.now();
    const committing = performance.now();
    // The database holds the truth; the Kafka commit only saves redelivering work.
    await context.commit(applied.plan.nextOffset).catch((error) =>
      warn(
        `Cannot commit offset ${applied.plan.nextOffset} of partition ${partition}: ` +
          errorText(error),
      )
    );
    applied.ms.kafka += performance.now() - committing;
    // The shadow model scores what this batch wrote to table_predictions; it never throws.
    const inserted = new Set(applied.inserted);
    await this.parts.shadow?.score(
      applied.plan.events.filter((e) => duplicates === "update" || inserted.has(e.id))
        .map((e) => e.features),
    );
    count(this.#stats, applied, records.length);
    this.observer.applied(partition, applied, records, { startedAt, committedAt }, this.#stats);
    this.options.onBatch?.({
      partition,
      messages: records,
      startedAt,
      committedAt,
      ms: applied.ms,
    });
    return applied.plan.nextOffset;
  }

  #ports(
    partition: number,
    context: BatchContext,
    where: { first: bigint; last: bigint },
    scorer: ModelLease,
  ): Ports {
    const { db, sink, topic, group } = this.parts;
    const duplicates = this.config.consumer.duplicates;
    return {
      deadLetters: { send: (letters) => sink.send({ topic, partition }, letters) },
      scorer,
      keepAlive: () => context.keepAlive(),
      onRetry: (error, attempt, delayMs, stage) => {
        this.observer.retried(error, stage);
        warn(retryWarning({ partition, ...where }, error, attempt, delayMs));
      },
      store: partitionStore(db, {
        topic,
        partition,
        group,
        duplicates,
        stale: this.#staleStored.get(partition),
      }),
    };
  }
}
