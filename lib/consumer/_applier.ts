/**
 * Applies one planned batch through the consumer's ports: dead letters first (acknowledged
 * before the offsets that skip them are stored), then one model run, then one database
 * transaction holding the rows and the partition's next offset. Retried as a whole until it
 * succeeds or the partition is lost; a lost partition commits nothing.
 */
import { errorText, retry } from "../errors/mod.ts";
import type { ValidEvent } from "../events/mod.ts";
import { Revoked } from "../kafka/mod.ts";
import {
  type Checked,
  type DeadLetter,
  hasWork,
  type Plan,
  planBatch,
  type PlannedEvent,
} from "./_planner.ts";

/** Where dead letters of this batch's partition go. */
export interface DeadLetterPort {
  send(letters: readonly DeadLetter[]): Promise<void>;
}

/** The model that scores the batch. */
export interface ScorerPort {
  readonly version: string;
  predict(events: readonly ValidEvent[]): Promise<Float64Array>;
}

/** The rows and offsets one batch writes, in one transaction. */
export interface BatchWrite {
  readonly events: readonly PlannedEvent[];
  readonly probabilities: Float64Array;
  readonly modelVersion: string;
  readonly nextOffset: bigint;
}

/** The database as the applier uses it, for one partition. */
export interface StorePort {
  /** The next offset stored for the partition, undefined when none (or not to be trusted). */
  storedOffset(): Promise<bigint | undefined>;
  /** Writes the batch; returns the event_ids that were new to the database. */
  write(batch: BatchWrite): Promise<{ readonly inserted: readonly string[] }>;
}

/** The consumer's ports for one batch. */
export interface Ports {
  readonly deadLetters: DeadLetterPort;
  readonly scorer: ScorerPort;
  readonly store: StorePort;
  /** Heartbeats; throws Revoked once the batch may no longer be committed. */
  readonly keepAlive: () => Promise<void>;
  /** Told about each failed attempt before the wait. */
  readonly onRetry: (error: unknown, attempt: number, delayMs: number, stage: Stage) => void;
}

/** Milliseconds spent per stage. */
export interface StageTimes {
  validate: number;
  model: number;
  db: number;
  kafka: number;
}

/** What became of an applied batch. */
export interface Applied {
  readonly plan: Plan;
  /** Event_ids new to the database (the others of plan.events were stored before). */
  readonly inserted: readonly string[];
  /** One per plan.events entry. */
  readonly probabilities: Float64Array;
  readonly ms: StageTimes;
}

/** Heartbeats are due every few seconds: never wait longer than this between two. */
const KEEP_ALIVE_EVERY_MS = 500;

/** Where an attempt failed. */
export type Stage = "dead-letter" | "model" | "database";

/**
 * What a failure means: `transient` ones (a lost connection, a deadlock, a broker moving a
 * leader) go away if the same work runs again later; `permanent` ones (a value the database
 * refuses, a row the model cannot score) never do for the same records.
 */
export type Classify = (error: unknown, stage: Stage) => FailureKind;

/**
 * `replan`: the store refused the batch because its stored offset moved since the plan was
 * made (another consumer applied some of it); planning again against it settles it at once.
 */
export type FailureKind = "transient" | "permanent" | "replan";

/** A failure of one stage, classified; the cause is the port's own error. */
class StageFailure extends Error {
  constructor(readonly stage: Stage, readonly kind: FailureKind, cause: unknown) {
    super(errorText(cause), { cause });
    this.name = "StageFailure";
  }

  get permanent(): boolean {
    return this.kind === "permanent";
  }
}

/**
 * The database's stored offset is below the batch's first record: the records in between
 * were never stored, or their commits were lost (a database restored from a backup, a
 * failover to a replica that lagged, a crash with a relaxed flush setting), while Kafka's
 * committed offset had moved on. Nothing of the batch was written.
 */
export class Behind extends Error {
  constructor(readonly stored: bigint, readonly first: bigint) {
    super(`the database's stored offset ${stored} is below the batch's first record ${first}`);
    this.name = "Behind";
  }
}

/** Plans in a row that a moved offset may cause before it counts as an ordinary failure. */
const MAX_REPLANS = 100;

/**
 * Applies a checked batch exactly once. Transient failures are retried for as long as it
 * takes (with backoff, heartbeating meanwhile). A permanent failure splits the batch in
 * halves, each applied on its own the same way, until the records that fail alone are found:
 * those are dead-lettered with the failure as reason and the rest is stored, so no record
 * stops the partition. Throws Revoked when the partition is lost or the consumer stops:
 * nothing of the part in flight was committed then.
 */
export async function applyBatch(
  checked: readonly Checked[],
  ports: Ports,
  options: {
    duplicates: "skip" | "update";
    validateMs?: number;
    classify?: Classify;
    /**
     * A stored offset below the batch that is accepted as it is (the records below the batch
     * were looked for and are gone); any other one throws Behind.
     */
    acceptBehind?: bigint;
  },
): Promise<Applied> {
  const ms: StageTimes = { validate: options.validateMs ?? 0, model: 0, db: 0, kafka: 0 };
  const classify = options.classify ?? (() => "transient");
  // Dead letters acknowledged by an attempt that failed later are not sent again.
  const sent = new Set<bigint>();
  const parts: Applied[] = [];
  const pending: (readonly Checked[])[] = [checked];
  const first = checked[0]?.record.offset;
  while (pending.length) {
    const part = pending.shift()!;
    // A part made only of dead letters has nothing to bisect on: its failures can only wait.
    const onlyLetters = part.every((c) => !c.ok);
    try {
      parts.push(
        await applyPart(part, ports, {
          ...options,
          classify: onlyLetters ? () => "transient" : classify,
          ms,
          sent,
          // Only the batch's start can be behind: later parts follow parts just stored.
          first: part[0]?.record.offset === first ? first : undefined,
        }),
      );
    } catch (error) {
      if (!(error instanceof StageFailure) || !error.permanent) throw error;
      if (part.length > 1) {
        const half = Math.ceil(part.length / 2);
        pending.unshift(part.slice(0, half), part.slice(half));
        continue;
      }
      // Alone, it still fails: the record is the poison. It goes to the dead-letter topic.
      const [poison] = part;
      const reason = `${error.stage} rejected the event: ${error.message}`;
      pending.unshift([{ record: poison.record, ok: false, reason }]);
    }
  }
  return merge(parts, ms);
}

/** The applied parts of one batch, in offset order, as one. */
function merge(parts: readonly Applied[], ms: StageTimes): Applied {
  if (parts.length === 1) return parts[0];
  const plans = parts.map((p) => p.plan);
  const probabilities = new Float64Array(parts.reduce((n, p) => n + p.probabilities.length, 0));
  let at = 0;
  for (const p of parts) {
    probabilities.set(p.probabilities, at);
    at += p.probabilities.length;
  }
  return {
    plan: {
      alreadyApplied: plans.flatMap((p) => p.alreadyApplied),
      deadLetters: plans.flatMap((p) => p.deadLetters),
      events: plans.flatMap((p) => p.events),
      repeats: plans.flatMap((p) => p.repeats),
      nextOffset: plans[plans.length - 1].nextOffset,
    },
    inserted: parts.flatMap((p) => p.inserted),
    probabilities,
    ms,
  };
}

/** Plans one part against the stored offset and applies it; retries transient failures. */
async function applyPart(
  checked: readonly Checked[],
  ports: Ports,
  options: {
    duplicates: "skip" | "update";
    classify: Classify;
    ms: StageTimes;
    sent: Set<bigint>;
    first?: bigint;
    acceptBehind?: bigint;
  },
): Promise<Applied> {
  const { ms, sent, classify } = options;
  let clock = performance.now();
  const lap = (stage: keyof StageTimes) => {
    const at = performance.now();
    ms[stage] += at - clock;
    clock = at;
  };
  const step = async <T>(stage: Stage, work: () => Promise<T>): Promise<T> => {
    try {
      return await work();
    } catch (error) {
      if (error instanceof Revoked) throw error;
      throw new StageFailure(stage, classify(error, stage), error);
    }
  };

  let replans = 0;
  const attempt = () =>
    retry(async () => {
      clock = performance.now();
      const stored = await step("database", () => ports.store.storedOffset());
      lap("db");
      if (
        stored !== undefined && options.first !== undefined && stored < options.first &&
        stored !== options.acceptBehind
      ) throw new Behind(stored, options.first);
      const plan = planBatch(checked, stored, options.duplicates);
      lap("validate");
      if (!hasWork(plan)) return { plan, inserted: [], probabilities: new Float64Array(0), ms };

      const unsent = plan.deadLetters.filter((l) => !sent.has(l.record.offset));
      if (unsent.length) await step("dead-letter", () => ports.deadLetters.send(unsent));
      for (const l of unsent) sent.add(l.record.offset);
      await ports.keepAlive();
      lap("kafka");

      const probabilities = plan.events.length
        ? await step("model", () => ports.scorer.predict(plan.events.map((e) => e.features)))
        : new Float64Array(0);
      lap("model");
      await ports.keepAlive();
      lap("kafka");

      const { inserted } = await step("database", () =>
        heartbeating(ports.keepAlive, () =>
          ports.store.write({
            events: plan.events,
            probabilities,
            modelVersion: ports.scorer.version,
            nextOffset: plan.nextOffset,
          })));
      lap("db");
      return { plan, inserted, probabilities, ms };
    }, {
      initialDelayMs: 250,
      maxDelayMs: 10_000,
      retryable: (error) =>
        error instanceof StageFailure &&
        (error.kind === "transient" || (error.kind === "replan" && replans >= MAX_REPLANS)),
      onRetry: (error, attempt, delayMs) => {
        const failure = error as StageFailure;
        ports.onRetry(failure.cause ?? error, attempt, delayMs, failure.stage);
      },
      wait: async (delayMs) => {
        const until = Date.now() + delayMs;
        while (Date.now() < until) {
          await ports.keepAlive();
          await sleep(Math.min(KEEP_ALIVE_EVERY_MS, until - Date.now()));
        }
        await ports.keepAlive();
      },
    });
  for (;;) {
    try {
      return await attempt();
    } catch (error) {
      if (!(error instanceof StageFailure) || error.kind !== "replan" || replans >= MAX_REPLANS) {
        throw error;
      }
      replans++;
    }
  }
}

/**
 * Runs `work` heartbeating meanwhile. Once the tables outgrow the server's memory one
 * transaction can outlast the session timeout; without heartbeats the group would take the
 * partition away and the batch would be fetched and handled again. A heartbeat that fails
 * here changes nothing: the transaction's fence decides whether the batch is written.
 */
async function heartbeating<T>(keepAlive: () => Promise<void>, work: () => Promise<T>): Promise<T> {
  const timer = setInterval(() => keepAlive().catch(() => {}), KEEP_ALIVE_EVERY_MS);
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

/** The warning for a failed attempt, naming the partition and offsets. */
export function retryWarning(
  where: { partition: number; first: bigint; last: bigint },
  error: unknown,
  attempt: number,
  delayMs: number,
): string {
  return `Cannot apply batch (partition ${where.partition} offsets ${where.first}..${where.last}),` +
    ` attempt ${attempt}: ${errorText(error)}; retrying in ${delayMs} ms`;
}
