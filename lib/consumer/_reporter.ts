/** Counting applied batches and the guide's per-event, summary and final events. */
import type { ConsumerEvent } from "../log/mod.ts";
import type { Applied } from "./_applier.ts";

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

export function emptyStats(): ConsumeStats {
  return {
    ingested: 0,
    duplicates: 0,
    deadLettered: 0,
    alreadyApplied: 0,
    messages: 0,
    elapsedMs: 0,
  };
}

/** Adds an applied batch of `messages` records to the counters. */
export function count(stats: ConsumeStats, applied: Applied, messages: number): void {
  const { plan, inserted } = applied;
  stats.ingested += inserted.length;
  stats.duplicates += plan.events.length - inserted.length + plan.repeats.length;
  stats.deadLettered += plan.deadLetters.length;
  stats.alreadyApplied += plan.alreadyApplied.length;
  stats.messages += messages;
}

/** The [OK] / [SKIP] / [DLQ] events of an applied batch, in batch order. */
export function batchEvents(
  partition: number,
  applied: Applied,
  duplicates: "skip" | "update",
): ConsumerEvent[] {
  const { plan, probabilities } = applied;
  const inserted = new Set(applied.inserted);
  const list: ConsumerEvent[] = [];
  const skipped = plan.alreadyApplied;
  if (skipped.length) {
    list.push({
      kind: "already_applied",
      partition,
      fromOffset: String(skipped[0].offset),
      toOffset: String(skipped[skipped.length - 1].offset),
    });
  }
  for (const [i, e] of plan.events.entries()) {
    const returnProba = probabilities[i];
    if (inserted.has(e.id)) list.push({ kind: "ingested", eventId: e.id, returnProba });
    else if (duplicates === "update") list.push({ kind: "updated", eventId: e.id, returnProba });
    else list.push({ kind: "duplicate", eventId: e.id });
  }
  for (const e of plan.repeats) list.push({ kind: "duplicate_in_batch", eventId: e.id });
  for (const l of plan.deadLetters) {
    list.push({
      kind: "dead_letter",
      partition,
      offset: String(l.record.offset),
      field: l.field || undefined,
      reason: l.reason,
    });
  }
  return list;
}

/** The `[SUMMARY]` event (or `[DONE]` at the end). */
export function summaryEvent(
  stats: ConsumeStats,
  rate: number,
  lag: number | undefined,
  final = false,
): ConsumerEvent {
  return {
    kind: "summary",
    final,
    ingested: stats.ingested,
    duplicates: stats.duplicates,
    deadLettered: stats.deadLettered,
    alreadyApplied: stats.alreadyApplied,
    rate,
    lag,
  };
}
