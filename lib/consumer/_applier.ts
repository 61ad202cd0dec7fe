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
  readonly onRetry: (error: unknown, attempt: number, delayMs: number) => void;
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

/**
 * Plans against the stored offset and applies the plan, retrying the whole attempt after any
 * failure (with backoff, heartbeating meanwhile). Throws Revoked when the partition is lost
 * or the consumer stops: nothing of this batch was committed then.
 */
export async function applyBatch(
  checked: readonly Checked[],
  ports: Ports,
  options: { duplicates: "skip" | "update"; validateMs?: number },
): Promise<Applied> {
  const ms: StageTimes = { validate: options.validateMs ?? 0, model: 0, db: 0, kafka: 0 };
  let clock = performance.now();
  const lap = (stage: keyof StageTimes) => {
    const at = performance.now();
    ms[stage] += at - clock;
    clock = at;
  };
  // Dead letters acknowledged by an attempt that failed later are not sent again.
  const sent = new Set<bigint>();

  return await retry(async () => {
    clock = performance.now();
    const stored = await ports.store.storedOffset();
    lap("db");
    const plan = planBatch(checked, stored, options.duplicates);
    lap("validate");
    if (!hasWork(plan)) return { plan, inserted: [], probabilities: new Float64Array(0), ms };

    const unsent = plan.deadLetters.filter((l) => !sent.has(l.record.offset));
    if (unsent.length) await ports.deadLetters.send(unsent);
    for (const l of unsent) sent.add(l.record.offset);
    await ports.keepAlive();
    lap("kafka");

    const probabilities = plan.events.length
      ? await ports.scorer.predict(plan.events.map((e) => e.event))
      : new Float64Array(0);
    lap("model");
    await ports.keepAlive();
    lap("kafka");

    const { inserted } = await ports.store.write({
      events: plan.events,
      probabilities,
      modelVersion: ports.scorer.version,
      nextOffset: plan.nextOffset,
    });
    lap("db");
    return { plan, inserted, probabilities, ms };
  }, {
    initialDelayMs: 250,
    maxDelayMs: 10_000,
    retryable: (error) => !(error instanceof Revoked),
    onRetry: ports.onRetry,
    wait: async (delayMs) => {
      const until = Date.now() + delayMs;
      while (Date.now() < until) {
        await ports.keepAlive();
        await sleep(Math.min(KEEP_ALIVE_EVERY_MS, until - Date.now()));
      }
      await ports.keepAlive();
    },
  });
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
