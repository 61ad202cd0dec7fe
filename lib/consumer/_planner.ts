/**
 * The consumer's decisions for one batch, without any I/O: which records were applied
 * already, which go to the dead-letter topic and why, which events are written (one per
 * event_id), and the offset the batch moves the partition to.
 */
import type { PipelineConfig } from "../config/mod.ts";
import { dedupInBatch, type OrderEvent, validateMessage, type ValidEvent } from "../events/mod.ts";
import type { DeadLetter, KafkaRecord } from "../kafka/mod.ts";

export type { DeadLetter };

/** A record and what validation made of it: done once per batch, outside any retry. */
export type Checked =
  | {
    readonly record: KafkaRecord;
    readonly ok: true;
    readonly event: OrderEvent;
    readonly features: ValidEvent;
    readonly extraFields: string | null;
  }
  | {
    readonly record: KafkaRecord;
    readonly ok: false;
    readonly reason: string;
    readonly field?: string;
  };

/** One event to write, with the record it came from. */
export interface PlannedEvent {
  readonly id: string;
  readonly offset: bigint;
  /** What the database stores. */
  readonly event: OrderEvent;
  /** What the model scores: every declared field, defaults applied. */
  readonly features: ValidEvent;
  readonly extraFields: string | null;
}

/** What to do with one batch, given the offset the database says comes next. */
export interface Plan {
  /** Leading records below the stored offset: their effects are in the database already. */
  readonly alreadyApplied: readonly KafkaRecord[];
  /** To be acknowledged by the dead-letter topic before `nextOffset` is stored. */
  readonly deadLetters: readonly DeadLetter[];
  /** One per event_id: its first record (duplicates: skip) or its last (update). */
  readonly events: readonly PlannedEvent[];
  /** The other records of an event_id that appears more than once in the batch. */
  readonly repeats: readonly PlannedEvent[];
  /** The partition's next offset once this batch is stored: the last record's plus one. */
  readonly nextOffset: bigint;
}

/** Validates every record of a batch; `now` is the default of `datetime: now` fields. */
export function checkRecords(
  records: readonly KafkaRecord[],
  config: Pick<PipelineConfig, "consumer" | "events"> & {
    readonly database?: Pick<PipelineConfig["database"], "keyType">;
  },
  now: Date,
): Checked[] {
  return records.map((record) => {
    const result = validateMessage(record.value, config, now);
    return result.ok
      ? {
        record,
        ok: true,
        event: result.event,
        features: result.features,
        extraFields: result.extraFields,
      }
      : { record, ok: false, reason: result.reason, field: result.field };
  });
}

/**
 * Plans a checked batch (non-empty, consecutive offsets). `stored` is the next offset the
 * database holds for the partition (undefined when none): records below it were applied.
 */
export function planBatch(
  checked: readonly Checked[],
  stored: bigint | undefined,
  duplicates: "skip" | "update",
): Plan {
  if (!checked.length) throw new RangeError("planBatch needs at least one record");
  const fresh = stored === undefined ? checked : checked.filter((c) => c.record.offset >= stored);
  const alreadyApplied = checked.slice(0, checked.length - fresh.length).map((c) => c.record);
  const deadLetters: DeadLetter[] = [];
  const accepted: PlannedEvent[] = [];
  for (const c of fresh) {
    if (c.ok) {
      accepted.push({
        id: c.event.event_id,
        offset: c.record.offset,
        event: c.event,
        features: c.features,
        extraFields: c.extraFields,
      });
    } else deadLetters.push({ record: c.record, reason: c.reason, field: c.field });
  }
  const { unique, repeated } = dedupInBatch(accepted, duplicates);
  return {
    alreadyApplied,
    deadLetters,
    events: unique,
    repeats: repeated,
    nextOffset: checked[checked.length - 1].record.offset + 1n,
  };
}

/**
 * The stored offset to plan with: one found beyond its partition's end when the consumer
 * started (`stale`) was left by a topic since deleted and re-created, and trusting it would
 * skip the new records as applied; it counts as absent until a batch overwrites it.
 */
export function trustedOffset(
  stored: bigint | undefined,
  stale: bigint | undefined,
): bigint | undefined {
  return stored !== undefined && stored === stale ? undefined : stored;
}

/** Whether a plan has anything left to write (else the batch was applied before). */
export function hasWork(plan: Plan): boolean {
  return plan.deadLetters.length > 0 || plan.events.length > 0;
}
