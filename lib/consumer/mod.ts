/**
 * The consumer use case: Kafka batches -> validation -> one model run -> one database
 * transaction (rows and consumed offsets together) -> Kafka offset commit.
 *
 * Exactly-once effects: the offsets a batch consumed are written in the same transaction
 * as its rows, so a message redelivered after a crash (its Kafka offset was not committed
 * yet) is recognised by its offset and skipped.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { deadLetterTopicOf, maskUrl, type PipelineConfig } from "../config/mod.ts";
import { UserError } from "../errors/mod.ts";
import { debugLog, log, out, warn } from "../log/mod.ts";
import { brokerError, type EventProducer, KafkaCluster, type TopicAdmin } from "../kafka/mod.ts";
// The consumer loop and the dead-letter module still take the Kafka client's own objects.
import {
  type Consumer,
  createConsumer,
  type EachBatchPayload,
  type KafkaMessage,
  kafkaOf,
} from "../kafka/_client.ts";
import { kafkaAdminOf } from "../kafka/_admin.ts";
import { kafkaProducerOf } from "../kafka/_producer.ts";
import { type DeadLetter, ensureDeadLetterTopic, sendDeadLetters } from "../kafka/_dead_letter.ts";
import { type Database, openDatabase } from "../db/mod.ts";
import { ingestBatch, storedOffsets } from "../db/mod.ts";
import { loadModel, type ReturnModel } from "../model/mod.ts";
import { dedupInBatch, validateMessage, type ValidEvent } from "../events/mod.ts";

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
}

/** One applied batch: its messages, milliseconds per stage and when its transaction committed. */
export interface BatchReport {
  readonly partition: number;
  readonly messages: readonly KafkaMessage[];
  readonly startedAt: number;
  /** Date.now() once the database transaction has committed. */
  readonly committedAt: number;
  readonly ms: { validate: number; model: number; db: number; kafka: number };
}

/** Counters of one run. */
export interface ConsumeStats {
  ingested: number;
  duplicates: number;
  deadLettered: number;
  /** Redelivered messages whose effects were already in the database. */
  alreadyApplied: number;
  /** Every message handled, whatever its outcome. */
  messages: number;
  elapsedMs: number;
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
  const cluster = new KafkaCluster(config.kafka, { onLog: debugLog() });
  const resources: (() => Promise<unknown>)[] = [];
  const closeAll = async () => {
    for (const close of resources.reverse()) {
      await close().catch((error) => warn(`Cannot close cleanly: ${errorText(error)}`));
    }
  };
  try {
    // Local checks first: a model that does not fit the mapping changes nothing anywhere.
    const model = await loadModel(config);
    resources.push(() => model.close());
    const admin = await cluster.connectAdmin();
    resources.push(() => admin.close());
    if (!(await admin.topicExists(topic))) {
      throw new UserError(`Cannot consume topic "${topic}": it does not exist`, {
        hint: `create it with deno task admin create (or check kafka.topic / --topic)`,
      });
    }
    const partitions = (await admin.partitions([topic])).get(topic)?.length ?? 1;
    // Short retries inside a transaction: the batch loop retries longer, heartbeating meanwhile.
    const db = await openDatabase(config, { retry: { retryForMs: 3_000 } }).catch((error) => {
      if (error instanceof UserError) throw error;
      throw new UserError(
        `Cannot open database ${maskUrl(config.database.url)}: ${errorText(error)}`,
        { hint: "check database.url in pipeline.yaml (or $DATABASE_URL)", cause: error },
      );
    });
    resources.push(() => db.close());
    const deadLetterPartitions = await ensureDeadLetterTopic(kafkaAdminOf(admin), config.kafka, {
      topic,
      deadLetterTopic,
      partitions,
    });
    // Dead letters are acknowledged by every in-sync replica before their offsets are stored.
    const producer = await cluster.connectProducer({ acks: "all", compression: "none" });
    resources.push(() => producer.close());
    const consumer = createConsumer(kafkaOf(cluster), {
      groupId: group,
      maxBytesPerPartition: config.consumer.maxFetchBytes,
    });
    const run = new ConsumerRun(config, options, {
      topic,
      group,
      deadLetterTopic,
      deadLetterPartitions,
      admin,
      db,
      model,
      producer,
      consumer,
    });
    return await run.start();
  } finally {
    await closeAll();
  }
}

interface Parts {
  topic: string;
  group: string;
  deadLetterTopic: string;
  deadLetterPartitions: number;
  admin: TopicAdmin;
  db: Database;
  model: ReturnModel;
  producer: EventProducer;
  consumer: Consumer;
}

/** Why a batch was given up without committing anything. */
class Abandoned extends Error {}

/** One run of the consumer: counters, assignment, the batch handler and the stop logic. */
class ConsumerRun {
  private readonly stats: ConsumeStats = {
    ingested: 0,
    duplicates: 0,
    deadLettered: 0,
    alreadyApplied: 0,
    messages: 0,
    elapsedMs: 0,
  };
  private assigned: number[] | undefined;
  /** Stored offsets found beyond the end of their partition: left by an older topic. */
  private readonly staleStored = new Map<number, string>();
  private inFlight = 0;
  /** Start of the first batch and end of the last one: the drain rate's time window. */
  private busy: { from: number; to: number } | undefined;
  private stopping = false;
  private finish!: (error?: unknown) => void;
  private readonly logEvents: boolean;

  constructor(
    private readonly config: PipelineConfig,
    private readonly options: ConsumeOptions,
    private readonly parts: Parts,
  ) {
    this.logEvents = config.consumer.logEvents && !options.quiet;
  }

  async start(): Promise<ConsumeStats> {
    const { consumer, topic, group } = this.parts;
    const started = Date.now();
    const finished = new Promise<void>((resolve, reject) => {
      this.finish = (error?: unknown) => error ? reject(error) : resolve();
    });
    // A rejection before anyone awaits `finished` must not count as unhandled.
    finished.catch(() => {});
    const onAbort = () => this.finish();
    if (this.options.signal?.aborted) return this.stats;
    this.options.signal?.addEventListener("abort", onAbort, { once: true });

    let announced = false;
    consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
      this.assigned = [...(payload.memberAssignment[topic] ?? [])].sort((a, b) => a - b);
      log(
        `Joined group "${group}" on "${topic}": partition(s) ` +
          `${
            this.assigned.length ? this.assigned.join(",") : "none (more consumers than partitions)"
          }`,
      );
      if (!announced) out("[OK] Consumer started. Waiting for messages...");
      announced = true;
    });
    consumer.on(consumer.events.CRASH, ({ payload }) => {
      if (!payload.restart) this.finish(payload.error);
      else warn(`Consumer restarting after: ${errorText(payload.error)}`);
    });

    await this.findStaleOffsets();
    await consumer.connect().catch((error) => {
      throw brokerError(this.config.kafka, error);
    });
    const timers: ReturnType<typeof setInterval>[] = [];
    try {
      await consumer.subscribe({
        topics: [topic],
        fromBeginning: this.options.fromBeginning ?? true,
      });
      await consumer.run({
        autoCommit: false,
        eachBatchAutoResolve: false,
        partitionsConsumedConcurrently: this.config.consumer.partitionsConsumedConcurrently,
        eachBatch: (payload) => this.handleBatch(payload),
      });
      if (this.config.consumer.summaryIntervalMs > 0) {
        let last = { at: Date.now(), messages: 0 };
        timers.push(setInterval(() => {
          const now = Date.now();
          const rate = (this.stats.messages - last.messages) / ((now - last.at) / 1000);
          last = { at: now, messages: this.stats.messages };
          this.lag().then(
            (lag) => this.summary(rate, lag),
            () => this.summary(rate, undefined),
          );
        }, this.config.consumer.summaryIntervalMs));
      }
      const idleMs = this.options.untilIdleMs;
      if (idleMs !== undefined) {
        const watch = () => {
          if (!this.stopping) this.watchIdle(idleMs, timers);
        };
        (this.options.idleNotBefore ?? Promise.resolve()).then(watch, watch);
      }
      await finished;
    } finally {
      for (const timer of timers) clearInterval(timer);
      this.options.signal?.removeEventListener("abort", onAbort);
      await this.stop();
    }
    this.stats.elapsedMs = Date.now() - started;
    const busyMs = this.busy ? this.busy.to - this.busy.from : 0;
    const rate = this.stats.messages / Math.max(busyMs / 1000, 0.001);
    this.summary(rate, await this.lag().catch(() => undefined), "[DONE]");
    return this.stats;
  }

  /**
   * A stored offset beyond the partition's end was written for a topic since deleted and
   * re-created: trusting it would skip the new messages as already applied.
   */
  private async findStaleOffsets(): Promise<void> {
    const { admin, db, topic, group } = this.parts;
    const [stored, marks] = await Promise.all([
      storedOffsets(db, group, topic),
      admin.watermarks(topic),
    ]);
    for (const mark of marks) {
      const next = stored.get(mark.partition);
      if (next === undefined || BigInt(next) <= mark.high) continue;
      this.staleStored.set(mark.partition, next);
      warn(
        `Ignoring stored offset ${next} of partition ${mark.partition}: the partition ends at ` +
          `${mark.high}, so "${topic}" was re-created without \`deno task admin reset\`, which ` +
          "also forgets the stored offsets",
      );
    }
  }

  /** Disconnects within stopTimeoutMs: a batch in flight is finished or abandoned uncommitted. */
  private async stop(): Promise<void> {
    this.stopping = true;
    const timeout = this.options.stopTimeoutMs ?? 10_000;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const expired = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), timeout);
    });
    const result = await Promise.race([
      this.parts.consumer.disconnect().then(() => "ok" as const, (error) => {
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

  private summary(rate: number, lag: number | undefined, tag = "[SUMMARY]"): void {
    const s = this.stats;
    out(
      `${tag} ingested=${s.ingested} duplicates=${s.duplicates} dead_lettered=${s.deadLettered}` +
        ` already_applied=${s.alreadyApplied} rate=${rate.toFixed(1)} events/s` +
        ` lag=${lag ?? "?"}`,
    );
  }

  /** Messages not yet applied on the partitions assigned to this member (undefined before the join). */
  private async lag(): Promise<number | undefined> {
    const assigned = this.assigned;
    if (!assigned) return undefined;
    const { admin, db, topic, group } = this.parts;
    const [marks, committed, stored] = await Promise.all([
      admin.watermarks(topic),
      admin.groupOffsets(group, topic),
      storedOffsets(db, group, topic),
    ]);
    let lag = 0n;
    for (const mark of marks) {
      if (!assigned.includes(mark.partition)) continue;
      let position = mark.low;
      const candidates = [committed.get(mark.partition), toBigInt(stored.get(mark.partition))];
      for (const c of candidates) if (c !== undefined && c > position) position = c;
      if (mark.high > position) lag += mark.high - position;
    }
    return Number(lag);
  }

  /** Finishes once no batch ran and the lag stayed zero for `idleMs`. */
  private watchIdle(idleMs: number, timers: ReturnType<typeof setInterval>[]): void {
    let zeroSince: number | undefined;
    let checking = false;
    timers.push(setInterval(async () => {
      if (checking || this.stopping) return;
      checking = true;
      try {
        const lag = this.inFlight ? undefined : await this.lag();
        const now = Date.now();
        if (lag !== 0 || this.inFlight) {
          zeroSince = undefined;
        } else {
          zeroSince = Math.max(zeroSince ?? now, this.busy?.to ?? 0);
          if (now - zeroSince >= idleMs) this.finish();
        }
      } catch (error) {
        warn(`Cannot measure the lag: ${errorText(error)}`);
      } finally {
        checking = false;
      }
    }, Math.min(250, idleMs)));
  }

  private async handleBatch(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    if (this.stopping || !payload.isRunning() || payload.isStale()) return;
    let messages = batch.messages;
    if (this.options.maxEvents !== undefined) {
      const left = this.options.maxEvents - this.stats.messages;
      if (left <= 0) return;
      messages = messages.slice(0, left);
    }
    if (!messages.length) return;
    this.inFlight++;
    this.busy ??= { from: Date.now(), to: Date.now() };
    try {
      await this.applyBatch(batch.topic, batch.partition, messages, payload);
    } catch (error) {
      if (!(error instanceof Abandoned)) throw error;
      log(
        `Abandoned batch of partition ${batch.partition} at offset ${messages[0].offset}: ` +
          `${error.message}; it will be redelivered`,
      );
      return;
    } finally {
      this.inFlight--;
      this.busy.to = Date.now();
    }
    if (this.options.maxEvents !== undefined && this.stats.messages >= this.options.maxEvents) {
      this.finish();
    }
  }

  private async applyBatch(
    topic: string,
    partition: number,
    messages: KafkaMessage[],
    payload: EachBatchPayload,
  ): Promise<void> {
    const { db, model, producer, group } = this.parts;
    const startedAt = Date.now();
    const spent = { validate: 0, model: 0, db: 0, kafka: 0 };
    let clock = performance.now();
    /** Adds the time since the last lap to `stage`. */
    const lap = (stage: keyof typeof spent) => {
      const at = performance.now();
      spent[stage] += at - clock;
      clock = at;
    };
    const now = new Date();
    const last = messages[messages.length - 1];
    const nextOffset = (BigInt(last.offset) + 1n).toString();

    // Validation is pure: done once, outside the retried part.
    const checked = messages.map((message) => ({
      message,
      result: validateMessage(message.value, this.config, now),
    }));
    lap("validate");
    const sentToDlq = new Set<string>();
    let outcome: BatchOutcome | undefined;

    await this.retrying(
      payload,
      `partition ${partition} offsets ${messages[0].offset}..${last.offset}`,
      async () => {
        clock = performance.now();
        let next = (await storedOffsets(db, group, topic)).get(partition);
        lap("db");
        if (next !== undefined && this.staleStored.get(partition) === next) next = undefined;
        const stored = toBigInt(next);
        const fresh = stored === undefined
          ? checked
          : checked.filter(({ message }) => BigInt(message.offset) >= stored);
        const alreadyApplied = checked.length - fresh.length;
        const letters: DeadLetter[] = [];
        const accepted: Accepted[] = [];
        for (const { message, result } of fresh) {
          if (result.ok) {
            accepted.push({
              event: result.event,
              extraFields: result.extraFields,
              id: String(result.event.event_id),
              offset: message.offset,
            });
          } else letters.push({ message, reason: result.reason, field: result.field });
        }
        const { unique, repeated } = dedupInBatch(accepted, this.config.consumer.duplicates);

        if (!fresh.length) {
          outcome = {
            alreadyApplied,
            letters,
            unique,
            repeated,
            inserted: [],
            probabilities: new Float64Array(0),
          };
          return;
        }
        lap("validate");
        // The dead letters must be acknowledged before the offsets that skip them are recorded.
        const unsent = letters.filter((l) => !sentToDlq.has(l.message.offset));
        await sendDeadLetters(kafkaProducerOf(producer), {
          deadLetterTopic: this.parts.deadLetterTopic,
          deadLetterPartitions: this.parts.deadLetterPartitions,
          source: { topic, partition },
          letters: unsent,
          time: new Date(),
        });
        for (const l of unsent) sentToDlq.add(l.message.offset);
        await this.beat(payload);
        lap("kafka");

        const events = unique.map((a) => a.event);
        const probabilities = events.length ? await model.predict(events) : new Float64Array(0);
        lap("model");
        await this.beat(payload);
        lap("kafka");
        const result = await ingestBatch(db, {
          events,
          extraFields: unique.map((a) => a.extraFields),
          probabilities,
          modelVersion: model.version,
          offsets: [{ topic, partition, nextOffset }],
          sources: unique.map((a) => ({ topic, partition, offset: a.offset })),
          consumerGroup: group,
          duplicates: this.config.consumer.duplicates,
        });
        lap("db");
        outcome = {
          alreadyApplied,
          letters,
          unique,
          repeated,
          inserted: result.inserted,
          probabilities,
        };
      },
    );

    const committedAt = Date.now();
    payload.resolveOffset(last.offset);
    // The database holds the truth; the Kafka commit only saves redelivering work.
    if (payload.isRunning() && !payload.isStale()) {
      await payload.commitOffsetsIfNecessary({
        topics: [{ topic, partitions: [{ partition, offset: nextOffset }] }],
      }).catch((error) =>
        warn(`Cannot commit offset ${nextOffset} of partition ${partition}: ${errorText(error)}`)
      );
      lap("kafka");
    }
    this.report(partition, messages, outcome!);
    this.options.onBatch?.({ partition, messages, startedAt, committedAt, ms: spent });
  }

  /** Counts a committed batch and prints its per-event lines in one write. */
  private report(partition: number, messages: KafkaMessage[], o: BatchOutcome): void {
    const inserted = new Set(o.inserted);
    const update = this.config.consumer.duplicates === "update";
    const lines: string[] = [];
    if (o.alreadyApplied) {
      lines.push(
        `[SKIP] partition=${partition} offsets=${messages[0].offset}..` +
          `${messages[o.alreadyApplied - 1].offset} already applied`,
      );
    }
    for (const [i, a] of o.unique.entries()) {
      const proba = o.probabilities[i].toFixed(3);
      if (inserted.has(a.id)) lines.push(`[OK] event_id=${a.id} ingested | return_proba=${proba}`);
      else if (update) {
        lines.push(`[OK] event_id=${a.id} updated (duplicate) | return_proba=${proba}`);
      } else lines.push(`[SKIP] event_id=${a.id} duplicate`);
    }
    for (const a of o.repeated) lines.push(`[SKIP] event_id=${a.id} duplicate (within batch)`);
    for (const l of o.letters) {
      lines.push(
        `[DLQ] offset=${l.message.offset} partition=${partition}` +
          `${l.field ? ` field=${l.field}` : ""} reason=${l.reason}`,
      );
    }
    const duplicates = o.unique.length - o.inserted.length + o.repeated.length;
    this.stats.ingested += o.inserted.length;
    this.stats.duplicates += duplicates;
    this.stats.deadLettered += o.letters.length;
    this.stats.alreadyApplied += o.alreadyApplied;
    this.stats.messages += messages.length;
    if (this.logEvents && lines.length) out(lines.join("\n"));
  }

  /**
   * Runs `attempt` until it succeeds, with backoff, heartbeating meanwhile. Gives up
   * (Abandoned: nothing committed) when stopping or when the partition was revoked.
   */
  private async retrying(
    payload: EachBatchPayload,
    what: string,
    attempt: () => Promise<void>,
  ): Promise<void> {
    let delay = 250;
    for (let n = 1;; n++) {
      try {
        await attempt();
        return;
      } catch (error) {
        if (error instanceof Abandoned) throw error;
        warn(
          `Cannot apply batch (${what}), attempt ${n}: ${
            errorText(error)
          }; retrying in ${delay} ms`,
        );
      }
      const until = Date.now() + delay;
      while (Date.now() < until) {
        await this.beat(payload);
        await sleep(Math.min(500, until - Date.now()));
      }
      this.checkOwned(payload);
      delay = Math.min(delay * 2, 10_000);
    }
  }

  /** Heartbeats (the client sends one only when due) and gives up if the partition was lost. */
  private async beat(payload: EachBatchPayload): Promise<void> {
    this.checkOwned(payload);
    try {
      await payload.heartbeat();
    } catch (error) {
      throw new Abandoned(`the group is rebalancing (${errorText(error)})`);
    }
  }

  private checkOwned(payload: EachBatchPayload): void {
    if (this.stopping) throw new Abandoned("the consumer is stopping");
    if (!payload.isRunning() || payload.isStale()) {
      throw new Abandoned("the partition is no longer assigned to this consumer");
    }
  }
}

interface Accepted {
  event: ValidEvent;
  extraFields: string | null;
  id: string;
  offset: string;
}

interface BatchOutcome {
  alreadyApplied: number;
  letters: DeadLetter[];
  unique: Accepted[];
  repeated: Accepted[];
  inserted: readonly string[];
  probabilities: Float64Array;
}

function toBigInt(value: string | undefined): bigint | undefined {
  return value === undefined ? undefined : BigInt(value);
}

/** One line: the message, and the causes' messages where they add something. */
function errorText(error: unknown): string {
  const parts: string[] = [];
  for (let e = error, depth = 0; e !== undefined && depth < 4; depth++) {
    // drizzle's "Failed query: <sql> params: ..." says less than the driver error it wraps.
    const message = (e instanceof Error ? e.message : String(e))
      .replace(/:?\s*Failed query:[\s\S]*$/, "").trim();
    if (message && !parts.some((p) => p.includes(message))) parts.push(message);
    e = e instanceof Error ? e.cause : undefined;
  }
  // Driver messages may echo a connection string.
  return parts.join(": ").replace(/\s*\n\s*/g, " ")
    .replace(/\/\/([^:/@\s]*):[^@\s]*@/g, "//$1:****@");
}
