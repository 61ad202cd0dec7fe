/**
 * The consumer use case: Kafka batches -> validation -> one model run -> one database
 * transaction (rows and consumed offsets together) -> Kafka offset commit.
 *
 * Exactly-once effects: the offsets a batch consumed are written in the same transaction
 * as its rows, so a message redelivered after a crash (its Kafka offset was not committed
 * yet) is recognised by its offset and skipped. The stages: _planner.ts decides (pure),
 * _applier.ts applies through ports, _monitor.ts watches lag and idleness, _reporter.ts
 * counts and prints; this file wires them to Kafka, the database and the model.
 */
import { deadLetterTopicOf, maskUrl, type PipelineConfig } from "../config/mod.ts";
import { errorText, UserError } from "../errors/mod.ts";
import { log, out, warn } from "../log/mod.ts";
import {
  type Admin,
  type Batch,
  type BatchContext,
  brokerError,
  createKafka,
  createTopic,
  type DeadLetterSink,
  groupOffsets,
  type KafkaRecord,
  openDeadLetterSink,
  Revoked,
  runGroupConsumer,
  topicExists,
  topicMaxMessageBytes,
  topicPartitions,
  topicWatermarks,
} from "../kafka/mod.ts";
import {
  type Database,
  ingestBatch,
  isDataError,
  openDatabase,
  storedOffsets,
  storeShadowPredictions,
} from "../db/mod.ts";
import {
  type ModelHolder,
  type ModelLease,
  openModelHolder,
  openShadowScorer,
  type ShadowScorer,
} from "../model/mod.ts";
import { applyBatch, type Ports, retryWarning, type Stage, type StageTimes } from "./_applier.ts";
import { checkRecords, trustedOffset } from "./_planner.ts";
import { Monitor } from "./_monitor.ts";
import { batchLines, type ConsumeStats, count, emptyStats, summaryLine } from "./_reporter.ts";

export type { ConsumeStats };
export { checkRecords, hasWork, planBatch, trustedOffset } from "./_planner.ts";
export type { Checked, Plan, PlannedEvent } from "./_planner.ts";
export { applyBatch } from "./_applier.ts";
export type { Applied, BatchWrite, Ports, StorePort } from "./_applier.ts";

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

/** The consumer settings after flags were applied. */
export function consumeSettings(config: PipelineConfig, options: ConsumeOptions) {
  const topic = options.topic ?? config.kafka.topic;
  return {
    topic,
    group: options.group ?? config.kafka.consumerGroup,
    deadLetterTopic: deadLetterTopicOf(config, topic),
  };
}

/** Runs the consumer until stopped, idle (untilIdleMs) or maxEvents; returns its counters. */
export async function consume(
  config: PipelineConfig,
  options: ConsumeOptions = {},
): Promise<ConsumeStats> {
  const { topic, group, deadLetterTopic } = consumeSettings(config, options);
  await using resources = new AsyncDisposableStack();
  const closing = (what: string, close: () => Promise<unknown>) =>
    resources.defer(() =>
      close().then(() => {}, (error) => warn(`Cannot close ${what} cleanly: ${errorText(error)}`))
    );

  // Local checks first: a model that does not fit the mapping changes nothing anywhere.
  const model = await openModelHolder(config.model, config.events, { info: log, warn }, {
    watch: true,
  });
  closing("the model", () => {
    const { swaps, rejected } = model.stats;
    if (swaps || rejected) {
      log(`Model ${model.version}: ${swaps} swap(s), ${rejected} file version(s) refused`);
    }
    return model.close();
  });
  const kafka = createKafka(config.kafka);
  const admin = kafka.admin();
  await admin.connect().catch((error) => {
    throw brokerError(config.kafka, error);
  });
  closing("the Kafka admin client", () => admin.disconnect());
  if (!(await topicExists(admin, topic))) {
    throw new UserError(`Cannot consume topic "${topic}": it does not exist`, {
      hint: `create it with deno task admin create (or check kafka.topic / --topic)`,
    });
  }
  const partitions = (await topicPartitions(admin, [topic])).get(topic)?.length ?? 1;
  // Short retries inside a transaction: the batch loop retries longer, heartbeating meanwhile.
  const db = await openDatabase(config, { retry: { retryForMs: 3_000 } }).catch((error) => {
    if (error instanceof UserError) throw error;
    throw new UserError(
      `Cannot open database ${maskUrl(config.database.url)}: ${errorText(error)}`,
      { hint: "check database.url in pipeline.yaml (or $DATABASE_URL)", cause: error },
    );
  });
  closing("the database", () => db.close());
  const sink = await openDeadLetterSink(kafka, adminTopics(admin), {
    sourceTopic: topic,
    deadLetterTopic,
    partitions,
    replicationFactor: config.kafka.replicationFactor,
    timeoutMs: config.kafka.requestTimeoutMs,
    onCreated: log,
  }).catch((error) => {
    throw brokerError(config.kafka, error);
  });
  closing("the dead-letter producer", () => sink.close());
  const shadow = await openShadowScorer(
    config,
    (scores) => storeShadowPredictions(db, scores),
    { info: log, warn },
    { watch: true },
  );
  if (shadow) {
    closing("the shadow model", () => {
      log(shadow.summary());
      return shadow.close();
    });
  }
  const reload = () =>
    Promise.all([model.reload({ announce: true }), shadow?.holder.reload({ announce: true })]);
  options.reloadModel?.addEventListener("reload", () => void reload());

  const run = new Run(config, options, { topic, group, admin, db, model, shadow, sink });
  return await run.start(kafka);
}

interface Parts {
  readonly topic: string;
  readonly group: string;
  readonly admin: Admin;
  readonly db: Database;
  readonly model: ModelHolder;
  readonly shadow?: ShadowScorer;
  readonly sink: DeadLetterSink;
}

/** The topic operations of the dead-letter sink, over the admin client. */
function adminTopics(admin: Admin) {
  return {
    topicExists: (topic: string) => topicExists(admin, topic),
    createTopic: (o: Parameters<typeof createTopic>[1]) => createTopic(admin, o),
    partitionCount: async (topic: string) =>
      (await topicPartitions(admin, [topic])).get(topic)?.length ?? 1,
    maxMessageBytes: (topic: string) => topicMaxMessageBytes(admin, topic),
  };
}

/**
 * What a retry can fix. The model failing on a batch, or the database refusing a value or a
 * row, is permanent for those records; anything else (connections, locks, the broker) waits.
 */
function classifyFailure(error: unknown, stage: Stage): "transient" | "permanent" {
  if (stage === "model") return "permanent";
  if (stage === "database") return isDataError(error) ? "permanent" : "transient";
  return "transient";
}

/** One run: the group member, its batch handler, its monitor and its counters. */
class Run {
  readonly #stats = emptyStats();
  readonly #logEvents: boolean;
  readonly #monitor: Monitor;
  /** Stored offsets found beyond the end of their partition: left by an older topic. */
  readonly #staleStored = new Map<number, bigint>();
  #stopping = false;
  readonly #finished = Promise.withResolvers<void>();

  constructor(
    private readonly config: PipelineConfig,
    private readonly options: ConsumeOptions,
    private readonly parts: Parts,
  ) {
    this.#logEvents = config.consumer.logEvents && !options.quiet;
    // A rejection before anyone awaits it must not count as unhandled.
    this.#finished.promise.catch(() => {});
    const { admin, db, topic, group } = parts;
    this.#monitor = new Monitor({
      watermarks: () => topicWatermarks(admin, topic),
      committed: () => groupOffsets(admin, group, topic),
      stored: () => this.#storedOffsets(db),
    }, {
      summaryIntervalMs: config.consumer.summaryIntervalMs,
      onSummary: (rate, lag) => out(summaryLine(this.#stats, rate, lag)),
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

  async start(kafka: ReturnType<typeof createKafka>): Promise<ConsumeStats> {
    const { topic, group } = this.parts;
    const started = Date.now();
    if (this.options.signal?.aborted) return this.#stats;
    const onAbort = () => this.#finish();
    this.options.signal?.addEventListener("abort", onAbort, { once: true });
    await this.#findStaleOffsets();

    let announced = false;
    const member = await runGroupConsumer(kafka, {
      groupId: group,
      topic,
      fromBeginning: this.options.fromBeginning ?? true,
      maxBytesPerPartition: this.config.consumer.maxFetchBytes,
      partitionsConsumedConcurrently: this.config.consumer.partitionsConsumedConcurrently,
      sessionTimeoutMs: this.config.kafka.sessionTimeoutMs,
      onAssigned: (partitions) => {
        this.#monitor.assigned(partitions);
        const which = partitions.length
          ? partitions.join(",")
          : "none (more consumers than partitions)";
        log(`Joined group "${group}" on "${topic}": partition(s) ${which}`);
        if (!announced) out("[OK] Consumer started. Waiting for messages...");
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
    out(summaryLine(this.#stats, this.#monitor.busyRate(), lag, "[DONE]"));
    return this.#stats;
  }

  async #storedOffsets(db: Database): Promise<Map<number, bigint>> {
    const { topic, group } = this.parts;
    const stored = new Map<number, bigint>();
    for (const [partition, next] of await storedOffsets(db, group, topic)) {
      stored.set(partition, BigInt(next));
    }
    return stored;
  }

  /**
   * A stored offset beyond the partition's end was written for a topic since deleted and
   * re-created: trusting it would skip the new messages as already applied.
   */
  async #findStaleOffsets(): Promise<void> {
    const { admin, db, topic } = this.parts;
    const [stored, marks] = await Promise.all([
      this.#storedOffsets(db),
      topicWatermarks(admin, topic),
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
    this.#monitor.batchStarted();
    try {
      await this.#apply(batch.partition, records, context);
    } finally {
      this.#monitor.batchEnded();
    }
    if (maxEvents !== undefined && this.#stats.messages >= maxEvents) this.#finish();
  }

  async #apply(
    partition: number,
    records: readonly KafkaRecord[],
    context: BatchContext,
  ): Promise<void> {
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
        },
      );
    } catch (error) {
      if (!(error instanceof Revoked)) throw error;
      log(
        `Abandoned batch of partition ${partition} at offset ${first}: ${error.message}; ` +
          "it will be redelivered",
      );
      return;
    } finally {
      scorer.release();
    }
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
        .map((e) => e.event),
    );
    count(this.#stats, applied, records.length);
    if (this.#logEvents) {
      const lines = batchLines(partition, applied, duplicates);
      if (lines.length) out(lines.join("\n"));
    }
    this.options.onBatch?.({
      partition,
      messages: records,
      startedAt,
      committedAt,
      ms: applied.ms,
    });
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
      onRetry: (error, attempt, delayMs) =>
        warn(retryWarning({ partition, ...where }, error, attempt, delayMs)),
      store: {
        storedOffset: async () => {
          const next = (await this.#storedOffsets(db)).get(partition);
          return trustedOffset(next, this.#staleStored.get(partition));
        },
        write: (w) =>
          ingestBatch(db, {
            events: w.events.map((e) => e.event),
            extraFields: w.events.map((e) => e.extraFields),
            probabilities: w.probabilities,
            modelVersion: w.modelVersion,
            offsets: [{ topic, partition, nextOffset: w.nextOffset.toString() }],
            sources: w.events.map((e) => ({ topic, partition, offset: e.offset.toString() })),
            consumerGroup: group,
            duplicates,
          }),
      },
    };
  }
}
